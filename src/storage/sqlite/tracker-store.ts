/**
 * SqliteTrackerStore: the `TrackerStore` contract (src/tracker/tracker-store.ts) on one SQLite
 * file through better-sqlite3 (synchronous, so a `transact` runs whole inside the call).
 *
 * - Each `transact` is one `BEGIN IMMEDIATE` transaction: it takes the file's write lock first, so
 *   every writer of any group in any process is serialised (WAL mode, busy timeout). A crash
 *   before COMMIT leaves nothing: SQLite rolls the transaction back when the file is next opened.
 * - Durability follows `synchronous`: FULL (default) survives power loss; NORMAL (opt-in, faster)
 *   may lose the last commits on power loss, never on a process crash.
 * - Rows are stored as their JSON document; a group's parsed rows are cached by group version, so
 *   an unchanged group costs one indexed read of its version.
 * - `close()` closes the database only if this store opened it (from `path`).
 */

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { TallyError } from "../../errors.ts";
import type { StoredTracker } from "../../tracker/stored-tracker.ts";
import {
  applyRowChanges,
  type TrackerStore,
  type TrackerStorePlan,
  type TrackerStoreView,
  type TransactOptions,
} from "../../tracker/tracker-store.ts";

/** The slice of a better-sqlite3 statement this store uses. */
export interface SqliteTrackerStatement {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
/** The slice of a better-sqlite3 `Database` this store uses. */
export interface SqliteTrackerDatabase {
  prepare(sql: string): SqliteTrackerStatement;
  exec(sql: string): unknown;
  pragma(sql: string): unknown;
  close(): unknown;
}

export interface SqliteTrackerStoreOptions {
  /** An open better-sqlite3 database (you keep ownership), or … */
  db?: SqliteTrackerDatabase;
  /** … a file path this store opens (and closes) itself. */
  path?: string;
  /** Prefix of the three tables. @default "tally_" */
  tablePrefix?: string;
  /** @default "full" */
  synchronous?: "full" | "normal";
  /** How long to wait for another process's write lock. @default 10000 */
  busyTimeoutMs?: number;
  /** Crash tests only: called after the writes and before COMMIT. */
  onBeforeCommit?: () => void;
}

const SCHEMA = readFileSync(new URL("./tracker-schema.sql", import.meta.url), "utf8");
const CACHE_GROUPS = 1000;
const EMPTY_SET: ReadonlySet<string> = new Set();

export class SqliteTrackerStore implements TrackerStore {
  readonly capabilities = Object.freeze({ crossProcess: true, durable: true });
  readonly #db: SqliteTrackerDatabase;
  readonly #owned: boolean;
  readonly #onBeforeCommit: (() => void) | undefined;
  readonly #cache = new Map<string, { version: number; rows: StoredTracker[] }>();
  readonly #s: Record<
    | "begin"
    | "commit"
    | "rollback"
    | "version"
    | "rows"
    | "named"
    | "applied"
    | "upsert"
    | "remove"
    | "record"
    | "prune"
    | "bump"
    | "expired",
    SqliteTrackerStatement
  >;
  readonly #flushSql: string;
  #commits = 0;
  #closed = false;

