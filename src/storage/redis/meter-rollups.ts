/**
 * `RedisRollups`: the meter's rollups in Redis (guarantees in `src/meter/rollups.ts`).
 *
 * - `commit` is one Lua script (`meter-commit.lua`, EVALSHA with a NOSCRIPT fallback): it checks
 *   the fence and every marker's expected high-water first and writes nothing on a mismatch, then
 *   sets the markers, merges each bucket hash (counters and histogram fields `d:<i>`/`i:<i>` add,
 *   min/max compare, damaged values count as 0 or absent), raises interval state and sets TTLs.
 *   Redis runs a script alone, so the gate is exact across any number of processors.
 * - Every key of a report shares the hash tag `{<ns>:report:<name>:v<N>}` (the report's lease key),
 *   so the script and the fence it reads live on one Cluster slot; see `meter-keys.ts`.
 * - Leases (`meter-lease.lua`) are `"<fence>:<token>"` strings with `PX`, so they expire by the
 *   server clock; the fence is an `INCR` counter that never expires.
 * - TTLs (`ttl`, default the meter's retention): a bucket lives `retention[tier]` past its end,
 *   interval state and markers `intervalState`/`minute` retention past their last write. `cleanup`
 *   deletes earlier by the same predicates as the other stores, guarded against concurrent commits.
 * - The client is the caller's: `close()` never quits it.
 */

import { LockLostError, TallyError } from "../../errors.ts";
import { checkStoredDefinition, definitionJson } from "../../meter/definition.ts";
import { indexNameOfKey } from "../../meter/index-key.ts";
import { mergeRecord, recordFromStored, type StoredFields } from "../../meter/rollup-record.ts";
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
import { type Duration, toMs } from "../../time/duration.ts";
import { LuaScript } from "./lua-script.ts";
import { commitArgs, type Ttls } from "./meter-commit-args.ts";
import { leaseKeys, ReportKeys, reportsKey, watermarkKey } from "./meter-keys.ts";
import { arrayReply, hashReply } from "./meter-replies.ts";
import { type IoRedisLike, type NodeRedisLike, type RedisCommandRunner, runnerOfOptions } from "./redis-client.ts";

const COMMIT = LuaScript.fromFile("meter-commit.lua", import.meta.url);
const LEASE = LuaScript.fromFile("meter-lease.lua", import.meta.url);
const PRUNE = LuaScript.fromFile("meter-prune.lua", import.meta.url);
const NAME = "RedisRollups";

export interface RedisRollupsTtl {
  minute?: Duration;
  hour?: Duration;
  day?: Duration;
  intervalState?: Duration;
}

export interface RedisRollupsOptions {
  /** ioredis, node-redis, or a `RedisCommandRunner`; the caller owns it. */
  client: RedisCommandRunner | NodeRedisLike | IoRedisLike;
  /**
   * Expiry of buckets past their end, per tier, and of interval state; markers use the minute value.
   * A single duration sets all; `null` keeps everything until `cleanup`.
   * @default { minute: "31d", hour: "400d", day: "1825d", intervalState: "400d" }
   */
  ttl?: Duration | RedisRollupsTtl | null;
  /** Prepended to every key (no braces). @default "" */
  keyPrefix?: string;
  /** Stream entries per commit script; bounds how long one script blocks Redis. @default 10000 */
  maxEntriesPerCommit?: number;
}

const DEFAULT_TTL = { minute: "31d", hour: "400d", day: "1825d", intervalState: "400d" } as const;

const FIELD_NAMES: readonly (keyof StoredFields)[] = [
  "count",
  "successCount",
  "failureCount",
  "skippedCount",
  "startedAtMin",
  "startedAtMax",
  "durationMsCount",
  "durationMsSum",
  "durationMsMin",
  "durationMsMax",
  "intervalMsCount",
  "intervalMsSum",
  "intervalMsMin",
  "intervalMsMax",
];

export class RedisRollups implements MeterRollups {
  readonly maxEntriesPerCommit: number;
  readonly keyPrefix: string;
  readonly #redis: RedisCommandRunner;
  readonly #ttl: Ttls | null;
  readonly #registered = new Set<string>();

