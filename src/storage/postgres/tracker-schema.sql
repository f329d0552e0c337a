-- PostgresTrackerStore tables. {s} is the schema qualifier ("name". or empty for search_path).
-- Idempotent; run by store.migrate() under an advisory lock. Times are epoch ms.
CREATE TABLE IF NOT EXISTS {s}tracker_groups (
  group_id text PRIMARY KEY,
  version bigint NOT NULL DEFAULT 0,
  next_seq bigint NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS {s}trackers (
  group_id text NOT NULL,
  name text NOT NULL,
  seq bigint NOT NULL,
  type text NOT NULL,
  schema_version integer NOT NULL,
  definition jsonb NOT NULL,
  state jsonb NOT NULL,
  progress double precision,
  current_stage integer,
  limited boolean,
  completed_at double precision,
  expires_at double precision,
  version bigint NOT NULL,
  created_at double precision NOT NULL,
  updated_at double precision NOT NULL,
  PRIMARY KEY (group_id, name)
);
CREATE INDEX IF NOT EXISTS trackers_expires_at_idx ON {s}trackers (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS trackers_active_idx ON {s}trackers (group_id, seq) WHERE completed_at IS NULL;
CREATE TABLE IF NOT EXISTS {s}tracker_event_ids (
  group_id text NOT NULL,
  event_id text NOT NULL,
  applied_at double precision NOT NULL,
  PRIMARY KEY (group_id, event_id)
);
CREATE INDEX IF NOT EXISTS tracker_event_ids_applied_idx ON {s}tracker_event_ids (group_id, applied_at);
