-- tally meter rollups on SQLite. {{p}} is the table prefix (default tally_meter).
CREATE TABLE IF NOT EXISTS {{p}}_rollups (
  namespace TEXT NOT NULL,
  event TEXT NOT NULL,
  version INTEGER NOT NULL,
  tier TEXT NOT NULL,
  index_name TEXT NOT NULL,
  index_key TEXT NOT NULL,
  bucket_start INTEGER NOT NULL,
  count INTEGER NOT NULL DEFAULT 0,
  success_count INTEGER NOT NULL DEFAULT 0,
  failure_count INTEGER NOT NULL DEFAULT 0,
  skipped_count INTEGER NOT NULL DEFAULT 0,
  started_at_min INTEGER,
  started_at_max INTEGER,
  duration_ms_count INTEGER NOT NULL DEFAULT 0,
  duration_ms_sum INTEGER NOT NULL DEFAULT 0,
  duration_ms_min INTEGER,
  duration_ms_max INTEGER,
  duration_ms_hist TEXT NOT NULL DEFAULT '{}',
  interval_ms_count INTEGER NOT NULL DEFAULT 0,
  interval_ms_sum INTEGER NOT NULL DEFAULT 0,
  interval_ms_min INTEGER,
  interval_ms_max INTEGER,
  interval_ms_hist TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (namespace, event, version, tier, index_key, bucket_start)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS {{p}}_rollups_by_index
  ON {{p}}_rollups (namespace, event, version, tier, index_name, bucket_start);

CREATE TABLE IF NOT EXISTS {{p}}_markers (
  namespace TEXT NOT NULL,
  event TEXT NOT NULL,
  version INTEGER NOT NULL,
  unit TEXT NOT NULL,
  high_seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (namespace, event, version, unit)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS {{p}}_state (
  namespace TEXT NOT NULL,
  event TEXT NOT NULL,
  version INTEGER NOT NULL,
  param TEXT NOT NULL,
  value TEXT NOT NULL,
  last_ms INTEGER NOT NULL,
  PRIMARY KEY (namespace, event, version, param, value)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS {{p}}_leases (
  key TEXT PRIMARY KEY,
  token TEXT,
  fence INTEGER NOT NULL DEFAULT 0,
  expires_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS {{p}}_definitions (
  namespace TEXT NOT NULL,
  event TEXT NOT NULL,
  version INTEGER NOT NULL,
  definition TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  PRIMARY KEY (namespace, event, version)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS {{p}}_watermarks (
  key TEXT PRIMARY KEY,
  ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS {{p}}_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
