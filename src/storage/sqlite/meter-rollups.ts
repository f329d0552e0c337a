/**
 * `SqliteRollups`: the embedded default `MeterRollups` (guarantees in `src/meter/rollups.ts`).
 *
 * One `BEGIN IMMEDIATE` transaction covers the fence check, the marker compare-and-set, the rollup
 * merges and the interval state, so the processed-entry gate is exact: a retry that reads a
 * different row set can never double count (the gem's JSON rollups could). WAL with
 * `synchronous=FULL` makes each commit durable before the processor deletes stream rows; processes
 * on one host may share the file (`busy_timeout=5000`). Leases live in a table and use the `now`
 * the caller passes. Merges run in SQL upserts; histograms are added by a registered function.
 */

import { readFileSync } from "node:fs";
import { LockLostError, TallyError } from "../../errors.ts";
import { checkStoredDefinition, definitionJson } from "../../meter/definition.ts";
import { histogramFrom, histogramJson, mergeHistogram } from "../../meter/histogram.ts";
import { indexNameOfKey } from "../../meter/index-key.ts";
import { mergeRecord, recordFromStored } from "../../meter/rollup-record.ts";
import {
  type CleanupPlan,
  type CleanupResult,
  type CommitBatch,
  type CommitResult,
  type Lease,
  type MeterRollups,
  type ReportRef,
  type RollupRecord,
  type StoredDefinition,
  stateKey,
  TIER_MS,
  TIERS,
  type Tier,
} from "../../meter/rollups.ts";
import { openSqlite, type SqliteDatabaseLike, type SqliteStatement } from "./meter-sqlite-database.ts";

export type { SqliteDatabaseLike } from "./meter-sqlite-database.ts";

export interface SqliteRollupsOptions {
  /** Database file; ignored when `database` is given. @default "./tally.db" */
  path?: string;
  /** An open better-sqlite3 database; the caller keeps owning it (close() leaves it open). */
  database?: SqliteDatabaseLike;
  /** Table name prefix. @default "tally_meter" */
  tablePrefix?: string;
}

const SCHEMA_VERSION = "1";
const SCHEMA_SQL = readFileSync(new URL("./meter-schema.sql", import.meta.url), "utf8");

interface Statements {
  lease: SqliteStatement;
  leaseUpsert: SqliteStatement;
  leaseRenew: SqliteStatement;
  leaseRelease: SqliteStatement;
  marker: SqliteStatement;
  markerUpsert: SqliteStatement;
  markerDelete: SqliteStatement;
  markerCount: SqliteStatement;
  rollupUpsert: SqliteStatement;
  stateGet: SqliteStatement;
  stateUpsert: SqliteStatement;
  defGet: SqliteStatement;
  defInsert: SqliteStatement;
  readBuckets: SqliteStatement;
  readIndex: SqliteStatement;
  listBuckets: SqliteStatement;
  watermarkGet: SqliteStatement;
  watermarkSet: SqliteStatement;
}

const ROW_FIELDS = `tier, bucket_start, index_key, count, success_count, failure_count, skipped_count,
  started_at_min, started_at_max, duration_ms_count, duration_ms_sum, duration_ms_min, duration_ms_max,
  duration_ms_hist, interval_ms_count, interval_ms_sum, interval_ms_min, interval_ms_max, interval_ms_hist`;

const isNum = (c: string): string => `typeof(${c}) IN ('integer','real')`;
const minMax = (c: string, fn: "min" | "max"): string =>
  `${c} = CASE WHEN NOT ${isNum(c)} THEN excluded.${c} WHEN excluded.${c} IS NULL THEN ${c} ELSE ${fn}(${c}, excluded.${c}) END`;
const add = (c: string): string => `${c} = ${c} + excluded.${c}`;

function rowToRecord(row: Record<string, unknown>): RollupRecord {
  const indexKey = String(row.index_key);
  return recordFromStored(row.tier as Tier, Number(row.bucket_start), indexNameOfKey(indexKey), indexKey, {
    count: row.count,
    successCount: row.success_count,
    failureCount: row.failure_count,
    skippedCount: row.skipped_count,
    startedAtMin: row.started_at_min,
    startedAtMax: row.started_at_max,
    durationMsCount: row.duration_ms_count,
    durationMsSum: row.duration_ms_sum,
    durationMsMin: row.duration_ms_min,
    durationMsMax: row.duration_ms_max,
    durationMsHist: row.duration_ms_hist,
    intervalMsCount: row.interval_ms_count,
    intervalMsSum: row.interval_ms_sum,
    intervalMsMin: row.interval_ms_min,
    intervalMsMax: row.interval_ms_max,
    intervalMsHist: row.interval_ms_hist,
  });
}

