-- tally meter on PostgreSQL (rollups, markers, interval state, leases, definitions, watermarks and
-- the optional stream queue). {{p}} is the table prefix (default tally_meter). Every statement is
-- idempotent, so installing again is harmless; `tally postgres install` runs it under an advisory lock.
-- Installing over schema version 1 or 2 upgrades it to 3 (versions 2 and 3 only add functions and
-- replace {{p}}_hist_add; the tables are unchanged).
--
-- Key columns use COLLATE "C": keys are compared byte-wise (they are ids, not prose), which keeps
-- primary-key lookups cheap in databases whose default collation is a locale.

CREATE TABLE IF NOT EXISTS {{p}}_meta (
  key text PRIMARY KEY,
  value text NOT NULL
);

-- One row per (tier, bucket, index value set). Counters are nullable so a damaged value reads as 0.
-- Hour and day rows are rewritten by every commit: free space on each page (fillfactor) lets
-- PostgreSQL keep the new version on the same page without touching the indexes (HOT updates).
CREATE TABLE IF NOT EXISTS {{p}}_rollups (
  namespace text COLLATE "C" NOT NULL,
  event text COLLATE "C" NOT NULL,
  version integer NOT NULL,
  tier text COLLATE "C" NOT NULL,
  index_name text COLLATE "C" NOT NULL,
  index_key text COLLATE "C" NOT NULL,
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
) WITH (fillfactor = 70);

-- Breakdown reads every index value set of one index at a few bucket starts.
CREATE INDEX IF NOT EXISTS {{p}}_rollups_by_index
  ON {{p}}_rollups (namespace, event, version, tier, index_name, bucket_start);

-- The processed-entry gate: one high-water seq per stream unit, stamped with the commit time (ms).
CREATE TABLE IF NOT EXISTS {{p}}_markers (
  namespace text COLLATE "C" NOT NULL,
  event text COLLATE "C" NOT NULL,
  version integer NOT NULL,
  unit text COLLATE "C" NOT NULL,
  high_seq bigint NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (namespace, event, version, unit)
);

-- The last start (ms) per interval identity; only ever raised.
CREATE TABLE IF NOT EXISTS {{p}}_state (
  namespace text COLLATE "C" NOT NULL,
  event text COLLATE "C" NOT NULL,
  version integer NOT NULL,
  param text COLLATE "C" NOT NULL,
  value text COLLATE "C" NOT NULL,
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
  namespace text COLLATE "C" NOT NULL,
  event text COLLATE "C" NOT NULL,
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
  namespace text COLLATE "C" NOT NULL,
  name text NOT NULL,
  payload text NOT NULL,
  claimed_by text,
  claimed_until timestamptz
);

-- Two partial indexes keep both reads short however long the queue: claimed rows (in flight or
-- given back) are few, and never-claimed rows are read in id order from the front.
CREATE INDEX IF NOT EXISTS {{p}}_stream_claimed ON {{p}}_stream (namespace, name, id) WHERE claimed_until IS NOT NULL;
CREATE INDEX IF NOT EXISTS {{p}}_stream_fresh ON {{p}}_stream (namespace, name, id) WHERE claimed_until IS NULL;

