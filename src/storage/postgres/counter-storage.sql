-- tally counter persistence: one row per (namespace, key). {{table}} is replaced by the table name
-- (a plain, optionally schema-qualified identifier checked by PostgresStorage). Idempotent.
CREATE TABLE IF NOT EXISTS {{table}} (
  namespace text NOT NULL,
  key text NOT NULL,
  value bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (namespace, key)
);
