/**
 * The statements `PostgresRollups` runs, built once per table prefix. Batched writes take one
 * array per column and `unnest` them, so a batch is one round trip per table however many rows it
 * holds; reads use the primary key or the `<p>_rollups_by_index` index.
 */

export interface RollupSql {
  defInsert: string;
  defGet: string;
  leaseAcquire: string;
  leaseRenew: string;
  leaseRelease: string;
  fenceCheck: string;
  markersGet: string;
  markersInsert: string;
  markersUpdate: string;
  markersDelete: string;
  markersCount: string;
  stateGet: string;
  stateUpsert: string;
  rollupsUpsert: string;
  readBuckets: string;
  readIndex: string;
  listBuckets: string;
  cleanupRollups: string;
  cleanupState: string;
  cleanupMarkers: string;
  watermarkGet: string;
  watermarkSet: string;
}

const REPORT = "namespace = $1 AND event = $2 AND version = $3";
const EVENTS = "namespace = $1 AND ($2::text[] IS NULL OR event = ANY($2::text[]))";
const COLUMNS = `tier, index_name, index_key, bucket_start, count, success_count, failure_count, skipped_count,
  started_at_min, started_at_max, duration_ms_count, duration_ms_sum, duration_ms_min, duration_ms_max,
  duration_ms_hist, interval_ms_count, interval_ms_sum, interval_ms_min, interval_ms_max, interval_ms_hist`;
const ttl = (param: string): string => `now() + ${param}::bigint * interval '1 millisecond'`;

