/**
 * `redisBackend`: the `CounterBackend` of `SharedEventStore` on Redis (single node or Cluster).
 *
 * Every operation is ONE Lua script run (EVALSHA, EVAL on NOSCRIPT): `counter-record.lua`,
 * `counter-evaluate.lua`, `counter-settle.lua`, each prefixed with `counter-lib.lua`. Keys per event:
 * the hash `<prefix>{<eventId>}` (ring slots `<unit code>:<slot>`, bucket-0 ordinals `o<code>`,
 * first/last `f`/`l`, layout signature `c`) and the sorted set `<prefix>{<eventId>}:pending`
 * (reservations by expiry). An id that already holds a hash tag (`user:{42}:login`) is used as is,
 * so events sharing a tag share a Cluster slot. Caveat of that rule: the ids `x` and `{x}` name the
 * same key; do not use both under one prefix.
 *
 * The backend never connects, quits or reconfigures the client; `redis`/`ioredis` are never imported.
 */

import type {
  BackendTest,
  BoundCounterBackend,
  CounterBackend,
  CounterLayout,
  EvaluateOp,
  EvaluateReply,
  EventState,
  OpTime,
  PendingEntry,
  RecordOp,
  SettleOp,
  SettleReply,
} from "../../counter/shared/counter-backend.ts";
import { TallyError } from "../../errors.ts";
import { TIME_UNITS } from "../../time/units.ts";
import { LuaScript } from "./lua-script.ts";
import { type IoRedisLike, type NodeRedisLike, type RedisCommandRunner, toCommandRunner } from "./redis-client.ts";

export interface RedisBackendOptions {
  /** Prepended to every key; give each application (and each test) its own. @default "tally:" */
  prefix?: string;
}

function script(file: string): LuaScript {
  const lib = LuaScript.fromFile("counter-lib.lua", import.meta.url).source;
  const body = LuaScript.fromFile(file, import.meta.url).source;
  return new LuaScript(file, `${lib}\n${body}`);
}

const RECORD = script("counter-record.lua");
const EVALUATE = script("counter-evaluate.lua");
const SETTLE = script("counter-settle.lua");

/** The key of an event's hash: the id's own `{tag}` if it has one, else the whole id as the tag. */
export function eventKey(prefix: string, eventId: string): string {
  const open = eventId.indexOf("{");
  if (open >= 0) {
    const close = eventId.indexOf("}", open + 1);
    if (close > open + 1) return prefix + eventId;
  }
  return `${prefix}{${eventId}}`;
}

export function redisBackend(
  client: RedisCommandRunner | NodeRedisLike | IoRedisLike,
  options: RedisBackendOptions = {},
): CounterBackend {
  const runner = toCommandRunner(client);
  const prefix = options.prefix ?? "tally:";
  if (typeof prefix !== "string") {
    throw new TallyError("INVALID_CONFIG", `invalid Redis key prefix ${String(prefix)}: pass a string such as "app:"`);
  }
  return {
    kind: "redis",
    serverClock: true,
    bind: (layout) => new RedisCounterBackend(runner, prefix, layout),
  };
}

class RedisCounterBackend implements BoundCounterBackend {
  readonly #runner: RedisCommandRunner;
  readonly #prefix: string;
  readonly #units: number;
  /** The common ARGV head with "now" and the ordinals left blank (filled per call). */
  readonly #head: string[];
  /** Encoded depth and test arguments by the identity of a plan's tests (limiters reuse plans). */
  readonly #encoded = new WeakMap<readonly BackendTest[], { depth: EvaluateOp["depth"]; args: string[] }>();

  constructor(runner: RedisCommandRunner, prefix: string, layout: CounterLayout) {
    this.#runner = runner;
    this.#prefix = prefix;
    this.#units = layout.units.length;
    const head = [layout.signature, "", String(Math.ceil(layout.ttlMs)), String(layout.units.length)];
    for (const { unit, bucketCount } of layout.units)
      head.push(String(TIME_UNITS.indexOf(unit)), String(bucketCount), "");
    this.#head = head;
  }

  #args(time: OpTime): string[] {
    const args = this.#head.slice();
    if (time.now !== undefined) {
      args[1] = String(time.now);
      const ordinals = time.ordinals;
      if (ordinals !== undefined) for (let u = 0; u < this.#units; u++) args[6 + 3 * u] = String(ordinals[u]);
    }
    return args;
  }

  #keys(eventId: string): [string, string] {
    const key = eventKey(this.#prefix, eventId);
    return [key, `${key}:pending`];
  }