  constructor(options: RedisRollupsOptions) {
    this.#redis = runnerOfOptions(options, NAME);
    const prefix = options.keyPrefix ?? "";
    if (typeof prefix !== "string" || /[{}]/.test(prefix)) {
      throw new TallyError(
        "INVALID_OPTION",
        `${NAME}: keyPrefix ${JSON.stringify(prefix)} must be a string without braces`,
      );
    }
    this.keyPrefix = prefix;
    this.#ttl = resolveTtl(options.ttl === undefined ? DEFAULT_TTL : options.ttl);
    const max = options.maxEntriesPerCommit ?? 10_000;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new TallyError(
        "INVALID_OPTION",
        `${NAME}: maxEntriesPerCommit must be a positive integer, got ${String(max)}`,
      );
    }
    this.maxEntriesPerCommit = max;
  }

  async #run(what: string, args: readonly string[], firstKey: string): Promise<unknown> {
    try {
      return await this.#redis.run(args, firstKey);
    } catch (error) {
      throw new TallyError("STORE_UNAVAILABLE", `${NAME}: ${what} failed`, { cause: error });
    }
  }

  async #script(what: string, script: LuaScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    try {
      return await script.run(this.#redis, keys, args);
    } catch (error) {
      throw new TallyError("STORE_UNAVAILABLE", `${NAME}: ${what} failed`, { cause: error });
    }
  }

  async #register(ref: ReportRef): Promise<void> {
    const member = JSON.stringify([ref.name, ref.version]);
    const id = `${ref.namespace}\u0000${member}`;
    if (this.#registered.has(id)) return;
    const key = reportsKey(this.keyPrefix, ref.namespace);
    await this.#run("registering a report", ["SADD", key, member], key);
    this.#registered.add(id);
  }

  async ensureDefinition(ref: ReportRef, def: StoredDefinition): Promise<void> {
    await this.#register(ref);
    const key = new ReportKeys(this.keyPrefix, ref).definition;
    await this.#run("storing a definition", ["SET", key, definitionJson(def), "NX"], key);
    const stored = await this.#run("reading a definition", ["GET", key], key);
    checkStoredDefinition(stored, ref.name, ref.version, def);
  }

  async getDefinition(ref: ReportRef): Promise<StoredDefinition | null> {
    const key = new ReportKeys(this.keyPrefix, ref).definition;
    const stored = await this.#run("reading a definition", ["GET", key], key);
    return stored === null || stored === undefined ? null : checkStoredDefinition(stored, ref.name, ref.version);
  }

  async acquireLease(key: string, ttlMs: number, _now: number): Promise<Lease | null> {
    const keys = leaseKeys(this.keyPrefix, key);
    const token = randomToken();
    const fence = await this.#script(
      "acquiring a lease",
      LEASE,
      [keys.lease, keys.fence],
      ["acquire", token, "0", String(Math.max(1, Math.ceil(ttlMs)))],
    );
    return fence === null || fence === undefined || fence === false ? null : { key, token, fence: Number(fence) };
  }

  async renewLease(lease: Lease, ttlMs: number, _now: number): Promise<boolean> {
    const keys = leaseKeys(this.keyPrefix, lease.key);
    const held = await this.#script(
      "renewing a lease",
      LEASE,
      [keys.lease, keys.fence],
      ["renew", lease.token, String(lease.fence), String(Math.max(1, Math.ceil(ttlMs)))],
    );
    return Number(held) === 1;
  }

  async releaseLease(lease: Lease): Promise<void> {
    const keys = leaseKeys(this.keyPrefix, lease.key);
    await this.#script(
      "releasing a lease",
      LEASE,
      [keys.lease, keys.fence],
      ["release", lease.token, String(lease.fence), "0"],
    );
  }

  async readMarkers(ref: ReportRef, units: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (units.length === 0) return out;
    const key = new ReportKeys(this.keyPrefix, ref).markers;
    for (let i = 0; i < units.length; i += 5000) {
      const part = units.slice(i, i + 5000);
      const values = arrayReply(await this.#run("reading markers", ["HMGET", key, ...part], key));
      part.forEach((unit, j) => {
        const high = markerHigh(values[j]);
        if (high !== null) out.set(unit, high);
      });
    }
    return out;
  }

  async readIntervalState(
    ref: ReportRef,
    keys: readonly { param: string; value: string }[],
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (keys.length === 0) return out;
    const key = new ReportKeys(this.keyPrefix, ref).state;
    for (let i = 0; i < keys.length; i += 5000) {
      const part = keys.slice(i, i + 5000).map((k) => stateKey(k.param, k.value));
      const values = arrayReply(await this.#run("reading interval state", ["HMGET", key, ...part], key));
      part.forEach((field, j) => {
        const last = Number(values[j]);
        if (values[j] !== null && values[j] !== undefined && Number.isFinite(last)) out.set(field, last);
      });
    }
    return out;
  }

  async commit(ref: ReportRef, batch: CommitBatch): Promise<CommitResult> {
    await this.#register(ref);
    const rk = new ReportKeys(this.keyPrefix, ref);
    const fenceKey = batch.fence === null ? rk.base : leaseKeys(this.keyPrefix, batch.fence.key).lease;
    const { keys, args } = commitArgs(rk, batch, fenceKey, this.#ttl);
    const reply = arrayReply(await this.#script(`commit of ${ref.name} v${ref.version}`, COMMIT, keys, args));
    const status = Number(reply[0]);
    if (status === 1) return { ok: true };
    if (status === -1 && batch.fence !== null) {
      throw new LockLostError(
        `the lease ${batch.fence.key} (fence ${batch.fence.fence}) is no longer held; another processor took it over`,
      );
    }
    return { ok: false, conflicts: reply.slice(1).map(String) };
  }

  async forgetMarkers(ref: ReportRef, units: readonly string[]): Promise<void> {
    const key = new ReportKeys(this.keyPrefix, ref).markers;
    for (let i = 0; i < units.length; i += 5000) {
      await this.#run("forgetting markers", ["HDEL", key, ...units.slice(i, i + 5000)], key);
    }
  }

  async countMarkers(ref: ReportRef): Promise<number> {
    const key = new ReportKeys(this.keyPrefix, ref).markers;
    return Number(await this.#run("counting markers", ["HLEN", key], key));
  }

  async #readRows(keys: readonly string[]): Promise<Array<Record<string, string>>> {
    return Promise.all(keys.map(async (key) => hashReply(await this.#run("reading a bucket", ["HGETALL", key], key))));
  }

  async readBuckets(ref: ReportRef, tier: Tier, starts: readonly number[], indexKey: string): Promise<RollupRecord[]> {
    const rk = new ReportKeys(this.keyPrefix, ref);
    const hashes = await this.#readRows(starts.map((s) => rk.row(tier, s, indexKey)));
    const out: RollupRecord[] = [];
    hashes.forEach((hash, i) => {
      if (Object.keys(hash).length > 0) out.push(toRecord(tier, starts[i] as number, indexKey, hash));
    });
    return out;
  }

  async listBuckets(ref: ReportRef, tier: Tier, indexKey: string, limit: number): Promise<RollupRecord[]> {
    const rk = new ReportKeys(this.keyPrefix, ref);
    const zKey = rk.starts(tier, indexKey);
    const out: RollupRecord[] = [];
    let offset = 0;
    while (out.length < limit) {
      const want = limit - out.length;
      const starts = arrayReply(
        await this.#run(
          "listing buckets",
          ["ZRANGEBYSCORE", zKey, "-inf", "+inf", "LIMIT", String(offset), String(want)],
          zKey,
        ),
      ).map(Number);
      if (starts.length === 0) break;
      const hashes = await this.#readRows(starts.map((s) => rk.row(tier, s, indexKey)));
      const gone: string[] = [];
      hashes.forEach((hash, i) => {
        const start = starts[i] as number;
        if (Object.keys(hash).length > 0) out.push(toRecord(tier, start, indexKey, hash));
        else gone.push(String(start));
      });
      // Buckets that expired by TTL leave their start behind; drop it so the next read skips it.
      if (gone.length > 0) await this.#run("trimming bucket starts", ["ZREM", zKey, ...gone], zKey);
      offset += starts.length - gone.length;
      if (starts.length < want) break;
    }
    return out;
  }

  async readIndex(
    ref: ReportRef,
    tier: Tier,
    starts: readonly number[],
    indexName: string,
  ): Promise<Map<string, RollupRecord>> {
    const rk = new ReportKeys(this.keyPrefix, ref);
    const out = new Map<string, RollupRecord>();
    const members = await Promise.all(
      starts.map(async (start) => {
        const key = rk.indexSet(tier, start, indexName);
        return arrayReply(await this.#run("reading an index", ["SMEMBERS", key], key)).map(String);
      }),
    );
    const wanted: Array<{ start: number; indexKey: string }> = [];
    starts.forEach((start, i) => {
      for (const indexKey of members[i] ?? []) wanted.push({ start, indexKey });
    });
    const hashes = await this.#readRows(wanted.map((w) => rk.row(tier, w.start, w.indexKey)));
    hashes.forEach((hash, i) => {
      if (Object.keys(hash).length === 0) return;
      const { start, indexKey } = wanted[i] as { start: number; indexKey: string };
      const record = toRecord(tier, start, indexKey, hash);
      const existing = out.get(indexKey);
      if (existing === undefined) out.set(indexKey, record);
      else mergeRecord(existing, record);
    });
    return out;
  }

  async cleanup(namespace: string, plan: CleanupPlan): Promise<CleanupResult> {
    const result: CleanupResult = { rollupKeysDeleted: 0, intervalStateKeysDeleted: 0, processedEntriesDeleted: 0 };
    const registry = reportsKey(this.keyPrefix, namespace);
    const events = plan.events === null ? null : new Set(plan.events);
    for (const member of arrayReply(await this.#run("listing reports", ["SMEMBERS", registry], registry))) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(String(member));
      } catch {
        continue;
      }
      if (!Array.isArray(parsed) || typeof parsed[0] !== "string" || !Number.isSafeInteger(parsed[1])) continue;
      const ref: ReportRef = { namespace, name: parsed[0], version: parsed[1] as number };
      if (events !== null && !events.has(ref.name)) continue;
      const rk = new ReportKeys(this.keyPrefix, ref);
      for (const tier of TIERS) {
        const before = plan.before[tier];
        if (before !== undefined) result.rollupKeysDeleted += await this.#cleanTier(rk, tier, before - TIER_MS[tier]);
      }
      if (plan.before.intervalState !== undefined) {
        result.intervalStateKeysDeleted += await this.#prune(rk.state, "state", plan.before.intervalState);
      }
      if (plan.before.markers !== undefined) {
        result.processedEntriesDeleted += await this.#prune(rk.markers, "markers", plan.before.markers);
      }
    }
    return result;
  }

  /** Deletes the tier's buckets starting at or before `lastStart`; returns how many existed. */
  async #cleanTier(rk: ReportKeys, tier: Tier, lastStart: number): Promise<number> {
    const tKey = rk.tierStarts(tier);
    const starts = arrayReply(
      await this.#run("listing old buckets", ["ZRANGEBYSCORE", tKey, "-inf", String(lastStart)], tKey),
    ).map(Number);
    if (starts.length === 0) return 0;
    const names = arrayReply(await this.#run("listing indexes", ["SMEMBERS", rk.indexNames], rk.indexNames)).map(
      String,
    );
    let deleted = 0;
    for (const start of starts) {
      for (const name of names) {
        const ixKey = rk.indexSet(tier, start, name);
        const indexKeys = arrayReply(await this.#run("reading an index", ["SMEMBERS", ixKey], ixKey)).map(String);
        for (const indexKey of indexKeys) {
          const row = rk.row(tier, start, indexKey);
          deleted += Number(await this.#run("deleting a bucket", ["DEL", row], row));
          const zKey = rk.starts(tier, indexKey);
          await this.#run("trimming bucket starts", ["ZREM", zKey, String(start)], zKey);
        }
        await this.#run("deleting an index set", ["DEL", ixKey], ixKey);
      }
    }
    for (let i = 0; i < starts.length; i += 1000) {
      await this.#run("trimming tier starts", ["ZREM", tKey, ...starts.slice(i, i + 1000).map(String)], tKey);
    }
    return deleted;
  }

  /** Deletes hash fields (state or markers) whose time is before `bound`, checked again in a script. */
  async #prune(key: string, kind: "state" | "markers", bound: number): Promise<number> {
    let deleted = 0;
    let cursor = "0";
    do {
      const [next, flat] = arrayReply(await this.#run("scanning", ["HSCAN", key, cursor, "COUNT", "1000"], key));
      cursor = String(next);
      const entries = arrayReply(flat);
      const fields: string[] = [];
      for (let i = 0; i + 1 < entries.length; i += 2) {
        const value = String(entries[i + 1]);
        const time = kind === "state" ? Number(value) : Number(value.slice(value.lastIndexOf(":") + 1));
        if (Number.isFinite(time) && time < bound) fields.push(String(entries[i]));
      }
      if (fields.length > 0) {
        deleted += Number(await this.#script("cleaning", PRUNE, [key], [kind, String(bound), ...fields]));
      }
    } while (cursor !== "0");
    return deleted;
  }

  async readWatermark(key: string): Promise<number | null> {
    const k = watermarkKey(this.keyPrefix, key);
    const value = await this.#run("reading a watermark", ["GET", k], k);
    const ms = Number(value);
    return value === null || value === undefined || !Number.isFinite(ms) ? null : ms;
  }

  async writeWatermark(key: string, ms: number): Promise<void> {
    const k = watermarkKey(this.keyPrefix, key);
    await this.#run("writing a watermark", ["SET", k, String(ms)], k);
  }

  async close(): Promise<void> {}

  /** The hash key of one bucket (for tests that damage stored values). */
  bucketKeyForTesting(ref: ReportRef, tier: Tier, bucketStart: number, indexKey: string): string {
    return new ReportKeys(this.keyPrefix, ref).row(tier, bucketStart, indexKey);
  }
}

function resolveTtl(ttl: Duration | RedisRollupsTtl | null): Ttls | null {
  if (ttl === null) return null;
  if (typeof ttl === "object") {
    return {
      minute: toMs(ttl.minute ?? DEFAULT_TTL.minute, `${NAME} ttl.minute`),
      hour: toMs(ttl.hour ?? DEFAULT_TTL.hour, `${NAME} ttl.hour`),
      day: toMs(ttl.day ?? DEFAULT_TTL.day, `${NAME} ttl.day`),
      intervalState: toMs(ttl.intervalState ?? DEFAULT_TTL.intervalState, `${NAME} ttl.intervalState`),
    };
  }
  const ms = toMs(ttl, `${NAME} ttl`);
  return { minute: ms, hour: ms, day: ms, intervalState: ms };
}

function markerHigh(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const match = /^(\d+)/.exec(String(value));
  return match === null ? null : Number(match[1]);
}

function toRecord(tier: Tier, start: number, indexKey: string, hash: Record<string, string>): RollupRecord {
  const fields: Record<string, unknown> = {};
  for (const name of FIELD_NAMES) fields[name] = hash[name];
  const d: Record<string, string> = {};
  const i: Record<string, string> = {};
  for (const [field, value] of Object.entries(hash)) {
    if (field.startsWith("d:")) d[field.slice(2)] = value;
    else if (field.startsWith("i:")) i[field.slice(2)] = value;
  }
  fields.durationMsHist = d;
  fields.intervalMsHist = i;
  return recordFromStored(tier, start, indexNameOfKey(indexKey), indexKey, fields as StoredFields);
}

function randomToken(): string {
  return `${process.pid.toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}