export function rollupSql(p: string): RollupSql {
  const add = (c: string): string => `${c} = COALESCE(t.${c}, 0) + excluded.${c}`;
  const hist = (c: string): string =>
    `${c} = CASE WHEN excluded.${c} = '{}'::jsonb THEN t.${c} ELSE ${p}_hist_add(t.${c}, excluded.${c}) END`;
  return {
    defInsert: `INSERT INTO ${p}_definitions (namespace, event, version, definition, fingerprint)
      VALUES ($1, $2, $3, $4, $5) ON CONFLICT (namespace, event, version) DO NOTHING`,
    defGet: `SELECT definition FROM ${p}_definitions WHERE ${REPORT}`,
    leaseAcquire: `INSERT INTO ${p}_leases AS l (key, token, fence, expires_at) VALUES ($1, $2, 1, ${ttl("$3")})
      ON CONFLICT (key) DO UPDATE SET token = excluded.token, fence = l.fence + 1, expires_at = excluded.expires_at
      WHERE l.expires_at <= now() RETURNING fence`,
    leaseRenew: `UPDATE ${p}_leases SET expires_at = ${ttl("$4")}
      WHERE key = $1 AND token = $2 AND fence = $3 AND expires_at > now()`,
    leaseRelease: `UPDATE ${p}_leases SET token = NULL, expires_at = '-infinity' WHERE key = $1 AND token = $2`,
    fenceCheck: `SELECT fence FROM ${p}_leases WHERE key = $1 AND token = $2 AND fence = $3 AND expires_at > now() FOR SHARE`,
    markersGet: `SELECT unit, high_seq FROM ${p}_markers WHERE ${REPORT} AND unit = ANY($4::text[])`,
    markersInsert: `INSERT INTO ${p}_markers (namespace, event, version, unit, high_seq, created_at)
      SELECT $1, $2, $3, u.unit, u.high, $6 FROM unnest($4::text[], $5::bigint[]) AS u(unit, high)
      ON CONFLICT (namespace, event, version, unit) DO NOTHING RETURNING unit`,
    markersUpdate: `UPDATE ${p}_markers AS m SET high_seq = u.high, created_at = $7
      FROM unnest($4::text[], $5::bigint[], $6::bigint[]) AS u(unit, expected, high)
      WHERE m.namespace = $1 AND m.event = $2 AND m.version = $3 AND m.unit = u.unit AND m.high_seq = u.expected
      RETURNING m.unit`,
    markersDelete: `DELETE FROM ${p}_markers WHERE ${REPORT} AND unit = ANY($4::text[])`,
    markersCount: `SELECT count(*) AS n FROM ${p}_markers WHERE ${REPORT}`,
    stateGet: `SELECT s.param, s.value, s.last_ms FROM ${p}_state AS s
      JOIN unnest($4::text[], $5::text[]) AS k(param, value) ON s.param = k.param AND s.value = k.value
      WHERE s.namespace = $1 AND s.event = $2 AND s.version = $3`,
    stateUpsert: `INSERT INTO ${p}_state AS s (namespace, event, version, param, value, last_ms)
      SELECT $1, $2, $3, u.param, u.value, u.last_ms FROM unnest($4::text[], $5::text[], $6::bigint[]) AS u(param, value, last_ms)
      ON CONFLICT (namespace, event, version, param, value) DO UPDATE SET last_ms = GREATEST(s.last_ms, excluded.last_ms)`,
    rollupsUpsert: `INSERT INTO ${p}_rollups AS t (namespace, event, version, ${COLUMNS})
      SELECT $1, $2, $3, u.tier, u.index_name, u.index_key, u.bucket_start, u.c, u.sc, u.fc, u.kc, u.smin, u.smax,
        u.dc, u.ds, u.dmin, u.dmax, u.dh::jsonb, u.ic, u.isum, u.imin, u.imax, u.ih::jsonb
      FROM unnest($4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
        $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[],
        $18::text[], $19::bigint[], $20::bigint[], $21::bigint[], $22::bigint[], $23::text[])
        AS u(tier, index_name, index_key, bucket_start, c, sc, fc, kc, smin, smax, dc, ds, dmin, dmax, dh, ic, isum, imin, imax, ih)
      ON CONFLICT (namespace, event, version, tier, index_name, index_key, bucket_start) DO UPDATE SET
        ${add("count")}, ${add("success_count")}, ${add("failure_count")}, ${add("skipped_count")},
        started_at_min = LEAST(t.started_at_min, excluded.started_at_min),
        started_at_max = GREATEST(t.started_at_max, excluded.started_at_max),
        ${add("duration_ms_count")}, ${add("duration_ms_sum")},
        duration_ms_min = LEAST(t.duration_ms_min, excluded.duration_ms_min),
        duration_ms_max = GREATEST(t.duration_ms_max, excluded.duration_ms_max),
        ${hist("duration_ms_hist")},
        ${add("interval_ms_count")}, ${add("interval_ms_sum")},
        interval_ms_min = LEAST(t.interval_ms_min, excluded.interval_ms_min),
        interval_ms_max = GREATEST(t.interval_ms_max, excluded.interval_ms_max),
        ${hist("interval_ms_hist")}`,
    readBuckets: `SELECT ${COLUMNS} FROM ${p}_rollups
      WHERE ${REPORT} AND tier = $4 AND index_name = $5 AND index_key = $6 AND bucket_start = ANY($7::bigint[])`,
    readIndex: `SELECT ${COLUMNS} FROM ${p}_rollups
      WHERE ${REPORT} AND tier = $4 AND index_name = $5 AND bucket_start = ANY($6::bigint[])`,
    listBuckets: `SELECT ${COLUMNS} FROM ${p}_rollups
      WHERE ${REPORT} AND tier = $4 AND index_name = $5 AND index_key = $6 ORDER BY bucket_start LIMIT $7`,
    cleanupRollups: `DELETE FROM ${p}_rollups WHERE ${EVENTS} AND tier = $3 AND bucket_start <= $4::bigint`,
    cleanupState: `DELETE FROM ${p}_state WHERE ${EVENTS} AND last_ms < $3::bigint`,
    cleanupMarkers: `DELETE FROM ${p}_markers WHERE ${EVENTS} AND created_at < $3::bigint`,
    watermarkGet: `SELECT ms FROM ${p}_watermarks WHERE key = $1`,
    watermarkSet: `INSERT INTO ${p}_watermarks (key, ms) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET ms = excluded.ms`,
  };
}

// PostgreSQL text cannot hold U+0000, but an interval identity is any string. Values holding it (or
// starting with the escape mark) are stored as the mark plus their URI encoding, so every value
// round-trips and ordinary ones stay readable.
const MARK = "\u0001";

export function encodeStateValue(value: string): string {
  return value.includes("\u0000") || value.startsWith(MARK) ? MARK + encodeURIComponent(value) : value;
}

export function decodeStateValue(stored: string): string {
  if (!stored.startsWith(MARK)) return stored;
  try {
    return decodeURIComponent(stored.slice(1));
  } catch {
    return stored;
  }
}