  async record(op: RecordOp): Promise<void> {
    const args = this.#args(op.time);
    args.push(String(op.count));
    const instant = op.instant;
    if (instant === undefined) {
      args.push("", "");
    } else if ("ago" in instant) {
      args.push("", String(instant.ago));
    } else {
      args.push(String(instant.at), "");
      for (let u = 0; u < this.#units; u++)
        args.push(instant.ordinals === undefined ? "" : String(instant.ordinals[u]));
    }
    await this.#run(RECORD, this.#keys(op.eventId), args);
  }

  async evaluate(op: EvaluateOp): Promise<EvaluateReply> {
    const keys: string[] = [];
    for (const id of op.eventIds) keys.push(...this.#keys(id));
    const args = this.#args(op.time);
    args.push(
      op.action,
      String(op.target + 1),
      String(op.count),
      op.reservation?.id ?? "",
      op.reservation === undefined ? "" : String(op.reservation.ttlMs),
      op.state,
      String(op.eventIds.length),
    );
    let encoded = this.#encoded.get(op.tests);
    if (encoded === undefined || encoded.depth !== op.depth) {
      encoded = { depth: op.depth, args: encodeTests(op, this.#units) };
      this.#encoded.set(op.tests, encoded);
    }
    for (const arg of encoded.args) args.push(arg);
    const reply = (await this.#run(EVALUATE, keys, args)) as unknown[];
    const results = (reply[2] as unknown[]).map((r) => Number(r) === 1);
    const states = reply[3] as unknown[][];
    const expires = String(reply[4] ?? "");
    return {
      passed: Number(reply[0]) === 1,
      now: Number(reply[1]),
      results,
      events: states.length === 0 ? undefined : states.map(parseState),
      reservation: expires === "" ? undefined : { token: String(reply[5]), expiresAt: Number(expires) },
    };
  }

  async settle(op: SettleOp): Promise<SettleReply> {
    const args = this.#args(op.time);
    args.push(op.action, op.token, String(op.count));
    const reply = (await this.#run(SETTLE, this.#keys(op.eventId), args)) as unknown[];
    return { wasPending: Number(reply[0]) === 1, now: Number(reply[1]) };
  }

  async #run(lua: LuaScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    try {
      return await lua.run(this.#runner, keys, args);
    } catch (error) {
      throw translate(error, lua.name, keys[0] ?? "");
    }
  }
}

function encodeTests(op: EvaluateOp, units: number): string[] {
  const args: string[] = [];
  for (let i = 0; i < op.eventIds.length; i++) {
    const depth = op.depth[i];
    for (let u = 0; u < units; u++) args.push(String(depth?.[u] ?? 0));
  }
  args.push(String(op.tests.length));
  for (const test of op.tests) {
    switch (test.kind) {
      case "atMost":
        args.push("M", String(test.event + 1), String(test.limit), String(test.add), String(test.terms.length));
        for (const term of test.terms) {
          args.push(String(term.unit), String(term.from), String(term.to), String(term.weight));
        }
        break;
      case "atLeast":
        args.push("L", String(test.event + 1), String(test.count), String(test.unit), String(test.depth));
        break;
      case "cooldown":
        args.push("C", String(test.event + 1), String(test.ms));
        break;
      case "within":
        args.push("W", String(test.event + 1), String(test.ms));
        break;
      case "fixed":
        args.push("F", test.pass ? "1" : "0");
        break;
    }
  }
  return args;
}

function parseState(raw: unknown[]): EventState {
  const pendingFlat = (raw[3] as unknown[]) ?? [];
  const pending: PendingEntry[] = [];
  for (let k = 0; k + 2 < pendingFlat.length; k += 3) {
    pending.push({
      count: Number(pendingFlat[k]),
      createdAt: Number(pendingFlat[k + 1]),
      expiresAt: Number(pendingFlat[k + 2]),
    });
  }
  const first = String(raw[1] ?? "");
  const last = String(raw[2] ?? "");
  return {
    exists: Number(raw[0]) === 1,
    firstSeenAt: first === "" ? undefined : Number(first),
    lastSeenAt: last === "" ? undefined : Number(last),
    pending,
    buckets: ((raw[4] as unknown[][]) ?? []).map((row) => row.map(Number)),
  };
}

function translate(error: unknown, scriptName: string, key: string): TallyError {
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes("TALLY_CONFIG")) {
    return new TallyError(
      "INVALID_CONFIG",
      `the counter at Redis key ${key} was written with another layout (${message.slice(message.indexOf("TALLY_CONFIG") + 13)}): every process sharing a prefix must track the same units, bucket counts, alignment and time zone; use a new prefix to change them`,
      { cause: error, details: { key } },
    );
  }
  if (message.includes("TALLY_FUTURE")) {
    return new TallyError(
      "FUTURE_EVENT",
      `cannot record at an instant after the server's now: record it once it happened`,
      {
        cause: error,
        details: { key },
      },
    );
  }
  return new TallyError("STORAGE_FAILED", `Redis ${scriptName} failed for ${key}: ${message}`, {
    cause: error,
    details: { key },
  });
}
