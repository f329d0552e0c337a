/**
 * The prepared statements of `SqliteRollups` (schema in `meter-schema.sql`). Rollup merges run in
 * SQL upserts: counters add, min/max keep the extreme (a corrupt non-numeric stored value is
 * replaced), histograms are added by the registered `tally_hist_add` (NULL is an empty histogram).
 *
 * Binding is most of an upsert's cost in better-sqlite3 (~0.1 µs per number, ~0.2 µs per string
 * on the reference machine), so a delta without interval data, the common case, uses a statement
 * that binds 16 values instead of 21 and leaves the interval columns alone.
 */

import type { SqliteDatabaseLike, SqliteStatement } from "./meter-sqlite-database.ts";

export interface Statements {
  reportId: SqliteStatement;
  reportInsert: SqliteStatement;
  lease: SqliteStatement;
  leaseUpsert: SqliteStatement;
  leaseRenew: SqliteStatement;
  leaseRelease: SqliteStatement;
  marker: SqliteStatement;
  markerUpsert: SqliteStatement;
  markerDelete: SqliteStatement;
  markerCount: SqliteStatement;
  /** report, tier, index_name, bucket_start, index_key + the 11 count/started/duration values. */
  rollupUpsertShort: SqliteStatement;
  /** As `rollupUpsertShort` + the 5 interval values. */
  rollupUpsertFull: SqliteStatement;
  stateGet: SqliteStatement;
  stateUpsert: SqliteStatement;
  defGet: SqliteStatement;
  defInsert: SqliteStatement;
  readBuckets: SqliteStatement;
  readIndex: SqliteStatement;
  listHourBuckets: SqliteStatement;
  listBuckets: SqliteStatement;
  watermarkGet: SqliteStatement;
  watermarkSet: SqliteStatement;
}

export const TIER_CODE = { minute: 0, hour: 1, day: 2 } as const;
export const TIER_OF_CODE = ["minute", "hour", "day"] as const;

export const ROW_FIELDS = `tier, bucket_start, index_key, count, success_count, failure_count, skipped_count,
  started_at_min, started_at_max, duration_ms_count, duration_ms_sum, duration_ms_min, duration_ms_max,
  duration_ms_hist, interval_ms_count, interval_ms_sum, interval_ms_min, interval_ms_max, interval_ms_hist`;

const isNum = (c: string): string => `typeof(${c}) IN ('integer','real')`;
const minMax = (c: string, fn: "min" | "max"): string =>
  `${c} = CASE WHEN NOT ${isNum(c)} THEN excluded.${c} WHEN excluded.${c} IS NULL THEN ${c} ELSE ${fn}(${c}, excluded.${c}) END`;
const add = (c: string): string => `${c} = ${c} + excluded.${c}`;
const hist = (c: string): string =>
  `${c} = CASE WHEN excluded.${c} IS NULL THEN ${c} WHEN ${c} IS NULL THEN excluded.${c} ELSE tally_hist_add(${c}, excluded.${c}) END`;

const SHORT_COLUMNS = `report, tier, index_name, bucket_start, index_key, count, success_count, failure_count,
  skipped_count, started_at_min, started_at_max, duration_ms_count, duration_ms_sum, duration_ms_min,
  duration_ms_max, duration_ms_hist`;
const SHORT_SET = [
  add("count"),
  add("success_count"),
  add("failure_count"),
  add("skipped_count"),
  minMax("started_at_min", "min"),
  minMax("started_at_max", "max"),
  add("duration_ms_count"),
  add("duration_ms_sum"),
  minMax("duration_ms_min", "min"),
  minMax("duration_ms_max", "max"),
  hist("duration_ms_hist"),
];
const INTERVAL_SET = [
  add("interval_ms_count"),
  add("interval_ms_sum"),
  minMax("interval_ms_min", "min"),
  minMax("interval_ms_max", "max"),
  hist("interval_ms_hist"),
];

const marks = (n: number): string => Array.from({ length: n }, () => "?").join(", ");

