-- tally meter on PostgreSQL (rollups, markers, interval state, leases, definitions, watermarks and
-- the optional stream queue). {{p}} is the table prefix (default tally_meter). Every statement is
-- idempotent, so installing again is harmless; `tally postgres install` runs it under an advisory lock.

CREATE TABLE IF NOT EXISTS {{p}}_meta (
  key text PRIMARY KEY,
  value text NOT NULL
);

-- One row per (tier, bucket, index value set). Counters are nullable so a damaged value reads as 0.
CREATE TABLE IF NOT EXISTS {{p}}_rollups (
  namespace text NOT NULL,
  event text NOT NULL,
  version integer NOT NULL,
  tier text NOT NULL,
  index_name text NOT NULL,
  index_key text NOT NULL,
  bucket_start bigint NOT NULL,
  count bigint DEFAULT 0,
  success_count bigint DEFAULT 0,
  failure_count bigint DEFAULT 0,
  skipped_count bigint DEFAULT 0,
  started_at_min bigint,
  started_at_max bigint,
  duration_ms_count bigint DEFAULT 0,
  duration_ms_sum bigint DEFAULT 0,
  duration_ms_min bigint,
  duration_ms_max bigint,
  duration_ms_hist jsonb DEFAULT '{}'::jsonb,
  interval_ms_count bigint DEFAULT 0,
  interval_ms_sum bigint DEFAULT 0,
  interval_ms_min bigint,
  interval_ms_max bigint,
  interval_ms_hist jsonb DEFAULT '{}'::jsonb,
  PRIMARY KEY (namespace, event, version, tier, index_name, index_key, bucket_start)
);

-- Breakdown reads every index value set of one index at a few bucket starts.
CREATE INDEX IF NOT EXISTS {{p}}_rollups_by_index
  ON {{p}}_rollups (namespace, event, version, tier, index_name, bucket_start);

-- The processed-entry gate: one high-water seq per stream unit, stamped with the commit time (ms).
CREATE TABLE IF NOT EXISTS {{p}}_markers (
  namespace text NOT NULL,
  event text NOT NULL,
  version integer NOT NULL,
  unit text NOT NULL,
  high_seq bigint NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (namespace, event, version, unit)
);

-- The last start (ms) per interval identity; only ever raised.
CREATE TABLE IF NOT EXISTS {{p}}_state (
  namespace text NOT NULL,
  event text NOT NULL,
  version integer NOT NULL,
  param text NOT NULL,
  value text NOT NULL,
  last_ms bigint NOT NULL,
  PRIMARY KEY (namespace, event, version, param, value)
);

-- Leases expire by the database clock; the fence only ever grows, so a released lease keeps its row.
CREATE TABLE IF NOT EXISTS {{p}}_leases (
  key text PRIMARY KEY,
  token text,
  fence bigint NOT NULL DEFAULT 0,
  expires_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS {{p}}_definitions (
  namespace text NOT NULL,
  event text NOT NULL,
  version integer NOT NULL,
  definition text NOT NULL,
  fingerprint text NOT NULL,
  PRIMARY KEY (namespace, event, version)
);

CREATE TABLE IF NOT EXISTS {{p}}_watermarks (
  key text PRIMARY KEY,
  ms bigint NOT NULL
);

-- PostgresStream: a queue claimed with FOR UPDATE SKIP LOCKED; a claim expires by the database clock.
CREATE TABLE IF NOT EXISTS {{p}}_stream (
  id bigserial PRIMARY KEY,
  namespace text NOT NULL,
  name text NOT NULL,
  payload text NOT NULL,
  claimed_by text,
  claimed_until timestamptz
);

-- Two partial indexes keep both reads short however long the queue: claimed rows (in flight or
-- given back) are few, and never-claimed rows are read in id order from the front.
CREATE INDEX IF NOT EXISTS {{p}}_stream_claimed ON {{p}}_stream (namespace, name, id) WHERE claimed_until IS NOT NULL;
CREATE INDEX IF NOT EXISTS {{p}}_stream_fresh ON {{p}}_stream (namespace, name, id) WHERE claimed_until IS NULL;

-- Adds two sparse histograms {"bucket": count}. A damaged stored value counts as 0, so a commit
-- never fails on it (reads ignore bad keys).
CREATE OR REPLACE FUNCTION {{p}}_hist_add(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT COALESCE(jsonb_object_agg(k, n), '{}'::jsonb)
  FROM (
    SELECT k, sum(n) AS n
    FROM (
      SELECT e.key AS k,
             CASE
               WHEN jsonb_typeof(e.value) = 'number' THEN floor((e.value #>> '{}')::numeric)
               WHEN jsonb_typeof(e.value) = 'string' AND (e.value #>> '{}') ~ '^[0-9]{1,18}$' THEN (e.value #>> '{}')::numeric
               ELSE 0
             END AS n
      FROM jsonb_each(CASE WHEN jsonb_typeof(a) = 'object' THEN a ELSE '{}'::jsonb END) AS e
      UNION ALL
      SELECT e.key, (e.value #>> '{}')::numeric
      FROM jsonb_each(b) AS e
    ) AS parts
    GROUP BY k
  ) AS sums
$$;

INSERT INTO {{p}}_meta (key, value) VALUES ('schema_version', '1') ON CONFLICT (key) DO NOTHING;
