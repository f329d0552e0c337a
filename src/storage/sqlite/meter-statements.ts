/**
 * The prepared statements of `SqliteRollups` (schema in `meter-schema.sql`), except the rollup
 * upserts, which live in `meter-rollup-upserts.ts`.
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
