-- SqliteTrackerStore tables. {p} is the table prefix (default "tally_"). Idempotent.
CREATE TABLE IF NOT EXISTS {p}tracker_groups (
  group_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS {p}trackers (
  group_id TEXT NOT NULL,
  name TEXT NOT NULL,
  seq INTEGER NOT NULL,
  expires_at INTEGER,
  doc TEXT NOT NULL,
  PRIMARY KEY (group_id, name)
);
CREATE INDEX IF NOT EXISTS {p}trackers_expiry ON {p}trackers (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS {p}tracker_event_ids (
  group_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  applied_at INTEGER NOT NULL,
  PRIMARY KEY (group_id, event_id)
);
CREATE INDEX IF NOT EXISTS {p}tracker_event_ids_at ON {p}tracker_event_ids (group_id, applied_at);
