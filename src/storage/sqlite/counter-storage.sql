-- One row per key of an EventStore (tally counter persistence). {{table}} is replaced by the
-- table name (a plain identifier checked by SqliteStorage). WITHOUT ROWID: the key is the row.
CREATE TABLE IF NOT EXISTS {{table}} (
  key TEXT PRIMARY KEY,
  value BLOB NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
