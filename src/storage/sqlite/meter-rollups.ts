/**
 * `SqliteRollups`: the embedded default `MeterRollups` (guarantees in `src/meter/rollups.ts`).
 *
 * A commit is one `BEGIN IMMEDIATE` transaction (`meter-sqlite-commit.ts`), so the processed-entry
 * gate is exact: a retry that reads a different row set can never double count (the gem's JSON
 * rollups could). With a file path (and more than one core) it runs on a commit thread with its
 * own connection (`meter-sqlite-commit-thread.ts`) while reads stay here. WAL with
 * `synchronous=FULL` makes each commit durable before the processor deletes stream rows; processes
 * on one host may share the file (`busy_timeout=5000`). Leases live in a table and use the `now` the
 * caller passes. Merges run in multi-row SQL upserts (`meter-rollup-upserts.ts`); histograms are
 * added by a registered function.
 * Rollup rows name their report by a small integer from `<p>_reports` (inserted once, never
 * deleted, so an id never changes meaning).
 */

import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { TallyError } from "../../errors.ts";
import { checkStoredDefinition, definitionJson } from "../../meter/definition.ts";
import { addHistogramJson } from "../../meter/histogram.ts";
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
import { rollupRows } from "./meter-rollup-rows.ts";
import { type CommitWork, SqliteCommitter } from "./meter-sqlite-commit.ts";
import { CommitThread } from "./meter-sqlite-commit-thread.ts";
import { openSqlite, type SqliteDatabaseLike } from "./meter-sqlite-database.ts";
import { prepareStatements, type Statements, TIER_CODE, TIER_OF_CODE } from "./meter-statements.ts";

export type { SqliteDatabaseLike } from "./meter-sqlite-database.ts";

export interface SqliteRollupsOptions {
  /** Database file; ignored when `database` is given. @default "./tally.db" */
  path?: string;
  /** An open better-sqlite3 database; the caller keeps owning it (close() leaves it open). */
  database?: SqliteDatabaseLike;
  /** Table name prefix. @default "tally_meter" */
  tablePrefix?: string;
  /**
   * Commit on a worker thread with its own connection, so processing overlaps commits (about 1.3x
   * to 1.5x faster processing on two cores). The thread starts with the first processing and stops
   * after 30 s without commits, so the thread and the second connection cost memory only while a
   * processor is busy. Never used with `database` or ":memory:".
   * @default true when the machine has more than one core
   */
  commitThread?: boolean;
}

const SCHEMA_VERSION = "2";
/** A commit thread without work for this long is stopped (the next commit starts another). */
const THREAD_IDLE_MS = 30_000;
const SCHEMA_SQL = readFileSync(new URL("./meter-schema.sql", import.meta.url), "utf8");

function rowToRecord(row: Record<string, unknown>): RollupRecord {
  const indexKey = String(row.index_key);
  const tier = TIER_OF_CODE[Number(row.tier)] ?? "minute";
  return recordFromStored(tier, Number(row.bucket_start), indexNameOfKey(indexKey), indexKey, fieldsFromColumns(row));
}