export function prepareStatements(db: SqliteDatabaseLike, p: string): Statements {
  const report = "namespace = ? AND event = ? AND version = ?";
  const starts = "bucket_start IN (SELECT value FROM json_each(?))";
  return {
    reportId: db.prepare(`SELECT id FROM ${p}_reports WHERE ${report}`),
    reportInsert: db.prepare(`INSERT OR IGNORE INTO ${p}_reports (namespace, event, version) VALUES (?, ?, ?)`),
    lease: db.prepare(`SELECT token, fence, expires_at FROM ${p}_leases WHERE key = ?`),
    leaseUpsert: db.prepare(
      `INSERT INTO ${p}_leases (key, token, fence, expires_at) VALUES (?, ?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET token = excluded.token, fence = fence + 1, expires_at = excluded.expires_at
       WHERE expires_at <= ? OR token IS NULL RETURNING fence`,
    ),
    leaseRenew: db.prepare(
      `UPDATE ${p}_leases SET expires_at = ? WHERE key = ? AND token = ? AND fence = ? AND expires_at > ?`,
    ),
    leaseRelease: db.prepare(`UPDATE ${p}_leases SET token = NULL, expires_at = 0 WHERE key = ? AND token = ?`),
    marker: db.prepare(`SELECT high_seq FROM ${p}_markers WHERE ${report} AND unit = ?`),
    markerUpsert: db.prepare(
      `INSERT INTO ${p}_markers (namespace, event, version, unit, high_seq, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET high_seq = excluded.high_seq, created_at = excluded.created_at`,
    ),
    markerDelete: db.prepare(`DELETE FROM ${p}_markers WHERE ${report} AND unit = ?`),
    markerCount: db.prepare(`SELECT count(*) AS n FROM ${p}_markers WHERE ${report}`),
    rollupUpsertShort: db.prepare(
      `INSERT INTO ${p}_rollups (${SHORT_COLUMNS}) VALUES (${marks(16)})
       ON CONFLICT DO UPDATE SET ${SHORT_SET.join(", ")}`,
    ),
    rollupUpsertFull: db.prepare(
      `INSERT INTO ${p}_rollups (${SHORT_COLUMNS}, interval_ms_count, interval_ms_sum, interval_ms_min,
         interval_ms_max, interval_ms_hist) VALUES (${marks(21)})
       ON CONFLICT DO UPDATE SET ${[...SHORT_SET, ...INTERVAL_SET].join(", ")}`,
    ),
    stateGet: db.prepare(`SELECT last_ms FROM ${p}_state WHERE ${report} AND param = ? AND value = ?`),
    stateUpsert: db.prepare(
      `INSERT INTO ${p}_state (namespace, event, version, param, value, last_ms) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET last_ms = max(last_ms, excluded.last_ms)`,
    ),
    defGet: db.prepare(`SELECT definition FROM ${p}_definitions WHERE ${report}`),
    defInsert: db.prepare(
      `INSERT OR IGNORE INTO ${p}_definitions (namespace, event, version, definition, fingerprint) VALUES (?, ?, ?, ?, ?)`,
    ),
    readBuckets: db.prepare(
      `SELECT ${ROW_FIELDS} FROM ${p}_rollups
       WHERE report = ? AND tier = ? AND index_name = ? AND ${starts} AND index_key = ?`,
    ),
    readIndex: db.prepare(
      `SELECT ${ROW_FIELDS} FROM ${p}_rollups WHERE report = ? AND tier = ? AND index_name = ? AND ${starts}`,
    ),
    // The literal `tier = 1` lets SQLite use the partial index of hour rows.
    listHourBuckets: db.prepare(
      `SELECT ${ROW_FIELDS} FROM ${p}_rollups WHERE report = ? AND tier = 1 AND index_key = ?
       ORDER BY bucket_start LIMIT ?`,
    ),
    listBuckets: db.prepare(
      `SELECT ${ROW_FIELDS} FROM ${p}_rollups WHERE report = ? AND tier = ? AND index_name = ? AND index_key = ?
       ORDER BY bucket_start LIMIT ?`,
    ),
    watermarkGet: db.prepare(`SELECT ms FROM ${p}_watermarks WHERE key = ?`),
    watermarkSet: db.prepare(
      `INSERT INTO ${p}_watermarks (key, ms) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET ms = excluded.ms`,
    ),
  };
}
