/**
 * PostgresTrackerStore: the `TrackerStore` contract (src/tracker/tracker-store.ts) on PostgreSQL,
 * the source of truth for multi-host use.
 *
 * - One transaction per `transact`, in two round trips (tracker-sql.ts). The first sends BEGIN,
 *   `SELECT … FROM tracker_groups … FOR UPDATE` (serialising every writer of the group in any
 *   process), then the applied-id check and the rows unless the cached copy is current. Those
 *   two run as later statements of the same message, each with its own snapshot taken while the
 *   lock is already held, so they see every commit of the group. The plan runs; the second round
 *   trip is one statement that writes everything and bumps the version, then COMMIT.
 *   "now" is always a value sent by the caller, never SQL `now()`.
 * - The rows cache is keyed by the group row's version and `xmin` (the transaction that last
 *   wrote it), so a group flushed and rebuilt elsewhere up to the same version is never mistaken
 *   for the cached one.
 * - A group row is created only when a plan writes; a first writer re-checks under the lock and
 *   re-plans if another process created the group meanwhile.
 * - A crash or a dropped connection before COMMIT applies nothing (the server rolls back).
 * - Accepts a `pg.Pool` (a connection per transaction) or a single `pg.Client` (transactions
 *   queued); the store never ends a client it was given.
 * - Tables are created by `migrate()`; missing tables are `STORE_FAILED` naming that fix.
 */

import { readFileSync } from "node:fs";
import { TallyError } from "../../errors.ts";
import type { StoredTracker } from "../../tracker/stored-tracker.ts";
import {
  applyRowChanges,
  type TrackerStore,
  type TrackerStorePlan,
  type TrackerStoreView,
  type TransactOptions,
} from "../../tracker/tracker-store.ts";
import { fill, literal, numberLiteral, textArray } from "./tracker-sql.ts";

/**
 * The slice of a pg client this store uses. A query without params goes through pg's simple
 * protocol and may hold several statements: pg then resolves with one result per statement.
 */
export interface PgTrackerQueryable {
  query(text: string, params?: unknown[]): Promise<PgTrackerResult | PgTrackerResult[]>;
}
export interface PgTrackerResult {
  rows: Record<string, unknown>[];
}
export interface PgTrackerPoolLike extends PgTrackerQueryable {
  connect(): Promise<PgTrackerQueryable & { release(error?: Error | boolean): void }>;
  readonly totalCount: number;
}

export interface PostgresTrackerStoreOptions {
  /** A `pg.Pool` (recommended) or a connected `pg.Client`; never ended by the store. */
  client: PgTrackerPoolLike | PgTrackerQueryable;
  /** Schema of the tables. @default the connection's search_path */
  schema?: string;
  /** Crash tests only: called after the writes and before COMMIT (then sent as two round trips). */
  onBeforeCommit?: () => void;
}

const SCHEMA_SQL = readFileSync(new URL("./tracker-schema.sql", import.meta.url), "utf8");
const WRITE_SQL = readFileSync(new URL("./tracker-write.sql", import.meta.url), "utf8");
const CACHE_GROUPS = 1000;
const EMPTY_SET: ReadonlySet<string> = new Set();
type Cached = { version: number; tag: string; rows: StoredTracker[] };
const ROW_COLUMNS = `name, seq::double precision AS seq, type, schema_version, definition, state, expires_at,
  version::double precision AS version, created_at, updated_at`;

export class PostgresTrackerStore implements TrackerStore {
  readonly capabilities = Object.freeze({ crossProcess: true, durable: true });
  readonly #client: PgTrackerPoolLike | PgTrackerQueryable;
  readonly #pool: boolean;
  readonly #q: string;
  readonly #sql: Record<
    "lock" | "createGroup" | "rows" | "rowsUnlessCached" | "named" | "applied" | "write" | "expired",
    string
  >;
  readonly #onBeforeCommit: (() => void) | undefined;
  readonly #cache = new Map<string, Cached>();
  #serial: Promise<unknown> = Promise.resolve();
  #commits = 0;
  #closed = false;