export class SqliteRollups implements MeterRollups {
  readonly maxEntriesPerCommit = 100_000;
  readonly #path: string;
  readonly #given: SqliteDatabaseLike | undefined;
  readonly #prefix: string;
  #db: SqliteDatabaseLike | null = null;
  #st: Statements | null = null;
  #committer: SqliteCommitter | null = null;
  #opening: Promise<void> | null = null;
  #useThread: boolean;
  #thread: CommitThread | null = null;
  readonly #reportIds = new Map<string, number>();

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
    // A second connection to an in-memory database would open another, empty database.
    const inMemory = this.#path === "" || this.#path.startsWith(":memory:") || this.#path.includes("mode=memory");
    const wanted = options.commitThread ?? availableParallelism() > 1;
    this.#useThread = wanted && this.#given === undefined && !inMemory;
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
      // Check the version before creating anything: another version's tables must stay untouched.
      db.exec(`CREATE TABLE IF NOT EXISTS ${p}_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID`);
      const stored = db.prepare(`SELECT value FROM ${p}_meta WHERE key = 'schema_version'`).get() as
        | { value: string }
        | undefined;
      if (stored !== undefined && stored.value !== SCHEMA_VERSION) {
        throw new TallyError(
          "SCHEMA_MISMATCH",
          `the meter tables ${p}_* have schema version ${stored.value}; this tally expects ${SCHEMA_VERSION}: use another file or tablePrefix`,
        );
      }
      db.exec(SCHEMA_SQL.replaceAll("{{p}}", p));
      db.prepare(`INSERT OR IGNORE INTO ${p}_meta (key, value) VALUES ('schema_version', ?)`).run(SCHEMA_VERSION);
      db.function("tally_hist_add", { deterministic: true }, addHistogramJson);
      this.#st = prepareStatements(db, p);
      this.#committer = new SqliteCommitter(db, p, this.#st);
      this.#db = db;
    } catch (error) {
      if (this.#given === undefined) db.close();
      throw error;
    }
  }

  /** The report's row id; created (inside the caller's transaction) only when `create`. */
  #reportId(ref: ReportRef, create: boolean): number | null {
    const key = `${ref.namespace}\u0000${ref.name}\u0000${ref.version}`;
    const cached = this.#reportIds.get(key);
    if (cached !== undefined) return cached;
    const st = this.#st as Statements;
    if (create) st.reportInsert.run(ref.namespace, ref.name, ref.version);
    const row = st.reportId.get(ref.namespace, ref.name, ref.version) as { id: unknown } | undefined;
    if (row === undefined) return null;
    const id = Number(row.id);
    this.#reportIds.set(key, id);
    return id;
  }

  async #ready(): Promise<Statements> {
    if (this.#st === null) await this.open();
    return this.#st as Statements;
  }

  async ensureDefinition(ref: ReportRef, def: StoredDefinition): Promise<void> {
    const st = await this.#ready();
    // Only a processor ensures a definition, and commits follow: the thread boots meanwhile.
    this.#startThread();
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
    // While the commit thread runs, it holds the write lock commit after commit with only a
    // message's round trip between them: an UPDATE here would wait for the lock in busy_timeout's
    // sleeps and could miss every gap (a lost lease, then LOCK_LOST, seen in a slowed 1 M-event
    // run). Queued on the thread, the renewal runs between two commits.
    const thread = this.#useThread ? this.#thread : null;
    if (thread !== null && thread.failure === null) {
      try {
        return await thread.renew({
          key: lease.key,
          token: lease.token,
          fence: lease.fence,
          expiresAt: now + ttlMs,
          now,
        });
      } catch (error) {
        if (thread.failure === null) throw error;
      }
    }
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
    // The report's id is created in its own statement before the transaction, so a rolled-back
    // commit can never leave a cached id that the database does not hold.
    const report = this.#reportId(ref, true) as number;
    const work: CommitWork = {
      ref: { namespace: ref.namespace, name: ref.name, version: ref.version },
      report,
      rows: rollupRows(batch),
      intervalState: batch.intervalState,
      markers: batch.markers,
      fence: batch.fence,
      now: batch.now,
    };
    const thread = this.#startThread();
    if (thread !== null) {
      try {
        return await thread.commit(work);
      } catch (error) {
        if (thread.failure === null) throw error;
        // The thread is gone: commit here. Its last commit may have committed before it died;
        // then this one conflicts on the markers and the processor skips those rows.
        process.emitWarning(
          `tally SqliteRollups: the commit thread failed, committing on the main thread: ${String(thread.failure.cause)}`,
        );
        this.#useThread = false;
        // The rows' buffers moved to the thread with the failed request.
        work.rows = rollupRows(batch);
      }
    }
    return (this.#committer as SqliteCommitter).commit(work);
  }

  #startThread(): CommitThread | null {
    if (!this.#useThread) return null;
    if (this.#thread === null) {
      const thread = new CommitThread({
        path: this.#path,
        prefix: this.#prefix,
        idleMs: THREAD_IDLE_MS,
        onIdle: () => {
          // Nothing is pending on it (it is idle): the next commit boots a new thread.
          if (this.#thread !== thread) return;
          this.#thread = null;
          void thread.close();
        },
      });
      this.#thread = thread;
    }
    return this.#thread;
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
    const id = this.#reportId(ref, false);
    if (starts.length === 0 || id === null) return [];
    const rows = st.readBuckets.all(id, TIER_CODE[tier], indexNameOfKey(indexKey), JSON.stringify(starts), indexKey);
    return rows.map((row) => rowToRecord(row as Record<string, unknown>));
  }

  async listBuckets(ref: ReportRef, tier: Tier, indexKey: string, limit: number): Promise<RollupRecord[]> {
    const st = await this.#ready();
    const id = this.#reportId(ref, false);
    if (id === null) return [];
    const rows =
      tier === "hour"
        ? st.listHourBuckets.all(id, indexKey, limit)
        : st.listBuckets.all(id, TIER_CODE[tier], indexNameOfKey(indexKey), indexKey, limit);
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
    const id = this.#reportId(ref, false);
    if (starts.length === 0 || id === null) return out;
    for (const row of st.readIndex.all(id, TIER_CODE[tier], indexName, JSON.stringify(starts))) {
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
    const reports = `report IN (SELECT id FROM ${p}_reports WHERE ${scope})`;
    const result: CleanupResult = { rollupKeysDeleted: 0, intervalStateKeysDeleted: 0, processedEntriesDeleted: 0 };
    db.transaction(() => {
      for (const tier of TIERS) {
        const before = plan.before[tier];
        if (before === undefined) continue;
        result.rollupKeysDeleted += db
          .prepare(`DELETE FROM ${p}_rollups WHERE ${reports} AND tier = ? AND bucket_start <= ?`)
          .run(namespace, events, events, TIER_CODE[tier], before - TIER_MS[tier]).changes;
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
    const thread = this.#thread;
    this.#thread = null;
    if (thread !== null) await thread.close();
    const db = this.#db;
    this.#db = null;
    this.#st = null;
    this.#committer = null;
    this.#opening = null;
    this.#reportIds.clear();
    if (db !== null && this.#given === undefined && db.open) db.close();
  }
}
