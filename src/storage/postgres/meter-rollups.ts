/**
 * `PostgresRollups`: the meter's rollups in PostgreSQL (guarantees in `src/meter/rollups.ts`).
 *
 * - `commit` is one statement, a call of the installed `<p>_commit` function, so one round trip
 *   and one transaction: the fence check (`FOR SHARE`, so a takeover waits until this commit
 *   ends), the marker compare-and-set, then set-based upserts (each row one primary-key probe) and
 *   the interval state raised with `GREATEST`. A short compare-and-set rolls the markers back and
 *   reports the conflicting units before anything else is written, so an entry is aggregated only
 *   by the commit that advanced its marker. A deadlock is retried (the statement applied nothing).
 * - Histograms of the rows the store wrote are summed in JavaScript and checked against the rows'
 *   xmin in SQL; a row another writer changed is refused and merged in SQL instead
 *   (`meter-committer.ts`, bounded memory). Commits of one report run one at a time per store.
 * - Leases expire by the database clock `now()`, are taken with an upsert that raises the fence,
 *   and run as single statements on the pool, outside any caller transaction.
 * - The schema (`meter-schema.sql`) is installed by `install()` (idempotent, under an advisory
 *   lock) or on first use when `autoInstall` is on; a `<p>_meta` schema_version other than this
 *   build's throws `SCHEMA_MISMATCH`.
 * - The pool is the caller's: `close()` never ends it.
 */

import { TallyError } from "../../errors.ts";
import { checkStoredDefinition, definitionJson } from "../../meter/definition.ts";
import { indexNameOfKey } from "../../meter/index-key.ts";
import { fieldsFromColumns, mergeRecord, recordFromStored } from "../../meter/rollup-record.ts";
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
import { MeterCommitter } from "./meter-committer.ts";
import { ensureMeterSchema, installMeterSchema, meterSchemaSql } from "./meter-install.ts";
import { checkPool, checkTablePrefix, type PgPoolLike, unavailable } from "./meter-pool.ts";
import { decodeStateValue, encodeStateValue, type RollupSql, rollupSql } from "./meter-sql.ts";

export { meterSchemaSql } from "./meter-install.ts";
export type { PgClientLike, PgPoolLike, PgResultLike } from "./meter-pool.ts";

export interface PostgresRollupsOptions {
  /** A pg Pool (or anything with `query` and `connect`); the caller owns and ends it. */
  pool: PgPoolLike;
  /** Table name prefix; pick the schema with the pool's search_path. @default "tally_meter" */
  tablePrefix?: string;
  /** Install the schema on first use when it is missing. @default true */
  autoInstall?: boolean;
  /** Stream entries per commit transaction (the processor splits larger batches). @default 50000 */
  maxEntriesPerCommit?: number;
}

const NAME = "PostgresRollups";

export class PostgresRollups implements MeterRollups {
  readonly maxEntriesPerCommit: number;
  readonly tablePrefix: string;
  readonly #pool: PgPoolLike;
  readonly #autoInstall: boolean;
  readonly #sql: RollupSql;
  readonly #committer: MeterCommitter;
  #ready: Promise<void> | null = null;

  /** The schema SQL for a prefix (or `{ tablePrefix }`); see `meterSchemaSql`. */
  static schemaSql(prefix: string | { tablePrefix?: string } = "tally_meter"): string {
    return meterSchemaSql(typeof prefix === "string" ? { tablePrefix: prefix } : prefix);
  }

