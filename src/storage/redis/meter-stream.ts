/**
 * `RedisStream`: the meter's pending events in Redis Streams (guarantees in `src/meter/stream.ts`).
 *
 * - One stream per event, `<keyPrefix><ns>:stream:{<name>}`, read through one consumer group, so
 *   any number of processors share it without a lock: each `read` is first `XAUTOCLAIM` of entries
 *   idle past `claimTimeout` (a crashed reader's rows, oldest first), then `XREADGROUP >` for new
 *   ones. Claims expire by the Redis server clock.
 * - Each entry is its own unit (`<stream id>`, seq 1). `append` is one script per 1000 payloads
 *   (`XADD * p <json>` in order, the group created on the way), so a resolved append is in Redis
 *   (durable per the server's AOF/RDB settings).
 * - `ack` and `release` run `meter-stream-settle.lua`: only while the reader still owns every entry
 *   of the batch does `ack` XACK + XDEL them (atomically); a reader whose claim was taken over gets
 *   `ok: false`, deletes nothing, and its rows' markers stay until the new owner acks them.
 *   `release` re-claims the reader's entries with `IDLE claimTimeout` so they are claimable at once.
 * - `pendingCount` is `XLEN`. Rows are never trimmed by size or age.
 * - The client is the caller's: `close()` never quits it.
 */

import { TallyError } from "../../errors.ts";
import type { EventPayload } from "../../meter/payload.ts";
import type { AckResult, MeterStream, StreamBatch, StreamEntry, StreamRef } from "../../meter/stream.ts";
import { type Duration, toMs } from "../../time/duration.ts";
import { LuaScript } from "./lua-script.ts";
import { arrayReply } from "./meter-replies.ts";
import { type IoRedisLike, type NodeRedisLike, type RedisCommandRunner, runnerOfOptions } from "./redis-client.ts";

const APPEND = LuaScript.fromFile("meter-stream-append.lua", import.meta.url);
const SETTLE = LuaScript.fromFile("meter-stream-settle.lua", import.meta.url);
const NAME = "RedisStream";
const APPEND_CHUNK = 1000;
/** XAUTOCLAIM calls per read at most; each scans up to 10 x COUNT pending entries. */
const MAX_CLAIM_SCANS = 64;

export interface RedisStreamOptions {
  /** ioredis, node-redis, or a `RedisCommandRunner`; the caller owns it. */
  client: RedisCommandRunner | NodeRedisLike | IoRedisLike;
  /** How long a reader's claim lasts before another reader takes the rows over. @default "60s" */
  claimTimeout?: Duration;
  /** Consumer group name. @default "tally" */
  group?: string;
  /** Prepended to every stream key. @default "" */
  keyPrefix?: string;
}

export class RedisStream implements MeterStream {
  readonly claimTimeoutMs: number;
  readonly group: string;
  readonly keyPrefix: string;
  readonly #redis: RedisCommandRunner;
  readonly #readers = new WeakMap<StreamBatch, string>();
  readonly #groups = new Set<string>();

  constructor(options: RedisStreamOptions) {
    this.#redis = runnerOfOptions(options, NAME);
    this.claimTimeoutMs = toMs(options.claimTimeout ?? "60s", `${NAME} claimTimeout`);
    if (this.claimTimeoutMs <= 0) throw new TallyError("INVALID_OPTION", `${NAME}: claimTimeout must be positive`);
    this.group = options.group ?? "tally";
    this.keyPrefix = options.keyPrefix ?? "";
    if (typeof this.group !== "string" || this.group === "" || typeof this.keyPrefix !== "string") {
      throw new TallyError("INVALID_OPTION", `${NAME}: group must be a non-empty string and keyPrefix a string`);
    }
  }

  /** The stream key of one event. */
  keyOf(ref: StreamRef): string {
    return `${this.keyPrefix}${ref.namespace}:stream:{${ref.name}}`;
  }

