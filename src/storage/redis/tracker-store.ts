/**
 * RedisTrackerStore: the `TrackerStore` contract (src/tracker/tracker-store.ts) on Redis.
 *
 * - Layout: one hash per group, `{prefix}:trk:{<group>}`, with a JSON field `t:<name>` per tracker
 *   and `_v` (the version); applied ids in the sorted set `{prefix}:trk:{<group>}:eid` scored by
 *   apply time. The shared hash tag keeps a group in one cluster slot; `{`, `}` and `%` in group
 *   ids are percent-escaped.
 * - Writes: one `transact` per group at a time per store object; it reads with one script (rows only when the version differs from the cached
 *   one), plans in TypeScript, then one compare-and-set script checks `_v`, writes, records and
 *   trims ids and bumps `_v`. On a version mismatch it re-reads and retries with jitter, up to
 *   `maxRetries`, then fails with `STORE_FAILED` (`details.reason: "contention"`), having applied
 *   nothing. A plan may therefore run more than once.
 * - Expiry index: the sorted set `{prefix}:trk:expiry`, maintained after the commit; a lost entry
 *   only delays a sweep, because expiry is also enforced on access.
 * - Durability is the server's (AOF everysec loses about a second of acknowledged updates in a
 *   crash). The store never connects, quits or reconfigures the client it was given.
 */

import { TallyError } from "../../errors.ts";
import type { StoredTracker } from "../../tracker/stored-tracker.ts";
import {
  applyRowChanges,
  type TrackerStore,
  type TrackerStorePlan,
  type TrackerStoreView,
  type TransactOptions,
} from "../../tracker/tracker-store.ts";
import { LuaScript } from "./lua-script.ts";
import { type IoRedisLike, type NodeRedisLike, type RedisCommandRunner, toCommandRunner } from "./redis-client.ts";

export interface RedisTrackerStoreOptions {
  /** An ioredis or node-redis client, or a `RedisCommandRunner`; never closed by the store. */
  client: RedisCommandRunner | NodeRedisLike | IoRedisLike;
  /** Key prefix (the namespace `flush` empties). @default "tally" */
  prefix?: string;
  /** Compare-and-set attempts before STORE_FAILED. @default 10 */
  maxRetries?: number;
  /** Crash tests only: called after planning, before the commit script is sent. */
  onBeforeCommit?: () => void;
}

const READ = LuaScript.fromFile("./tracker-read.lua", import.meta.url);
const COMMIT = LuaScript.fromFile("./tracker-commit.lua", import.meta.url);
const CACHE_GROUPS = 1000;
const EMPTY_SET: ReadonlySet<string> = new Set();

export class RedisTrackerStore implements TrackerStore {
  readonly capabilities = Object.freeze({ crossProcess: true, durable: true });
  readonly #runner: RedisCommandRunner;
  readonly #prefix: string;
  readonly #maxRetries: number;
  readonly #onBeforeCommit: (() => void) | undefined;
  readonly #cache = new Map<string, { version: string; rows: StoredTracker[] }>();
  readonly #groupTails = new Map<string, Promise<void>>();
  #closed = false;

  constructor(opts: RedisTrackerStoreOptions) {
    if (opts?.client === undefined || opts.client === null) {
      throw new TallyError("INVALID_ARGUMENT", "RedisTrackerStore needs { client }: an ioredis or node-redis client");
    }
    this.#runner = toCommandRunner(opts.client);
    this.#prefix = opts.prefix ?? "tally";
    if (typeof this.#prefix !== "string" || this.#prefix.length === 0) {
      throw new TallyError("INVALID_ARGUMENT", "prefix must be a non-empty string");
    }
    this.#maxRetries = opts.maxRetries ?? 10;
    this.#onBeforeCommit = opts.onBeforeCommit;
  }