  constructor(opts: SqliteTrackerStoreOptions) {
    if ((opts.db === undefined) === (opts.path === undefined)) {
      throw new TallyError(
        "INVALID_ARGUMENT",
        "SqliteTrackerStore takes exactly one of { db } (an open better-sqlite3 Database) or { path }",
      );
    }
    const prefix = opts.tablePrefix ?? "tally_";
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,40}$/.test(prefix)) {
      throw new TallyError("INVALID_ARGUMENT", `tablePrefix ${JSON.stringify(prefix)} must be letters, digits and _`);
    }
    try {
      if (opts.db !== undefined) {
        this.#db = opts.db;
        this.#owned = false;
      } else {
        const Database = createRequire(import.meta.url)("better-sqlite3") as new (
          path: string,
        ) => SqliteTrackerDatabase;
        this.#db = new Database(opts.path as string);
        this.#owned = true;
      }
      const db = this.#db;
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 10_000))}`);
      db.pragma("journal_mode = WAL");
      db.pragma(`synchronous = ${opts.synchronous === "normal" ? "NORMAL" : "FULL"}`);
      db.exec(SCHEMA.replaceAll("{p}", prefix));
      const g = `${prefix}tracker_groups`;
      const t = `${prefix}trackers`;
      const e = `${prefix}tracker_event_ids`;
      this.#s = {
        begin: db.prepare("BEGIN IMMEDIATE"),
        commit: db.prepare("COMMIT"),
        rollback: db.prepare("ROLLBACK"),
        version: db.prepare(`SELECT version FROM ${g} WHERE group_id = ?`),
        rows: db.prepare(`SELECT doc FROM ${t} WHERE group_id = ? ORDER BY seq`),
        named: db.prepare(
          `SELECT doc FROM ${t} WHERE group_id = ? AND name IN (SELECT value FROM json_each(?)) ORDER BY seq`,
        ),
        // CROSS JOIN pins the loop order: one primary-key probe per asked id. Left to itself the
        // planner may walk the (group_id, applied_at) index instead: every id of the TTL window.
        applied: db.prepare(
          `SELECT x.event_id FROM json_each(?) AS j CROSS JOIN ${e} AS x
           WHERE x.group_id = ? AND x.event_id = j.value AND x.applied_at > ?`,
        ),
        upsert: db.prepare(
          `INSERT INTO ${t} (group_id, name, seq, expires_at, doc) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (group_id, name) DO UPDATE SET seq = excluded.seq, expires_at = excluded.expires_at, doc = excluded.doc`,
        ),
        remove: db.prepare(`DELETE FROM ${t} WHERE group_id = ? AND name = ?`),
        record: db.prepare(
          `INSERT INTO ${e} (group_id, event_id, applied_at) SELECT ?, value, ? FROM json_each(?) WHERE true
           ON CONFLICT (group_id, event_id) DO UPDATE SET applied_at = excluded.applied_at`,
        ),
        prune: db.prepare(`DELETE FROM ${e} WHERE group_id = ? AND applied_at <= ?`),
        bump: db.prepare(
          `INSERT INTO ${g} (group_id, version) VALUES (?, ?) ON CONFLICT (group_id) DO UPDATE SET version = excluded.version`,
        ),
        expired: db.prepare(`SELECT group_id, name FROM ${t} WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?`),
      };
      this.#flushSql = `DELETE FROM ${t}; DELETE FROM ${e}; DELETE FROM ${g};`;
    } catch (cause) {
      if (cause instanceof TallyError) throw cause;
      throw new TallyError("STORE_FAILED", `opening the SQLite tracker store failed: ${String(cause)}`, { cause });
    }
    this.#onBeforeCommit = opts.onBeforeCommit;
  }

  transact<T>(
    groupId: string,
    opts: TransactOptions,
    plan: (view: TrackerStoreView) => TrackerStorePlan<T>,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(closed());
    const s = this.#s;
    try {
      s.begin.run();
    } catch (cause) {
      return Promise.reject(failed("BEGIN", cause));
    }
    try {
      const version = ((s.version.get(groupId) as { version: number } | undefined)?.version ?? 0) as number;
      const cached = this.#cache.get(groupId);
      const rows =
        cached !== undefined && cached.version === version
          ? cached.rows
          : (s.rows.all(groupId) as { doc: string }[]).map((r) => JSON.parse(r.doc) as StoredTracker);
      const minApplied = opts.now - opts.eventIdTtlMs;
      let applied = EMPTY_SET;
      if (opts.eventIds !== undefined && opts.eventIds.length > 0) {
        const found = s.applied.all(JSON.stringify(opts.eventIds), groupId, minApplied) as { event_id: string }[];
        if (found.length > 0) applied = new Set(found.map((r) => r.event_id));
      }
      const out = plan({ rows, applied, version });
      let nextVersion = version;
      let nextRows = rows;
      if (out.upsert.length > 0 || out.remove.length > 0 || out.record.length > 0) {
        for (const row of out.upsert) s.upsert.run(groupId, row.name, row.seq, row.expiresAt, JSON.stringify(row));
        for (const name of out.remove) s.remove.run(groupId, name);
        if (out.record.length > 0) s.record.run(groupId, opts.now, JSON.stringify(out.record));
        if (out.record.length > 0 && ++this.#commits % 64 === 0) s.prune.run(groupId, minApplied);
        nextVersion = version + 1;
        s.bump.run(groupId, nextVersion);
        nextRows = applyRowChanges(rows, out.upsert, out.remove);
        this.#onBeforeCommit?.();
      }
      s.commit.run();
      this.#remember(groupId, nextVersion, nextRows);
      return Promise.resolve(out.result);
    } catch (cause) {
      try {
        s.rollback.run();
      } catch {
        // the transaction may already be gone (e.g. SQLITE_BUSY rolled it back)
      }
      this.#cache.delete(groupId);
      return Promise.reject(failed("transaction", cause));
    }
  }

  #remember(groupId: string, version: number, rows: StoredTracker[]): void {
    this.#cache.delete(groupId);
    this.#cache.set(groupId, { version, rows });
    if (this.#cache.size > CACHE_GROUPS) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
  }

  read(groupId: string, names?: readonly string[]): Promise<StoredTracker[]> {
    if (this.#closed) return Promise.reject(closed());
    try {
      const raw =
        names === undefined
          ? (this.#s.rows.all(groupId) as { doc: string }[])
          : (this.#s.named.all(groupId, JSON.stringify(names)) as { doc: string }[]);
      return Promise.resolve(raw.map((r) => JSON.parse(r.doc) as StoredTracker));
    } catch (cause) {
      return Promise.reject(failed("read", cause));
    }
  }

  listExpired(now: number, limit: number): Promise<{ groupId: string; name: string }[]> {
    if (this.#closed) return Promise.reject(closed());
    try {
      const found = this.#s.expired.all(now, limit) as { group_id: string; name: string }[];
      return Promise.resolve(found.map((r) => ({ groupId: r.group_id, name: r.name })));
    } catch (cause) {
      return Promise.reject(failed("listExpired", cause));
    }
  }

  flush(): Promise<void> {
    if (this.#closed) return Promise.reject(closed());
    try {
      this.#db.exec(`BEGIN IMMEDIATE; ${this.#flushSql} COMMIT;`);
      this.#cache.clear();
      return Promise.resolve();
    } catch (cause) {
      return Promise.reject(failed("flush", cause));
    }
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#cache.clear();
    if (this.#owned) this.#db.close();
    return Promise.resolve();
  }
}

function closed(): TallyError {
  return new TallyError("STORE_FAILED", "this SqliteTrackerStore is closed");
}

function failed(what: string, cause: unknown): TallyError {
  return new TallyError("STORE_FAILED", `SQLite tracker store ${what} failed: ${String(cause)}; nothing was applied`, {
    cause,
  });
}