  async #run(what: string, args: readonly string[], key: string): Promise<unknown> {
    try {
      return await this.#redis.run(args, key);
    } catch (error) {
      throw new TallyError("STORE_UNAVAILABLE", `${NAME}: ${what} failed`, { cause: error });
    }
  }

  async append(namespace: string, payloads: readonly EventPayload[]): Promise<void> {
    const byKey = new Map<string, string[]>();
    for (const payload of payloads) {
      const name = typeof payload?.name === "string" ? payload.name : "";
      const key = this.keyOf({ namespace, name });
      let list = byKey.get(key);
      if (list === undefined) {
        list = [];
        byKey.set(key, list);
      }
      list.push(JSON.stringify(payload));
    }
    for (const [key, list] of byKey) {
      for (let i = 0; i < list.length; i += APPEND_CHUNK) {
        try {
          await APPEND.run(this.#redis, [key], [this.group, ...list.slice(i, i + APPEND_CHUNK)]);
        } catch (error) {
          throw new TallyError("STORE_UNAVAILABLE", `${NAME}: appending to ${key} failed`, { cause: error });
        }
      }
      this.#groups.add(key);
    }
  }

  async #ensureGroup(key: string): Promise<void> {
    if (this.#groups.has(key)) return;
    try {
      await this.#redis.run(["XGROUP", "CREATE", key, this.group, "0", "MKSTREAM"], key);
    } catch (error) {
      if (!String((error as Error)?.message ?? error).includes("BUSYGROUP")) {
        throw new TallyError("STORE_UNAVAILABLE", `${NAME}: creating group ${this.group} on ${key} failed`, {
          cause: error,
        });
      }
    }
    this.#groups.add(key);
  }

  /** Runs `body`; when the group vanished (the key was deleted), creates it again and retries once. */
  async #withGroup<T>(key: string, body: () => Promise<T>): Promise<T> {
    await this.#ensureGroup(key);
    try {
      return await body();
    } catch (error) {
      if (!String((error as { cause?: Error })?.cause?.message ?? "").includes("NOGROUP")) throw error;
      this.#groups.delete(key);
      await this.#ensureGroup(key);
      return body();
    }
  }

  async read(ref: StreamRef, options: { maxRows: number; reader: string }): Promise<StreamBatch> {
    const entries: StreamEntry[] = [];
    const batch: StreamBatch = { ref: { namespace: ref.namespace, name: ref.name }, entries };
    this.#readers.set(batch, options.reader);
    const max = Math.floor(options.maxRows);
    if (!(max > 0)) return batch;
    const key = this.keyOf(ref);
    await this.#withGroup(key, async () => {
      entries.length = 0;
      let cursor = "0-0";
      for (let scan = 0; scan < MAX_CLAIM_SCANS && entries.length < max; scan++) {
        const reply = arrayReply(
          await this.#run(
            "claiming timed-out rows",
            [
              "XAUTOCLAIM",
              key,
              this.group,
              options.reader,
              String(this.claimTimeoutMs),
              cursor,
              "COUNT",
              String(max - entries.length),
            ],
            key,
          ),
        );
        cursor = String(reply[0] ?? "0-0");
        addEntries(entries, reply[1]);
        if (cursor === "0-0") break;
      }
      if (entries.length < max) {
        const reply = arrayReply(
          await this.#run(
            "reading new rows",
            [
              "XREADGROUP",
              "GROUP",
              this.group,
              options.reader,
              "COUNT",
              String(max - entries.length),
              "STREAMS",
              key,
              ">",
            ],
            key,
          ),
        );
        // [[key, [[id, [field, value, ...]], ...]]] (RESP2); a map of key -> entries in RESP3.
        const first = reply[0];
        const list = Array.isArray(first) ? first[1] : first instanceof Map ? [...first.values()][0] : undefined;
        addEntries(entries, list);
      }
    });
    return batch;
  }

  async #settle(batch: StreamBatch, op: "ack" | "release"): Promise<unknown[]> {
    const ids = batch.entries.map((e) => e.unit);
    const reader = this.#readers.get(batch);
    if (ids.length === 0 || reader === undefined) return [1, 0];
    let low = ids[0] as string;
    let high = low;
    for (const id of ids) {
      if (compareIds(id, low) < 0) low = id;
      if (compareIds(id, high) > 0) high = id;
    }
    const key = this.keyOf(batch.ref);
    try {
      return arrayReply(
        await SETTLE.run(this.#redis, [key], [this.group, reader, op, String(this.claimTimeoutMs), low, high, ...ids]),
      );
    } catch (error) {
      throw new TallyError("STORE_UNAVAILABLE", `${NAME}: ${op} on ${key} failed`, { cause: error });
    }
  }

  async ack(batch: StreamBatch): Promise<AckResult> {
    if (batch.entries.length === 0) return { ok: true, removedUnits: [] };
    const [status] = await this.#settle(batch, "ack");
    if (Number(status) !== 1) return { ok: false, removedUnits: [] };
    return { ok: true, removedUnits: [...new Set(batch.entries.map((e) => e.unit))] };
  }

  async release(batch: StreamBatch): Promise<void> {
    await this.#settle(batch, "release");
  }

  async pendingCount(ref: StreamRef): Promise<number> {
    const key = this.keyOf(ref);
    return Number(await this.#run("counting rows", ["XLEN", key], key));
  }

  async close(): Promise<void> {}
}

/** Appends `[id, [field, value, ...]]` items; entries deleted meanwhile (nil) are skipped. */
function addEntries(into: StreamEntry[], list: unknown): void {
  for (const item of arrayReply(list)) {
    if (!Array.isArray(item) || typeof item[0] !== "string") continue;
    const id = item[0];
    const fields = arrayReply(item[1]);
    let payload: unknown;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (String(fields[i]) !== "p") continue;
      try {
        payload = JSON.parse(String(fields[i + 1]));
      } catch {
        payload = undefined;
      }
      break;
    }
    into.push({ id: `${id}:1`, unit: id, seq: 1, payload });
  }
}

/** Orders stream ids `<ms>-<seq>` numerically. */
function compareIds(a: string, b: string): number {
  const [am = "0", as = "0"] = a.split("-");
  const [bm = "0", bs = "0"] = b.split("-");
  if (am.length !== bm.length) return am.length - bm.length;
  if (am !== bm) return am < bm ? -1 : 1;
  if (as.length !== bs.length) return as.length - bs.length;
  return as < bs ? -1 : as > bs ? 1 : 0;
}