export class SqliteRollups implements MeterRollups {
  readonly maxEntriesPerCommit = 100_000;
  readonly #path: string;
  readonly #given: SqliteDatabaseLike | undefined;
  readonly #prefix: string;
  #db: SqliteDatabaseLike | null = null;
  #st: Statements | null = null;
  #opening: Promise<void> | null = null;
  #commitTx: ((ref: ReportRef, batch: CommitBatch) => CommitResult) | null = null;

  constructor(options: SqliteRollupsOptions = {}) {
    if (typeof options !== "object" || options === null) {
      throw new TallyError("INVALID_OPTION", "SqliteRollups needs { path } or { database }");
    }
    const prefix = options.tablePrefix ?? "tally_meter";
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,40}$/.test(prefix)) {
      throw new TallyError(
        "INVALID_OPTION",
        `invalid tablePrefix ${JSON.stringify(prefix)}: use letters, digits and _`,
      );
    }
    this.#prefix = prefix;
    this.#path = options.path ?? "./tally.db";
    this.#given = options.database;
  }

  /** Opens the database and installs the schema; every method calls it, so calling it is optional. */
  open(): Promise<void> {
    this.#opening ??= this.#open().catch((error: unknown) => {
      this.#opening = null;
      throw error;
    });
    return this.#opening;
  }

  async #open(): Promise<void> {
    const db = this.#given ?? (await openSqlite(this.#path));
    try {
      if (this.#given === undefined) {
        db.pragma("journal_mode = WAL");
        db.pragma("synchronous = FULL");
        db.pragma("busy_timeout = 5000");
      }
      const p = this.#prefix;
      db.exec(SCHEMA_SQL.replaceAll("{{p}}", p));
      db.prepare(`INSERT OR IGNORE INTO ${p}_meta (key, value) VALUES ('schema_version', ?)`).run(SCHEMA_VERSION);
      const version = (
        db.prepare(`SELECT value FROM ${p}_meta WHERE key = 'schema_version'`).get() as { value: string }
      ).value;
      if (version !== SCHEMA_VERSION) {
        throw new TallyError(
          "SCHEMA_MISMATCH",
          `the meter tables ${p}_* have schema version ${version}; this tally expects ${SCHEMA_VERSION}: use another file or tablePrefix`,
        );
      }
      db.function("tally_hist_add", { deterministic: true }, (a: unknown, b: unknown) => {
        const hist = histogramFrom(a);
        mergeHistogram(hist, histogramFrom(b));
        return histogramJson(hist);
      });
      this.#st = this.#prepare(db);
      this.#db = db;
      this.#commitTx = db.transaction((ref: ReportRef, batch: CommitBatch) => this.#commitSync(ref, batch));
    } catch (error) {
      if (this.#given === undefined) db.close();
      throw error;
    }
  }

  #prepare(db: SqliteDatabaseLike): Statements {
    const p = this.#prefix;
    const report = "namespace = ? AND event = ? AND version = ?";
    const starts = "bucket_start IN (SELECT value FROM json_each(?))";
    return {
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
      rollupUpsert: db.prepare(
        `INSERT INTO ${p}_rollups (namespace, event, version, tier, index_name, index_key, bucket_start,
           count, success_count, failure_count, skipped_count, started_at_min, started_at_max,
           duration_ms_count, duration_ms_sum, duration_ms_min, duration_ms_max, duration_ms_hist,
           interval_ms_count, interval_ms_sum, interval_ms_min, interval_ms_max, interval_ms_hist)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET ${[
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
           "duration_ms_hist = CASE WHEN excluded.duration_ms_hist = '{}' THEN duration_ms_hist ELSE tally_hist_add(duration_ms_hist, excluded.duration_ms_hist) END",
           add("interval_ms_count"),
           add("interval_ms_sum"),
           minMax("interval_ms_min", "min"),
           minMax("interval_ms_max", "max"),
           "interval_ms_hist = CASE WHEN excluded.interval_ms_hist = '{}' THEN interval_ms_hist ELSE tally_hist_add(interval_ms_hist, excluded.interval_ms_hist) END",
         ].join(", ")}`,
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
        `SELECT ${ROW_FIELDS} FROM ${p}_rollups WHERE ${report} AND tier = ? AND index_key = ? AND ${starts}`,
      ),
      readIndex: db.prepare(
        `SELECT ${ROW_FIELDS} FROM ${p}_rollups WHERE ${report} AND tier = ? AND index_name = ? AND ${starts}`,
      ),
      listBuckets: db.prepare(
        `SELECT ${ROW_FIELDS} FROM ${p}_rollups WHERE ${report} AND tier = ? AND index_key = ? ORDER BY bucket_start LIMIT ?`,
      ),
      watermarkGet: db.prepare(`SELECT ms FROM ${p}_watermarks WHERE key = ?`),
      watermarkSet: db.prepare(
        `INSERT INTO ${p}_watermarks (key, ms) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET ms = excluded.ms`,
      ),
    };
  }

  async #ready(): Promise<Statements> {
    if (this.#st === null) await this.open();
    return this.#st as Statements;
  }

  async ensureDefinition(ref: ReportRef, def: StoredDefinition): Promise<void> {
    const st = await this.#ready();
    st.defInsert.run(ref.namespace, ref.name, ref.version, definitionJson(def), def.fingerprint);
    const row = st.defGet.get(ref.namespace, ref.name, ref.version) as { definition: unknown };
    checkStoredDefinition(row.definition, ref.name, ref.version, def);
  }

  async getDefinition(ref: ReportRef): Promise<StoredDefinition | null> {
    const st = await this.#ready();
    const row = st.defGet.get(ref.namespace, ref.name, ref.version) as { definition: unknown } | undefined;
    return row === undefined ? null : checkStoredDefinition(row.definition, ref.name, ref.version);
  }

  async acquireLease(key: string, ttlMs: number, now: number): Promise<Lease | null> {
    const st = await this.#ready();
    const token = crypto.randomUUID();
    const row = st.leaseUpsert.get(key, token, now + ttlMs, now) as { fence: number } | undefined;
    return row === undefined ? null : { key, token, fence: Number(row.fence) };
  }

  async renewLease(lease: Lease, ttlMs: number, now: number): Promise<boolean> {
    const st = await this.#ready();
    return st.leaseRenew.run(now + ttlMs, lease.key, lease.token, lease.fence, now).changes === 1;
  }

  async releaseLease(lease: Lease): Promise<void> {
    const st = await this.#ready();
    st.leaseRelease.run(lease.key, lease.token);
  }

  async readMarkers(ref: ReportRef, units: readonly string[]): Promise<Map<string, number>> {
    const st = await this.#ready();
    const out = new Map<string, number>();
    for (const unit of units) {
      const row = st.marker.get(ref.namespace, ref.name, ref.version, unit) as { high_seq: unknown } | undefined;
      if (row !== undefined) out.set(unit, Number(row.high_seq));
    }
    return out;
  }

  async readIntervalState(
    ref: ReportRef,
    keys: readonly { param: string; value: string }[],
  ): Promise<Map<string, number>> {
    const st = await this.#ready();
    const out = new Map<string, number>();
    for (const { param, value } of keys) {
      const row = st.stateGet.get(ref.namespace, ref.name, ref.version, param, value) as
        | { last_ms: unknown }
        | undefined;
      if (row !== undefined && Number.isFinite(Number(row.last_ms)))
        out.set(stateKey(param, value), Number(row.last_ms));
    }
    return out;
  }

  async commit(ref: ReportRef, batch: CommitBatch): Promise<CommitResult> {
    await this.#ready();
    const tx = this.#commitTx as ((ref: ReportRef, batch: CommitBatch) => CommitResult) & {
      immediate(ref: ReportRef, batch: CommitBatch): CommitResult;
    };
    return tx.immediate(ref, batch);
  }

  #commitSync(ref: ReportRef, batch: CommitBatch): CommitResult {
    const st = this.#st as Statements;
    const { namespace, name, version } = ref;
    if (batch.fence !== null) {
      const held = st.lease.get(batch.fence.key) as { token: unknown; fence: unknown; expires_at: unknown } | undefined;
      if (
        held === undefined ||
        held.token !== batch.fence.token ||
        Number(held.fence) !== batch.fence.fence ||
        Number(held.expires_at) <= batch.now
      ) {
        throw new LockLostError(`the lease ${batch.fence.key} (fence ${batch.fence.fence}) is no longer held`);
      }
    }
    const conflicts: string[] = [];
    for (const m of batch.markers) {
      const row = st.marker.get(namespace, name, version, m.unit) as { high_seq: unknown } | undefined;
      if ((row === undefined ? 0 : Number(row.high_seq)) !== m.expected) conflicts.push(m.unit);
    }
    if (conflicts.length > 0) return { ok: false, conflicts };
    for (const m of batch.markers) st.markerUpsert.run(namespace, name, version, m.unit, m.high, batch.now);
    for (const r of batch.rollups) {
      st.rollupUpsert.run(
        namespace,
        name,
        version,
        r.tier,
        r.indexName,
        r.indexKey,
        r.bucketStart,
        r.count,
        r.successCount,
        r.failureCount,
        r.skippedCount,
        r.startedAtMin,
        r.startedAtMax,
        r.durationMsCount,
        r.durationMsSum,
        r.durationMsMin,
        r.durationMsMax,
        histogramJson(r.durationMsHist),
        r.intervalMsCount,
        r.intervalMsSum,
        r.intervalMsMin,
        r.intervalMsMax,
        histogramJson(r.intervalMsHist),
      );
    }
    for (const s of batch.intervalState) st.stateUpsert.run(namespace, name, version, s.param, s.value, s.lastMs);
    return { ok: true };
  }

  async forgetMarkers(ref: ReportRef, units: readonly string[]): Promise<void> {
    const st = await this.#ready();
    const db = this.#db as SqliteDatabaseLike;
    db.transaction(() => {
      for (const unit of units) st.markerDelete.run(ref.namespace, ref.name, ref.version, unit);
    })();
  }

  async countMarkers(ref: ReportRef): Promise<number> {
    const st = await this.#ready();
    return Number((st.markerCount.get(ref.namespace, ref.name, ref.version) as { n: unknown }).n);
  }

  async readBuckets(ref: ReportRef, tier: Tier, starts: readonly number[], indexKey: string): Promise<RollupRecord[]> {
    const st = await this.#ready();
    if (starts.length === 0) return [];
    const rows = st.readBuckets.all(ref.namespace, ref.name, ref.version, tier, indexKey, JSON.stringify(starts));
    return rows.map((row) => rowToRecord(row as Record<string, unknown>));
  }

  async listBuckets(ref: ReportRef, tier: Tier, indexKey: string, limit: number): Promise<RollupRecord[]> {
    const st = await this.#ready();
    const rows = st.listBuckets.all(ref.namespace, ref.name, ref.version, tier, indexKey, limit);
    return rows.map((row) => rowToRecord(row as Record<string, unknown>));
  }

  async readIndex(
    ref: ReportRef,
    tier: Tier,
    starts: readonly number[],
    indexName: string,
  ): Promise<Map<string, RollupRecord>> {
    const st = await this.#ready();
    const out = new Map<string, RollupRecord>();
    if (starts.length === 0) return out;
    for (const row of st.readIndex.all(ref.namespace, ref.name, ref.version, tier, indexName, JSON.stringify(starts))) {
      const record = rowToRecord(row as Record<string, unknown>);
      const existing = out.get(record.indexKey);
      if (existing === undefined) out.set(record.indexKey, record);
      else mergeRecord(existing, record);
    }
    return out;
  }

  async cleanup(namespace: string, plan: CleanupPlan): Promise<CleanupResult> {
    await this.#ready();
    const db = this.#db as SqliteDatabaseLike;
    const p = this.#prefix;
    const events = plan.events === null ? null : JSON.stringify(plan.events);
    const scope = "namespace = ? AND (? IS NULL OR event IN (SELECT value FROM json_each(?)))";
    const result: CleanupResult = { rollupKeysDeleted: 0, intervalStateKeysDeleted: 0, processedEntriesDeleted: 0 };
    db.transaction(() => {
      for (const tier of TIERS) {
        const before = plan.before[tier];
        if (before === undefined) continue;
        result.rollupKeysDeleted += db
          .prepare(`DELETE FROM ${p}_rollups WHERE ${scope} AND tier = ? AND bucket_start <= ?`)
          .run(namespace, events, events, tier, before - TIER_MS[tier]).changes;
      }
      if (plan.before.intervalState !== undefined) {
        result.intervalStateKeysDeleted = db
          .prepare(`DELETE FROM ${p}_state WHERE ${scope} AND last_ms < ?`)
          .run(namespace, events, events, plan.before.intervalState).changes;
      }
      if (plan.before.markers !== undefined) {
        result.processedEntriesDeleted = db
          .prepare(`DELETE FROM ${p}_markers WHERE ${scope} AND created_at < ?`)
          .run(namespace, events, events, plan.before.markers).changes;
      }
    }).immediate();
    return result;
  }

  async readWatermark(key: string): Promise<number | null> {
    const st = await this.#ready();
    const row = st.watermarkGet.get(key) as { ms: unknown } | undefined;
    return row === undefined ? null : Number(row.ms);
  }

  async writeWatermark(key: string, ms: number): Promise<void> {
    const st = await this.#ready();
    st.watermarkSet.run(key, ms);
  }

  async close(): Promise<void> {
    const db = this.#db;
    this.#db = null;
    this.#st = null;
    this.#opening = null;
    if (db !== null && this.#given === undefined && db.open) db.close();
  }
}