  constructor(opts: PostgresTrackerStoreOptions) {
    if (opts?.client === undefined || typeof opts.client.query !== "function") {
      throw new TallyError(
        "INVALID_ARGUMENT",
        "PostgresTrackerStore needs { client }: a pg.Pool or a connected pg.Client",
      );
    }
    if (opts.schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(opts.schema)) {
      throw new TallyError("INVALID_ARGUMENT", `schema ${JSON.stringify(opts.schema)} must be a plain identifier`);
    }
    this.#client = opts.client;
    this.#pool = "totalCount" in opts.client && typeof (opts.client as PgTrackerPoolLike).connect === "function";
    this.#q = opts.schema === undefined ? "" : `"${opts.schema}".`;
    const s = this.#q;
    this.#sql = {
      lock: `SELECT version::double precision AS version, xmin::text AS tag FROM ${s}tracker_groups WHERE group_id = $1 FOR UPDATE`,
      createGroup: `INSERT INTO ${s}tracker_groups (group_id) VALUES ($1) ON CONFLICT (group_id) DO NOTHING`,
      rows: `SELECT ${ROW_COLUMNS} FROM ${s}trackers WHERE group_id = $1 ORDER BY seq`,
      rowsUnlessCached: `SELECT ${ROW_COLUMNS} FROM ${s}trackers WHERE group_id = $1 AND NOT EXISTS
        (SELECT 1 FROM ${s}tracker_groups WHERE group_id = $1 AND version = $2 AND xmin::text = $3) ORDER BY seq`,
      named: `SELECT ${ROW_COLUMNS} FROM ${s}trackers WHERE group_id = $1 AND name = ANY($2::text[]) ORDER BY seq`,
      applied: `SELECT event_id FROM ${s}tracker_event_ids WHERE group_id = $1 AND event_id = ANY($2::text[]) AND applied_at > $3`,
      write: WRITE_SQL.replaceAll("{s}", s),
      expired: `SELECT group_id, name FROM ${s}trackers WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2`,
    };
    this.#onBeforeCommit = opts.onBeforeCommit;
  }

  /** Creates the schema (if named) and the tables, idempotently and safely from many processes. */
  async migrate(): Promise<void> {
    await this.#withConnection(async (c) => {
      await c.query("BEGIN");
      try {
        await c.query("SELECT pg_advisory_xact_lock(hashtext('tally.tracker.migrate'))");
        if (this.#q !== "") await c.query(`CREATE SCHEMA IF NOT EXISTS ${this.#q.slice(0, -1)}`);
        await c.query(SCHEMA_SQL.replaceAll("{s}", this.#q));
        await c.query("COMMIT");
      } catch (error) {
        await c.query("ROLLBACK").catch(() => {});
        throw failed("migrate", error);
      }
    });
  }

  transact<T>(
    groupId: string,
    opts: TransactOptions,
    plan: (view: TrackerStoreView) => TrackerStorePlan<T>,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(closed());
    return this.#withConnection((c) => this.#transact(c, groupId, opts, plan));
  }

  async #transact<T>(
    c: PgTrackerQueryable,
    groupId: string,
    opts: TransactOptions,
    plan: (view: TrackerStoreView) => TrackerStorePlan<T>,
  ): Promise<T> {
    const group = literal(groupId);
    const minApplied = numberLiteral(opts.now - opts.eventIdTtlMs);
    const ids = opts.eventIds ?? [];
    try {
      let view = await this.#open(c, groupId, "BEGIN", ids, minApplied, this.#cache.get(groupId));
      for (;;) {
        const out = plan(view.view);
        if (out.upsert.length === 0 && out.remove.length === 0 && out.record.length === 0) {
          await c.query("COMMIT");
          return out.result;
        }
        if (view.tag === undefined) {
          // First write of a new group: create its row, lock it, and re-plan if someone beat us to it.
          view = await this.#open(c, groupId, fill(this.#sql.createGroup, [group]), ids, minApplied, undefined);
          if (view.view.version !== 0) continue;
        }
        const write = fill(this.#sql.write, [
          group,
          literal(JSON.stringify(out.upsert)),
          textArray(out.remove),
          numberLiteral(opts.now),
          textArray(out.record),
          ++this.#commits % 64 === 0 ? "true" : "false",
          minApplied,
        ]);
        let written: PgTrackerResult;
        if (this.#onBeforeCommit === undefined) {
          written = ((await c.query(`${write};\nCOMMIT`)) as PgTrackerResult[])[0] as PgTrackerResult;
        } else {
          written = (await c.query(write)) as PgTrackerResult;
          this.#onBeforeCommit();
          await c.query("COMMIT");
        }
        const next = written.rows[0] as { version: number; tag: string };
        this.#remember(groupId, {
          version: next.version,
          tag: next.tag,
          rows: applyRowChanges(view.view.rows, out.upsert, out.remove),
        });
        return out.result;
      }
    } catch (error) {
      await c.query("ROLLBACK").catch(() => {});
      this.#cache.delete(groupId);
      throw failed("transaction", error);
    }
  }

  /**
   * One round trip: `first` (BEGIN, or the new group's INSERT), the lock, then under the lock the
   * applied ids and the rows (none sent back when `cached` is still current).
   */
  async #open(
    c: PgTrackerQueryable,
    groupId: string,
    first: string,
    ids: readonly string[],
    minApplied: string,
    cached: Cached | undefined,
  ): Promise<{ view: TrackerStoreView; tag: string | undefined }> {
    const group = literal(groupId);
    const sql = [first, fill(this.#sql.lock, [group])];
    if (ids.length > 0) sql.push(fill(this.#sql.applied, [group, textArray(ids), minApplied]));
    sql.push(
      cached === undefined
        ? fill(this.#sql.rows, [group])
        : fill(this.#sql.rowsUnlessCached, [group, numberLiteral(cached.version), literal(cached.tag)]),
    );
    const results = (await c.query(sql.join(";\n"))) as PgTrackerResult[];
    const locked = (results[1] as PgTrackerResult).rows[0] as { version: number; tag: string } | undefined;
    if (locked === undefined) return { view: { rows: [], applied: EMPTY_SET, version: 0 }, tag: undefined };
    let applied = EMPTY_SET;
    if (ids.length > 0) {
      const found = (results[2] as PgTrackerResult).rows;
      if (found.length > 0) applied = new Set(found.map((r) => r.event_id as string));
    }
    let rows: StoredTracker[];
    if (cached !== undefined && cached.version === locked.version && cached.tag === locked.tag) rows = cached.rows;
    else {
      rows = (results[results.length - 1] as PgTrackerResult).rows.map((r) => toRow(groupId, r));
      this.#remember(groupId, { version: locked.version, tag: locked.tag, rows });
    }
    return { view: { rows, applied, version: locked.version }, tag: locked.tag };
  }

  #remember(groupId: string, cached: Cached): void {
    this.#cache.delete(groupId);
    this.#cache.set(groupId, cached);
    if (this.#cache.size > CACHE_GROUPS) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
  }

  async read(groupId: string, names?: readonly string[]): Promise<StoredTracker[]> {
    if (this.#closed) throw closed();
    try {
      const result =
        names === undefined
          ? await this.#query(this.#sql.rows, [groupId])
          : await this.#query(this.#sql.named, [groupId, [...names]]);
      return result.rows.map((r) => toRow(groupId, r));
    } catch (error) {
      throw failed("read", error);
    }
  }

  async listExpired(now: number, limit: number): Promise<{ groupId: string; name: string }[]> {
    if (this.#closed) throw closed();
    try {
      const result = await this.#query(this.#sql.expired, [now, limit]);
      return result.rows.map((r) => ({ groupId: r.group_id as string, name: r.name as string }));
    } catch (error) {
      throw failed("listExpired", error);
    }
  }

  async flush(): Promise<void> {
    if (this.#closed) throw closed();
    const s = this.#q;
    await this.#withConnection(async (c) => {
      try {
        await c.query("BEGIN");
        await c.query(`DELETE FROM ${s}trackers`);
        await c.query(`DELETE FROM ${s}tracker_event_ids`);
        await c.query(`DELETE FROM ${s}tracker_groups`);
        await c.query("COMMIT");
      } catch (error) {
        await c.query("ROLLBACK").catch(() => {});
        throw failed("flush", error);
      }
    });
    this.#cache.clear();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#serial.catch(() => {});
    this.#cache.clear();
  }

  async #query(text: string, params: unknown[]): Promise<PgTrackerResult> {
    if (this.#pool) return (await this.#client.query(text, params)) as PgTrackerResult;
    return (await this.#withConnection((c) => c.query(text, params))) as PgTrackerResult;
  }

  /** A pooled connection per call, or the single client with calls queued one at a time. */
  async #withConnection<T>(fn: (c: PgTrackerQueryable) => Promise<T>): Promise<T> {
    if (this.#pool) {
      let c: PgTrackerQueryable & { release(error?: Error | boolean): void };
      try {
        c = await (this.#client as PgTrackerPoolLike).connect();
      } catch (error) {
        throw failed("connect", error);
      }
      let broken: Error | undefined;
      try {
        return await fn(c);
      } catch (error) {
        broken = error instanceof TallyError && isConnectionError(error.cause) ? (error.cause as Error) : undefined;
        throw error;
      } finally {
        c.release(broken ?? false);
      }
    }
    const run = this.#serial.then(() => fn(this.#client));
    this.#serial = run.catch(() => {});
    return run;
  }
}

function toRow(groupId: string, r: Record<string, unknown>): StoredTracker {
  return {
    schemaVersion: r.schema_version as number,
    type: r.type as string,
    groupId,
    name: r.name as string,
    seq: r.seq as number,
    version: r.version as number,
    definition: r.definition as StoredTracker["definition"],
    state: r.state as StoredTracker["state"],
    expiresAt: (r.expires_at ?? null) as number | null,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
}

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code !== "string" || !/^[0-9A-Z]{5}$/.test(code);
}

function closed(): TallyError {
  return new TallyError("STORE_FAILED", "this PostgresTrackerStore is closed");
}

function failed(what: string, cause: unknown): TallyError {
  if (cause instanceof TallyError) return cause;
  const code = (cause as { code?: unknown })?.code;
  const hint = code === "42P01" ? ": the tracker tables are missing, run `await store.migrate()` once" : "";
  return new TallyError(
    "STORE_FAILED",
    `PostgreSQL tracker store ${what} failed${hint}: ${String(cause)}; nothing was applied`,
    {
      cause,
      details: { code },
    },
  );
}