  constructor(options: PostgresRollupsOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TallyError("INVALID_OPTION", `${NAME} needs { pool }: a pg Pool`);
    }
    this.#pool = checkPool(options.pool, NAME);
    this.tablePrefix = checkTablePrefix(options.tablePrefix ?? "tally_meter", NAME);
    this.#autoInstall = options.autoInstall ?? true;
    const max = options.maxEntriesPerCommit ?? 50_000;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new TallyError(
        "INVALID_OPTION",
        `${NAME}: maxEntriesPerCommit must be a positive integer, got ${String(max)}`,
      );
    }
    this.maxEntriesPerCommit = max;
    this.#sql = rollupSql(this.tablePrefix);
    this.#committer = new MeterCommitter(this.#pool, this.#sql.commit, this.tablePrefix);
  }

  /** Creates the tables and functions if missing (idempotent; safe to run from several hosts at once). */
  async install(): Promise<void> {
    await installMeterSchema(this.#pool, this.tablePrefix, NAME);
    this.#ready = Promise.resolve();
  }

  #open(): Promise<void> {
    this.#ready ??= ensureMeterSchema(this.#pool, this.tablePrefix, this.#autoInstall, NAME).catch((error: unknown) => {
      this.#ready = null;
      throw error;
    });
    return this.#ready;
  }

  async #query(what: string, text: string, params: unknown[]): Promise<{ rows: unknown[]; rowCount: number }> {
    await this.#open();
    try {
      const result = await this.#pool.query(text, params);
      return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
    } catch (error) {
      throw unavailable(`${NAME}: ${what} failed`, error);
    }
  }

  async ensureDefinition(ref: ReportRef, def: StoredDefinition): Promise<void> {
    await this.#query("storing a definition", this.#sql.defInsert, [
      ref.namespace,
      ref.name,
      ref.version,
      definitionJson(def),
      def.fingerprint,
    ]);
    const stored = await this.#readDefinition(ref);
    checkStoredDefinition(stored, ref.name, ref.version, def);
  }

  async #readDefinition(ref: ReportRef): Promise<string | null> {
    const { rows } = await this.#query("reading a definition", this.#sql.defGet, [
      ref.namespace,
      ref.name,
      ref.version,
    ]);
    return (rows[0] as { definition?: string } | undefined)?.definition ?? null;
  }

  async getDefinition(ref: ReportRef): Promise<StoredDefinition | null> {
    const stored = await this.#readDefinition(ref);
    return stored === null ? null : checkStoredDefinition(stored, ref.name, ref.version);
  }

  async acquireLease(key: string, ttlMs: number, _now: number): Promise<Lease | null> {
    const token = randomToken();
    const { rows } = await this.#query("acquiring a lease", this.#sql.leaseAcquire, [key, token, Math.max(1, ttlMs)]);
    const fence = (rows[0] as { fence?: unknown } | undefined)?.fence;
    return fence === undefined ? null : { key, token, fence: Number(fence) };
  }

  async renewLease(lease: Lease, ttlMs: number, _now: number): Promise<boolean> {
    const { rowCount } = await this.#query("renewing a lease", this.#sql.leaseRenew, [
      lease.key,
      lease.token,
      lease.fence,
      Math.max(1, ttlMs),
    ]);
    return rowCount > 0;
  }

  async releaseLease(lease: Lease): Promise<void> {
    await this.#query("releasing a lease", this.#sql.leaseRelease, [lease.key, lease.token]);
  }

  async readMarkers(ref: ReportRef, units: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (units.length === 0) return out;
    const { rows } = await this.#query("reading markers", this.#sql.markersGet, [
      ref.namespace,
      ref.name,
      ref.version,
      [...units],
    ]);
    for (const row of rows as { unit: string; high_seq: string | number }[]) out.set(row.unit, Number(row.high_seq));
    return out;
  }

  async readIntervalState(
    ref: ReportRef,
    keys: readonly { param: string; value: string }[],
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (keys.length === 0) return out;
    const { rows } = await this.#query("reading interval state", this.#sql.stateGet, [
      ref.namespace,
      ref.name,
      ref.version,
      keys.map((k) => k.param),
      keys.map((k) => encodeStateValue(k.value)),
    ]);
    for (const row of rows as { param: string; value: string; last_ms: string | number }[]) {
      out.set(stateKey(row.param, decodeStateValue(row.value)), Number(row.last_ms));
    }
    return out;
  }

  async commit(ref: ReportRef, batch: CommitBatch): Promise<CommitResult> {
    await this.#open();
    return this.#committer.commit(ref, batch);
  }

  async forgetMarkers(ref: ReportRef, units: readonly string[]): Promise<void> {
    if (units.length === 0) return;
    await this.#query("forgetting markers", this.#sql.markersDelete, [
      ref.namespace,
      ref.name,
      ref.version,
      [...units],
    ]);
  }

  async countMarkers(ref: ReportRef): Promise<number> {
    const { rows } = await this.#query("counting markers", this.#sql.markersCount, [
      ref.namespace,
      ref.name,
      ref.version,
    ]);
    return Number((rows[0] as { n?: unknown } | undefined)?.n ?? 0);
  }

  async readBuckets(ref: ReportRef, tier: Tier, starts: readonly number[], indexKey: string): Promise<RollupRecord[]> {
    if (starts.length === 0) return [];
    const { rows } = await this.#query("reading buckets", this.#sql.readBuckets, [
      ref.namespace,
      ref.name,
      ref.version,
      tier,
      indexNameOfKey(indexKey),
      indexKey,
      [...starts],
    ]);
    return rows.map((row) => rowToRecord(row as Record<string, unknown>));
  }

  async listBuckets(ref: ReportRef, tier: Tier, indexKey: string, limit: number): Promise<RollupRecord[]> {
    if (limit <= 0) return [];
    const { rows } = await this.#query("listing buckets", this.#sql.listBuckets, [
      ref.namespace,
      ref.name,
      ref.version,
      tier,
      indexNameOfKey(indexKey),
      indexKey,
      limit,
    ]);
    return rows.map((row) => rowToRecord(row as Record<string, unknown>));
  }

  async readIndex(
    ref: ReportRef,
    tier: Tier,
    starts: readonly number[],
    indexName: string,
  ): Promise<Map<string, RollupRecord>> {
    const out = new Map<string, RollupRecord>();
    if (starts.length === 0) return out;
    const { rows } = await this.#query("reading an index", this.#sql.readIndex, [
      ref.namespace,
      ref.name,
      ref.version,
      tier,
      indexName,
      [...starts],
    ]);
    for (const row of rows) {
      const record = rowToRecord(row as Record<string, unknown>);
      const existing = out.get(record.indexKey);
      if (existing === undefined) out.set(record.indexKey, record);
      else mergeRecord(existing, record);
    }
    return out;
  }

  async cleanup(namespace: string, plan: CleanupPlan): Promise<CleanupResult> {
    const result: CleanupResult = { rollupKeysDeleted: 0, intervalStateKeysDeleted: 0, processedEntriesDeleted: 0 };
    const events = plan.events === null ? null : [...plan.events];
    for (const tier of TIERS) {
      const before = plan.before[tier];
      if (before === undefined) continue;
      const { rowCount } = await this.#query("cleaning rollups", this.#sql.cleanupRollups, [
        namespace,
        events,
        tier,
        before - TIER_MS[tier],
      ]);
      result.rollupKeysDeleted += rowCount;
    }
    if (plan.before.intervalState !== undefined) {
      const { rowCount } = await this.#query("cleaning interval state", this.#sql.cleanupState, [
        namespace,
        events,
        plan.before.intervalState,
      ]);
      result.intervalStateKeysDeleted = rowCount;
    }
    if (plan.before.markers !== undefined) {
      const { rowCount } = await this.#query("cleaning markers", this.#sql.cleanupMarkers, [
        namespace,
        events,
        plan.before.markers,
      ]);
      result.processedEntriesDeleted = rowCount;
    }
    return result;
  }

  async readWatermark(key: string): Promise<number | null> {
    const { rows } = await this.#query("reading a watermark", this.#sql.watermarkGet, [key]);
    const ms = (rows[0] as { ms?: unknown } | undefined)?.ms;
    return ms === undefined || ms === null ? null : Number(ms);
  }

  async writeWatermark(key: string, ms: number): Promise<void> {
    await this.#query("writing a watermark", this.#sql.watermarkSet, [key, ms]);
  }

  async close(): Promise<void> {}
}

function randomToken(): string {
  return `${process.pid.toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

function rowToRecord(row: Record<string, unknown>): RollupRecord {
  const indexKey = String(row.index_key);
  return recordFromStored(
    row.tier as Tier,
    Number(row.bucket_start),
    String(row.index_name),
    indexKey,
    fieldsFromColumns(row),
  );
}