  #keys(groupId: string): [string, string] {
    const hash = `${this.#prefix}:trk:{${groupId.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}}`;
    return [hash, `${hash}:eid`];
  }

  get #expiryKey(): string {
    return `${this.#prefix}:trk:expiry`;
  }

  /**
   * Transactions of one group from this store object run one at a time, so the compare-and-set
   * only contends with other processes (or other store objects), never with this one's own calls.
   */
  transact<T>(
    groupId: string,
    opts: TransactOptions,
    plan: (view: TrackerStoreView) => TrackerStorePlan<T>,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(closed());
    const previous = this.#groupTails.get(groupId);
    const run =
      previous === undefined
        ? this.#transact(groupId, opts, plan)
        : previous.then(() => this.#transact(groupId, opts, plan));
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#groupTails.set(groupId, tail);
    void tail.then(() => {
      if (this.#groupTails.get(groupId) === tail) this.#groupTails.delete(groupId);
    });
    return run;
  }

  async #transact<T>(
    groupId: string,
    opts: TransactOptions,
    plan: (view: TrackerStoreView) => TrackerStorePlan<T>,
  ): Promise<T> {
    if (this.#closed) throw closed();
    const keys = this.#keys(groupId);
    const minApplied = String(opts.now - opts.eventIdTtlMs);
    const ids = opts.eventIds ?? [];
    for (let attempt = 0; ; attempt++) {
      let reply: [string, string, string[], string[]];
      try {
        const cached = this.#cache.get(groupId);
        reply = (await READ.run(this.#runner, keys, [cached?.version ?? "", minApplied, ...ids])) as typeof reply;
      } catch (error) {
        throw failed("read", error);
      }
      const [version, included, fields, appliedIds] = reply;
      const rows = included === "1" ? parseRows(fields) : (this.#cache.get(groupId)?.rows ?? []);
      if (included === "1") this.#remember(groupId, version, rows);
      const applied = appliedIds.length === 0 ? EMPTY_SET : new Set(appliedIds);
      const out = plan({ rows, applied, version: Number(version) });
      if (out.upsert.length === 0 && out.remove.length === 0 && out.record.length === 0) return out.result;
      const args: string[] = [version, String(opts.now), minApplied, String(out.upsert.length)];
      for (const row of out.upsert) args.push(`t:${row.name}`, JSON.stringify(row));
      args.push(String(out.remove.length), ...out.remove.map((n) => `t:${n}`));
      args.push(String(out.record.length), ...out.record);
      this.#onBeforeCommit?.();
      let result: unknown;
      try {
        result = await COMMIT.run(this.#runner, keys, args);
      } catch (error) {
        this.#cache.delete(groupId);
        throw failed("commit", error);
      }
      const next = Number(result);
      if (next >= 0) {
        this.#remember(groupId, String(next), applyRowChanges(rows, out.upsert, out.remove));
        await this.#index(groupId, out.upsert, out.remove);
        return out.result;
      }
      this.#cache.delete(groupId);
      if (attempt + 1 >= this.#maxRetries) {
        throw new TallyError(
          "STORE_FAILED",
          `Redis tracker group "${groupId}" kept changing under ${this.#maxRetries} attempts; nothing was applied: retry (with the same eventId)`,
          { details: { reason: "contention", groupId } },
        );
      }
      await sleep(Math.random() * Math.min(100, 2 ** (attempt + 1)));
    }
  }

  /** Best effort after the commit: a lost entry only delays a sweep. */
  async #index(groupId: string, upsert: readonly StoredTracker[], remove: readonly string[]): Promise<void> {
    const add: string[] = [];
    const drop: string[] = remove.map((name) => JSON.stringify([groupId, name]));
    for (const row of upsert) {
      if (row.expiresAt !== null) add.push(String(row.expiresAt), JSON.stringify([groupId, row.name]));
    }
    try {
      if (add.length > 0) await this.#runner.run(["ZADD", this.#expiryKey, ...add], this.#expiryKey);
      if (drop.length > 0) await this.#runner.run(["ZREM", this.#expiryKey, ...drop], this.#expiryKey);
    } catch {
      // expiry is also enforced on access
    }
  }

  #remember(groupId: string, version: string, rows: StoredTracker[]): void {
    this.#cache.delete(groupId);
    this.#cache.set(groupId, { version, rows });
    if (this.#cache.size > CACHE_GROUPS) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
  }

  async read(groupId: string, names?: readonly string[]): Promise<StoredTracker[]> {
    if (this.#closed) throw closed();
    const [hash] = this.#keys(groupId);
    let fields: string[];
    try {
      fields = (await this.#runner.run(["HGETALL", hash], hash)) as string[];
    } catch (error) {
      throw failed("read", error);
    }
    const rows = parseRows(normalizeHash(fields));
    if (names === undefined) return rows;
    const wanted = new Set(names);
    return rows.filter((r) => wanted.has(r.name));
  }

  async listExpired(now: number, limit: number): Promise<{ groupId: string; name: string }[]> {
    if (this.#closed) throw closed();
    const key = this.#expiryKey;
    try {
      const members = (await this.#runner.run(
        ["ZRANGEBYSCORE", key, "-inf", String(now), "LIMIT", "0", String(limit)],
        key,
      )) as string[];
      return members.map((m) => {
        const [groupId, name] = JSON.parse(m) as [string, string];
        return { groupId, name };
      });
    } catch (error) {
      throw failed("listExpired", error);
    }
  }

  async flush(): Promise<void> {
    if (this.#closed) throw closed();
    const pattern = `${this.#prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}:trk:*`;
    try {
      let cursor = "0";
      do {
        const [next, keys] = (await this.#runner.run(["SCAN", cursor, "MATCH", pattern, "COUNT", "500"], "")) as [
          string,
          string[],
        ];
        cursor = next;
        for (const key of keys) await this.#runner.run(["DEL", key], key);
      } while (cursor !== "0");
    } catch (error) {
      throw failed("flush", error);
    }
    this.#cache.clear();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#cache.clear();
  }
}

/** HGETALL may come back as a flat array (RESP2) or an object (some clients). */
function normalizeHash(reply: unknown): string[] {
  if (Array.isArray(reply)) return reply as string[];
  if (reply !== null && typeof reply === "object") return Object.entries(reply as Record<string, string>).flat();
  return [];
}

function parseRows(fields: string[]): StoredTracker[] {
  const rows: StoredTracker[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const field = fields[i] as string;
    if (field.startsWith("t:")) rows.push(JSON.parse(fields[i + 1] as string) as StoredTracker);
  }
  return rows.sort((a, b) => a.seq - b.seq);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function closed(): TallyError {
  return new TallyError("STORE_FAILED", "this RedisTrackerStore is closed");
}

function failed(what: string, cause: unknown): TallyError {
  if (cause instanceof TallyError) return cause;
  return new TallyError("STORE_FAILED", `Redis tracker store ${what} failed: ${String(cause)}`, { cause });
}