-- Adds the sparse histogram b {"bucket": count} (written by tally, always well formed) into the
-- stored a. Only b's buckets are looked up in a and the sums laid over a with one `||`, so the cost
-- follows the delta, not the stored histogram. A damaged stored count counts as 0 and a stored
-- value that is not an object as {}, so a commit never fails on it (reads ignore bad keys).
CREATE OR REPLACE FUNCTION {{p}}_hist_add(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(a) = 'object' THEN a ELSE '{}'::jsonb END || COALESCE((
    SELECT jsonb_object_agg(e.key, e.value::numeric + COALESCE(CASE jsonb_typeof(a -> e.key)
      WHEN 'number' THEN floor((a -> e.key)::numeric)
      WHEN 'string' THEN CASE WHEN (a ->> e.key) ~ '^[0-9]{1,18}$' THEN (a ->> e.key)::numeric END
    END, 0))
    FROM jsonb_each(b) AS e
  ), '{}'::jsonb)
$$;

-- PostgresRollups.commit in one statement (so one round trip and one implicit transaction):
--   1. the fence: the lease must still hold (token, fence) unexpired by now(); FOR SHARE makes a
--      takeover wait until this commit ends. Lost -> status -1, nothing written.
--   2. the marker compare-and-set: fresh units (expected 0) are inserted, others moved from their
--      expected high-water. A short count rolls the markers back (the inner block is a
--      subtransaction) -> status 0 and the conflicting units, nothing written.
--   3. the rollups: counts add and min/max compare. Every row goes through INSERT ... ON CONFLICT,
--      so each is one probe of the primary key whatever the planner believes about the table (a
--      join to the batch could scan the whole table when its statistics are stale).
--      Histograms: adding sparse jsonb in SQL ({{p}}_hist_add) is by far the costliest part of a
--      commit, so the caller remembers the histograms of the row versions it wrote:
--      a. rows it knows (r_known): r_duration is [xid8 of the transaction that wrote the version
--         it knows, the new absolute counts of the duration delta's buckets], r_interval the new
--         interval counts (NULL: none). The totals are laid over the stored histograms with `||`,
--         only where the row's xmin is still that transaction. If any known row changed since
--         (the WHERE skips it) or vanished (then it was inserted holding the [xid, totals] array,
--         which no merged row ever holds), the commit raises TL410 and writes nothing, and the
--         caller sends it again with those rows unknown. An xid older than a billion
--         transactions never matches, so a 32-bit xmin cannot meet a wrapped-around id.
--      b. other rows: r_duration/r_interval are the deltas (NULL: empty). New buckets are
--         inserted (ON CONFLICT DO NOTHING); the rest have the deltas added by {{p}}_hist_add,
--         and `merged` returns their keys and histograms ([["<tier>|<start>|<index_key>",
--         duration, interval], ...]) so the caller knows them from now on.
--      So a concurrent writer is never overwritten, and the known path is one jsonb
--      concatenation. `written` is this transaction's xid8: the version of every row written.
--   4. interval state, raised with GREATEST -> status 1.
-- Arrays are column-wise, one element per row, in primary-key order so concurrent commits lock rows
-- in the same order.
-- Version 2's {{p}}_commit (another signature) is left in place: processes of the previous build
-- keep committing through it during a rolling upgrade, and both stay exact side by side (each
-- sees the other's writes as a changed xmin and merges those rows in SQL).
CREATE OR REPLACE FUNCTION {{p}}_commit(
  p_namespace text, p_event text, p_version integer, p_now bigint,
  p_fence_key text, p_fence_token text, p_fence bigint,
  m_unit text[], m_expected bigint[], m_high bigint[],
  r_tier text[], r_index_name text[], r_index_key text[], r_start bigint[],
  r_count bigint[], r_success bigint[], r_failure bigint[], r_skipped bigint[],
  r_started_min bigint[], r_started_max bigint[],
  r_duration_count bigint[], r_duration_sum bigint[], r_duration_min bigint[], r_duration_max bigint[],
  r_interval_count bigint[], r_interval_sum bigint[], r_interval_min bigint[], r_interval_max bigint[],
  r_known boolean[], r_duration text[], r_interval text[],
  s_param text[], s_value text[], s_last bigint[],
  OUT status integer, OUT conflicts text[], OUT written bigint, OUT merged jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
  moved text[];
  known bigint;
  unknown bigint;
  n bigint;
  lost bigint;
  fresh jsonb;
  horizon bigint;
BEGIN
  IF p_fence_key IS NOT NULL THEN
    PERFORM 1 FROM {{p}}_leases
      WHERE key = p_fence_key AND token = p_fence_token AND fence = p_fence AND expires_at > now()
      FOR SHARE;
    IF NOT FOUND THEN
      status := -1;
      RETURN;
    END IF;
  END IF;

  IF cardinality(m_unit) > 0 THEN
    BEGIN
      WITH u AS (
        SELECT * FROM unnest(m_unit, m_expected, m_high) AS u(unit, expected, high)
      ), fresh AS (
        INSERT INTO {{p}}_markers AS m (namespace, event, version, unit, high_seq, created_at)
        SELECT p_namespace, p_event, p_version, u.unit, u.high, p_now FROM u WHERE u.expected = 0
        ON CONFLICT (namespace, event, version, unit) DO NOTHING
        RETURNING m.unit
      ), advanced AS (
        UPDATE {{p}}_markers AS m SET high_seq = u.high, created_at = p_now
        FROM u
        WHERE u.expected <> 0 AND m.namespace = p_namespace AND m.event = p_event
          AND m.version = p_version AND m.unit = u.unit AND m.high_seq = u.expected
        RETURNING m.unit
      )
      SELECT array_agg(unit) INTO moved FROM (SELECT unit FROM fresh UNION ALL SELECT unit FROM advanced) AS x;
      IF COALESCE(cardinality(moved), 0) < cardinality(m_unit) THEN
        RAISE EXCEPTION 'marker conflict' USING ERRCODE = 'TL409';
      END IF;
    EXCEPTION WHEN SQLSTATE 'TL409' THEN
      status := 0;
      SELECT array_agg(u.unit) INTO conflicts
        FROM unnest(m_unit) AS u(unit) LEFT JOIN unnest(moved) AS d(unit) ON d.unit = u.unit
        WHERE d.unit IS NULL;
      RETURN;
    END;
  END IF;

  -- The rollup rows are written after the marker block, in the top transaction, so their xmin is
  -- this transaction's id.
  written := txid_current();
  horizon := written - 1000000000;
  SELECT count(*) FILTER (WHERE k.v), count(*) FILTER (WHERE NOT k.v) INTO known, unknown FROM unnest(r_known) AS k(v);

  IF known > 0 THEN
    WITH w AS (
      INSERT INTO {{p}}_rollups AS t (namespace, event, version, tier, index_name, index_key, bucket_start,
        count, success_count, failure_count, skipped_count, started_at_min, started_at_max,
        duration_ms_count, duration_ms_sum, duration_ms_min, duration_ms_max, duration_ms_hist,
        interval_ms_count, interval_ms_sum, interval_ms_min, interval_ms_max, interval_ms_hist)
      SELECT p_namespace, p_event, p_version, u.tier, u.index_name, u.index_key, u.bucket_start,
        u.c, u.sc, u.fc, u.kc, u.smin, u.smax, u.dc, u.ds, u.dmin, u.dmax, u.dh::jsonb,
        u.ic, u.isum, u.imin, u.imax, u.ih::jsonb
      FROM unnest(r_tier, r_index_name, r_index_key, r_start, r_count, r_success, r_failure, r_skipped,
        r_started_min, r_started_max, r_duration_count, r_duration_sum, r_duration_min, r_duration_max,
        r_interval_count, r_interval_sum, r_interval_min, r_interval_max, r_known, r_duration, r_interval)
        AS u(tier, index_name, index_key, bucket_start, c, sc, fc, kc, smin, smax, dc, ds, dmin, dmax,
          ic, isum, imin, imax, known, dh, ih)
      WHERE u.known
      ON CONFLICT (namespace, event, version, tier, index_name, index_key, bucket_start) DO UPDATE SET
        count = COALESCE(t.count, 0) + excluded.count,
        success_count = COALESCE(t.success_count, 0) + excluded.success_count,
        failure_count = COALESCE(t.failure_count, 0) + excluded.failure_count,
        skipped_count = COALESCE(t.skipped_count, 0) + excluded.skipped_count,
        started_at_min = LEAST(t.started_at_min, excluded.started_at_min),
        started_at_max = GREATEST(t.started_at_max, excluded.started_at_max),
        duration_ms_count = COALESCE(t.duration_ms_count, 0) + excluded.duration_ms_count,
        duration_ms_sum = COALESCE(t.duration_ms_sum, 0) + excluded.duration_ms_sum,
        duration_ms_min = LEAST(t.duration_ms_min, excluded.duration_ms_min),
        duration_ms_max = GREATEST(t.duration_ms_max, excluded.duration_ms_max),
        interval_ms_count = COALESCE(t.interval_ms_count, 0) + excluded.interval_ms_count,
        interval_ms_sum = COALESCE(t.interval_ms_sum, 0) + excluded.interval_ms_sum,
        interval_ms_min = LEAST(t.interval_ms_min, excluded.interval_ms_min),
        interval_ms_max = GREATEST(t.interval_ms_max, excluded.interval_ms_max),
        duration_ms_hist = t.duration_ms_hist || (excluded.duration_ms_hist -> 1),
        interval_ms_hist = CASE WHEN excluded.interval_ms_hist IS NULL THEN t.interval_ms_hist
          ELSE t.interval_ms_hist || excluded.interval_ms_hist END
      WHERE t.xmin = ((excluded.duration_ms_hist ->> 0)::bigint % 4294967296)::text::xid
        AND (excluded.duration_ms_hist ->> 0)::bigint > horizon
      RETURNING jsonb_typeof(t.duration_ms_hist) = 'array' AS vanished
    )
    SELECT count(*), count(*) FILTER (WHERE w.vanished) INTO n, lost FROM w;
    IF n < known OR lost > 0 THEN
      RAISE EXCEPTION 'known rollup rows changed since they were written' USING ERRCODE = 'TL410';
    END IF;
  END IF;

  IF unknown > 0 THEN
    WITH w AS (
      INSERT INTO {{p}}_rollups AS t (namespace, event, version, tier, index_name, index_key, bucket_start,
        count, success_count, failure_count, skipped_count, started_at_min, started_at_max,
        duration_ms_count, duration_ms_sum, duration_ms_min, duration_ms_max, duration_ms_hist,
        interval_ms_count, interval_ms_sum, interval_ms_min, interval_ms_max, interval_ms_hist)
      SELECT p_namespace, p_event, p_version, u.tier, u.index_name, u.index_key, u.bucket_start,
        u.c, u.sc, u.fc, u.kc, u.smin, u.smax, u.dc, u.ds, u.dmin, u.dmax, COALESCE(u.dh, '{}')::jsonb,
        u.ic, u.isum, u.imin, u.imax, COALESCE(u.ih, '{}')::jsonb
      FROM unnest(r_tier, r_index_name, r_index_key, r_start, r_count, r_success, r_failure, r_skipped,
        r_started_min, r_started_max, r_duration_count, r_duration_sum, r_duration_min, r_duration_max,
        r_interval_count, r_interval_sum, r_interval_min, r_interval_max, r_known, r_duration, r_interval)
        AS u(tier, index_name, index_key, bucket_start, c, sc, fc, kc, smin, smax, dc, ds, dmin, dmax,
          ic, isum, imin, imax, known, dh, ih)
      WHERE NOT u.known
      ON CONFLICT (namespace, event, version, tier, index_name, index_key, bucket_start) DO NOTHING
      RETURNING (t.tier || '|' || t.bucket_start || '|' || t.index_key) AS k
    )
    SELECT jsonb_object_agg(w.k, true), count(*) INTO fresh, n FROM w;
    IF n < unknown THEN
      WITH w AS (
        INSERT INTO {{p}}_rollups AS t (namespace, event, version, tier, index_name, index_key, bucket_start,
        count, success_count, failure_count, skipped_count, started_at_min, started_at_max,
        duration_ms_count, duration_ms_sum, duration_ms_min, duration_ms_max, duration_ms_hist,
        interval_ms_count, interval_ms_sum, interval_ms_min, interval_ms_max, interval_ms_hist)
      SELECT p_namespace, p_event, p_version, u.tier, u.index_name, u.index_key, u.bucket_start,
        u.c, u.sc, u.fc, u.kc, u.smin, u.smax, u.dc, u.ds, u.dmin, u.dmax, COALESCE(u.dh, '{}')::jsonb,
        u.ic, u.isum, u.imin, u.imax, COALESCE(u.ih, '{}')::jsonb
      FROM unnest(r_tier, r_index_name, r_index_key, r_start, r_count, r_success, r_failure, r_skipped,
        r_started_min, r_started_max, r_duration_count, r_duration_sum, r_duration_min, r_duration_max,
        r_interval_count, r_interval_sum, r_interval_min, r_interval_max, r_known, r_duration, r_interval)
        AS u(tier, index_name, index_key, bucket_start, c, sc, fc, kc, smin, smax, dc, ds, dmin, dmax,
          ic, isum, imin, imax, known, dh, ih)
        WHERE NOT u.known AND (fresh IS NULL OR NOT fresh ? (u.tier || '|' || u.bucket_start || '|' || u.index_key))
        ON CONFLICT (namespace, event, version, tier, index_name, index_key, bucket_start) DO UPDATE SET
          count = COALESCE(t.count, 0) + excluded.count,
        success_count = COALESCE(t.success_count, 0) + excluded.success_count,
        failure_count = COALESCE(t.failure_count, 0) + excluded.failure_count,
        skipped_count = COALESCE(t.skipped_count, 0) + excluded.skipped_count,
        started_at_min = LEAST(t.started_at_min, excluded.started_at_min),
        started_at_max = GREATEST(t.started_at_max, excluded.started_at_max),
        duration_ms_count = COALESCE(t.duration_ms_count, 0) + excluded.duration_ms_count,
        duration_ms_sum = COALESCE(t.duration_ms_sum, 0) + excluded.duration_ms_sum,
        duration_ms_min = LEAST(t.duration_ms_min, excluded.duration_ms_min),
        duration_ms_max = GREATEST(t.duration_ms_max, excluded.duration_ms_max),
        interval_ms_count = COALESCE(t.interval_ms_count, 0) + excluded.interval_ms_count,
        interval_ms_sum = COALESCE(t.interval_ms_sum, 0) + excluded.interval_ms_sum,
        interval_ms_min = LEAST(t.interval_ms_min, excluded.interval_ms_min),
        interval_ms_max = GREATEST(t.interval_ms_max, excluded.interval_ms_max),
          duration_ms_hist = CASE WHEN excluded.duration_ms_hist = '{}'::jsonb THEN t.duration_ms_hist
            ELSE {{p}}_hist_add(t.duration_ms_hist, excluded.duration_ms_hist) END,
          interval_ms_hist = CASE WHEN excluded.interval_ms_hist = '{}'::jsonb THEN t.interval_ms_hist
            ELSE {{p}}_hist_add(t.interval_ms_hist, excluded.interval_ms_hist) END
        RETURNING (t.tier || '|' || t.bucket_start || '|' || t.index_key) AS k, t.duration_ms_hist AS dh, t.interval_ms_hist AS ih
      )
      SELECT jsonb_agg(jsonb_build_array(w.k, w.dh, w.ih)) INTO merged FROM w;
    END IF;
  END IF;

  IF cardinality(s_param) > 0 THEN
    INSERT INTO {{p}}_state AS s (namespace, event, version, param, value, last_ms)
    SELECT p_namespace, p_event, p_version, u.param, u.value, u.last_ms
    FROM unnest(s_param, s_value, s_last) AS u(param, value, last_ms)
    ON CONFLICT (namespace, event, version, param, value) DO UPDATE SET last_ms = GREATEST(s.last_ms, excluded.last_ms);
  END IF;

  status := 1;
END
$$;

INSERT INTO {{p}}_meta AS m (key, value) VALUES ('schema_version', '3')
  ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE m.value IN ('1', '2');
