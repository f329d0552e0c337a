/**
 * `redisBackend`: the `CounterBackend` of `SharedEventStore` on Redis (single node or Cluster).
 *
 * Every operation runs inside ONE Lua script call (EVALSHA, EVAL on NOSCRIPT) of the joined script
 * `counter-lib.lua` + `counter-record.lua` + `counter-evaluate.lua` + `counter-settle.lua` +
 * `counter-batch.lua`. Keys per event: the hash `<prefix>{<eventId>}` (`m` = layout signature and
 * bucket-0 ordinals, `c` = bucket-0 counts, first/last `f`/`l`, pending hint `p`, ring slots
 * `<unit code>:<slot>` of the older periods; layout v4, see counter-lib.lua) and the
 * sorted set `<prefix>{<eventId>}:pending` (reservations by expiry). An id that already holds a hash tag
 * (`user:{42}:login`) is used as is, so events sharing a tag share a Cluster slot. Caveat of that rule:
 * the ids `x` and `{x}` name the same key; do not use both under one prefix.
 *
 * Batching (option `batching`, see `RedisBackendOptions`): operations started in the same tick are
 * sent as one script call that runs them in order. Exactness is unchanged: the call is atomic and
 * each operation inside it is judged on the state the previous ones left, exactly as if it had been
 * sent alone. Each operation keeps its own reply, its own refusal (layout mismatch, future instant)
 * and, in the store, its own timeout and failure policy; a failed call (network, script error) fails
 * the operations of that call only (they may still have been applied, as with any lost reply).
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

export type RedisBatching = "auto" | "tag" | "off";

export interface RedisBackendOptions {
  /** Prepended to every key; give each application (and each test) its own. @default "tally:" */
  prefix?: string;
  /**
   * How operations started in the same tick share a script call. "auto": all of them in one call
   * (single-node Redis), switching to "tag" for good at the first CROSSSLOT answer (Cluster; the
   * refused call never ran and is re-sent); "tag": one call per hash tag (Cluster-safe from the start);
   * "off": one call per operation. @default "auto"
   */
  batching?: RedisBatching;
  /**
   * Whether a lone limit call that only reads current-period fixed windows (the usual rate limit:
   * `atMost(id, n, "minutes")`, any number of them, on one event) goes through the short script
   * counter-fixed.lua, which costs a fraction of the general one. Answers are identical either way;
   * `false` sends everything through the general script (for comparison and diagnosis).
   * @default true
   */
  fixedWindowScript?: boolean;
}

/** Most operations in one script call (bounds how long one call holds the server). */
const MAX_BATCH = 32;

/**
 * The version of the event hash's layout (counter-lib.lua), which leads the signature stored in each
 * hash in place of the store's own leading token: v4 since slots name their period. Events written by
 * builds of v2 and v3 are rewritten on first touch.
 */
const HASH_LAYOUT = "v4";

/** `layout.signature` as this backend stores it: led by the hash layout's version. */
function hashSignature(layout: CounterLayout): string {
  return HASH_LAYOUT + layout.signature.slice(layout.signature.indexOf("|"));
}

/** counter-fixed.lua as written: each layout runs it with its constants prepended (fixedScriptFor). */
const FIXED_SOURCE = LuaScript.fromFile("counter-fixed.lua", import.meta.url).source;
const fixedScripts = new Map<string, LuaScript>();

/** A Lua string literal of `text`: quotes, backslashes and anything not printable ASCII escaped. */
const luaString = (text: string): string =>
  `"${Array.from(new TextEncoder().encode(text), (byte) =>
    byte < 32 || byte > 126 || byte === 34 || byte === 92
      ? `\\${String(byte).padStart(3, "0")}`
      : String.fromCharCode(byte),
  ).join("")}"`;

/**
 * The short script of fixed-window checks and checkAndRecords (see counter-fixed.lua) of `layout`:
 * the file with a line of the layout's constants prepended (U, TTL, RU, SIGP, OPAT, CPAT, CFMT, RANGES
 * and the function UNIT), so that none travels with every call (each argument is converted on both
 * ends of a call whose whole cost on the server is a few dozen such conversions). With `ranges`, each
 * operation takes one more argument: its tests over more than the current period (windows of several
 * periods, sliding windows), which the commonest calls do without.
 */
export function fixedScriptFor(layout: CounterLayout, ranges = false): LuaScript {
  const units = layout.units.length;
  const signature = hashSignature(layout);
  // The signature ends in "<code>:<buckets>,..." per unit (shared-engine.ts, counter-lib.lua).
  const codes = signature.slice(signature.lastIndexOf("|") + 1).split(",");
  const each = (pattern: string): string => Array.from({ length: units }, () => pattern).join(",");
  // UNIT(u): unit u's slot prefix "<code>:" and bucket count, one `if` per unit but the last.
  const unit = codes
    .map((code, u) => {
      const [prefix, buckets] = code.split(":");
      const answer = `return "${prefix}:", ${buckets}`;
      return u + 1 < units ? `if u == ${u + 1} then ${answer} end` : answer;
    })
    .join(" ");
  const prelude =
    `local U, TTL, RU, SIGP, OPAT, CPAT, CFMT = ${units}, "${Math.ceil(layout.ttlMs)}", ` +
    `${layout.renewUnit + 1}, ${luaString(`${signature}|`)}, ${luaString(`^${each("(%-?%d+)")}$`)}, ` +
    `${luaString(`^${each("(%d+)")}$`)}, ${luaString(each("%d"))} local RANGES = ${ranges} ` +
    `local function UNIT(u) ${unit} end\n`;
  let script = fixedScripts.get(prelude);
  if (script === undefined) {
    script = new LuaScript("counter-fixed.lua", prelude + FIXED_SOURCE);
    fixedScripts.set(prelude, script);
  }
  return script;
}

const SCRIPT = new LuaScript(
  "counter script",
  ["counter-lib.lua", "counter-record.lua", "counter-evaluate.lua", "counter-settle.lua", "counter-batch.lua"]
    .map((file) => LuaScript.fromFile(file, import.meta.url).source)
    .join("\n"),
);

/** The key of an event's hash: the id's own `{tag}` if it has one, else the whole id as the tag. */
export function eventKey(prefix: string, eventId: string): string {
  const open = eventId.indexOf("{");
  if (open >= 0) {
    const close = eventId.indexOf("}", open + 1);
    if (close > open + 1) return prefix + eventId;
  }
  return `${prefix}{${eventId}}`;
}

/** The part of a key Redis Cluster hashes (its first non-empty `{tag}`, else the whole key). */
function hashTag(key: string): string {
  const open = key.indexOf("{");
  if (open >= 0) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
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
  const batching = options.batching ?? "auto";
  if (batching !== "auto" && batching !== "tag" && batching !== "off") {
    throw new TallyError(
      "INVALID_CONFIG",
      `unknown Redis batching ${JSON.stringify(batching)}: use "auto", "tag" or "off"`,
    );
  }
  return {
    kind: "redis",
    serverClock: true,
    bind: (layout) => new RedisCounterBackend(runner, prefix, layout, batching, options.fixedWindowScript !== false),
  };
}

/** One operation waiting for its call: its kind, time, arguments after the time block, and keys. */
interface Queued {
  readonly kind: "R" | "E" | "S";
  readonly time: OpTime;
  /** For "E": the plan (what a limiter's calls share), sent once per script call. */
  readonly plan: EncodedPlan | undefined;
  readonly args: string[];
  readonly keys: string[];
  /** The hash tag all its keys share, or undefined when they span several. */
  readonly tag: string | undefined;
  readonly decode: (reply: unknown) => unknown;
  readonly resolve: (value: never) => void;
  readonly reject: (error: unknown) => void;
  /** For an evaluation counter-fixed.lua may decide: its count ("0" to check), rooms per unit and ranges. */
  readonly fixed: FixedArgs | undefined;
}

interface FixedArgs {
  readonly count: string;
  readonly rooms: readonly string[];
  /** "" or the JSON of its other tests (a RANGES script's argument: see counter-fixed.lua). */
  readonly ranges: string;
}

/** The arguments of an evaluation that do not change between calls of one limiter (see counter-evaluate.lua). */
interface EncodedPlan {
  readonly op: Pick<EvaluateOp, "action" | "target" | "count" | "state" | "depth">;
  /** The plan as a JSON array (sent as one argument); equal plans share one "P" entry in a call. */
  readonly key: string;
  /**
   * For counter-fixed.lua, when the plan is one it can decide (a check or checkAndRecord on one event
   * whose tests are all atMost, no state wanted beyond a denial's): see `fixedArgs`.
   */
  readonly fixed: FixedArgs | undefined;
  /** The results of a passed evaluation: one true per test. */
  readonly passed: readonly boolean[];
}

/** Cached slot names of one unit at one ordinal: names[i] is the field of bucket i. */
interface SlotNames {
  ordinal: number;
  readonly names: string[];
}

class RedisCounterBackend implements BoundCounterBackend {
  readonly #runner: RedisCommandRunner;
  readonly #prefix: string;
  readonly #units: number;
  readonly #codes: string[];
  readonly #sizes: number[];
  /** ARGV head of every call: signature, ttl, U, renewing unit (counter-lib.lua). */
  readonly #head: string[];
  readonly #slots: SlotNames[];
  /** Encoded plans by the identity of their tests (limiters reuse their plans and tests). */
  readonly #plans = new WeakMap<readonly BackendTest[], EncodedPlan>();
  /** The m field of a ring standing at the last ordinals seen (see counter-lib.lua). */
  #ringOrdinals: number[] = [];
  #ringText = "";
  #lastNow = Number.NaN;
  #lastNowText = "";
  readonly #signature: string;
  /** Reply of a passed evaluation without state, by the identity of its tests. */
  readonly #passed = new WeakMap<readonly BackendTest[], readonly boolean[]>();
  #mode: RedisBatching;
  readonly #queues = new Map<string, Queued[]>();
  #scheduled = false;
  /** Script calls sent and not answered yet. */
  #inFlight = 0;

  readonly #fixedScript: boolean;
  /** counter-fixed.lua for this layout, and its RANGES variant. */
  readonly #fixed: LuaScript;
  readonly #ranged: LuaScript;
  /** The rooms of an operation without tests: "" per unit. */
  readonly #noRooms: readonly string[];

  constructor(
    runner: RedisCommandRunner,
    prefix: string,
    layout: CounterLayout,
    batching: RedisBatching,
    fixedScript: boolean,
  ) {
    this.#runner = runner;
    this.#fixedScript = fixedScript;
    this.#prefix = prefix;
    this.#mode = batching;
    this.#units = layout.units.length;
    this.#codes = layout.units.map((u) => String(TIME_UNITS.indexOf(u.unit)));
    this.#sizes = layout.units.map((u) => u.bucketCount);
    this.#signature = hashSignature(layout);
    this.#head = [
      this.#signature,
      String(Math.ceil(layout.ttlMs)),
      String(layout.units.length),
      String(layout.renewUnit + 1),
    ];
    this.#fixed = fixedScriptFor(layout);
    this.#ranged = fixedScriptFor(layout, true);
    this.#noRooms = layout.units.map(() => "");
    this.#slots = layout.units.map(() => ({ ordinal: Number.NaN, names: [] }));
  }

  /** Slot names of buckets 0..depth-1 of unit u when bucket 0 is period `ordinal`. */
  #names(u: number, ordinal: number, depth: number): SlotNames {
    const slots = this.#slots[u]!;
    if (slots.ordinal !== ordinal) {
      slots.ordinal = ordinal;
      slots.names.length = 0;
    }
    const names = slots.names;
    if (names.length < depth) {
      const size = this.#sizes[u]!;
      const code = this.#codes[u]!;
      for (let i = names.length; i < depth; i++) names.push(`${code}:${(((ordinal - i) % size) + size) % size}`);
    }
    return slots;
  }

  /** Pushes the time block of `time`; returns how many arguments that was. */
  #time(time: OpTime, out: string[]): number {
    const now = time.now;
    const ordinals = time.ordinals;
    if (now === undefined || ordinals === undefined) {
      out.push("", "");
    } else {
      out.push(this.#nowText(now), this.#ring(ordinals));
    }
    return 2;
  }

  /** `now` as text, kept while it repeats (calls of one millisecond share it; the conversion is not free). */
  #nowText(now: number): string {
    if (now !== this.#lastNow) {
      this.#lastNow = now;
      this.#lastNowText = String(now);
    }
    return this.#lastNowText;
  }

  /** "<signature>|<ordinals>": the m field of an event whose rings stand at `ordinals`. */
  #ring(ordinals: readonly number[]): string {
    const cached = this.#ringOrdinals;
    let same = cached.length === this.#units;
    for (let u = 0; same && u < this.#units; u++) same = cached[u] === ordinals[u];
    if (!same) {
      this.#ringOrdinals = ordinals.slice(0, this.#units);
      this.#ringText = `${this.#signature}|${this.#ringOrdinals.join(",")}`;
    }
    return this.#ringText;
  }

  #keys(eventId: string, keys: string[]): void {
    const key = eventKey(this.#prefix, eventId);
    keys.push(key, `${key}:pending`);
  }

  record(op: RecordOp): Promise<void> {
    const args = [String(op.count)];
    const instant = op.instant;
    if (instant === undefined) {
      args.push("");
    } else if ("ago" in instant) {
      args.push("g", String(instant.ago));
    } else {
      args.push("a", String(instant.at));
      for (let u = 0; u < this.#units; u++)
        args.push(instant.ordinals === undefined ? "" : String(instant.ordinals[u]));
    }
    const keys: string[] = [];
    this.#keys(op.eventId, keys);
    // A record now, on the client's clock, is a checkAndRecord without tests: the short script writes
    // it (a fraction of the general script's cost); what it leaves undecided goes on as an "R".
    const fixed =
      this.#fixedScript && instant === undefined && op.count > 0 && op.time.now !== undefined
        ? { count: args[0]!, rooms: this.#noRooms, ranges: "" }
        : undefined;
    return this.#submit("R", op.time, undefined, args, keys, ignore, fixed);
  }

  evaluate(op: EvaluateOp): Promise<EvaluateReply> {
    const plan = this.#plan(op);
    const lone = plan.fixed !== undefined && op.time.now !== undefined && this.#inFlight === 0 && !this.#scheduled;
    return lone ? this.#lone(op, plan, plan.fixed!) : this.#queue(op, plan, true);
  }

  /**
   * Queues an evaluation (or sends it alone with batching "off") with the arguments of the general
   * script, and of counter-fixed.lua when `fixedScript` and the plan is one it can decide.
   */
  #queue(op: EvaluateOp, plan: EncodedPlan, fixedScript: boolean): Promise<EvaluateReply> {
    const args: string[] = [];
    if (op.action === "reserve") {
      const reservation = op.reservation;
      if (reservation === undefined) {
        return Promise.reject(new TallyError("INVALID_ARGUMENT", "a reserve evaluation needs a reservation"));
      }
      args.push(reservation.id, String(reservation.ttlMs));
    }
    const ordinals = op.time.now === undefined ? undefined : op.time.ordinals;
    const keys: string[] = [];
    for (let i = 0; i < op.eventIds.length; i++) {
      this.#keys(op.eventIds[i]!, keys);
      if (ordinals === undefined) continue;
      // Bucket 0 (the hash's c field) is always read; the names of buckets 1..d-1 follow (client clock).
      const depth = op.depth[i];
      for (let u = 0; u < this.#units; u++) {
        const d = Math.min(depth?.[u] ?? 0, this.#sizes[u]!);
        if (d > 1) {
          const names = this.#names(u, ordinals[u]!, d).names;
          for (let b = 1; b < d; b++) args.push(names[b]!);
        }
      }
    }
    const fixed = fixedScript && ordinals !== undefined ? plan.fixed : undefined;
    return this.#submit("E", op.time, plan, args, keys, (reply) => this.#evaluateReply(op, reply), fixed);
  }

  /**
   * A lone caller's evaluation through counter-fixed.lua, straight to the client: no queue, no
   * batch bookkeeping, no arguments of the general script, the command built in place and sent by
   * the runner itself (a caller waiting on nothing else pays for every promise hop and copy of its
   * round trip). Undecided, it goes on through the general script like any other operation.
   */
  #lone(op: EvaluateOp, plan: EncodedPlan, fixed: FixedArgs): Promise<EvaluateReply> {
    const time = op.time;
    const key = eventKey(this.#prefix, op.eventIds[0]!);
    const ranged = fixed.ranges !== "";
    const script = ranged ? this.#ranged : this.#fixed;
    const command = script.command([key]);
    this.#pushFixed(command, time, fixed, false, ranged);
    this.#inFlight++;
    const runner = this.#runner;
    // Anonymous callbacks, not named consts: the TypeScript loaders keep names by wrapping each named
    // closure in a defineProperty call, paid on every call of this path.
    return runner.run(command, key).then(
      (reply) => this.#loneReply(op, plan, reply),
      (error: unknown) =>
        script.recover(runner, command, key, error).then(
          (reply) => this.#loneReply(op, plan, reply),
          (failure: unknown) => {
            this.#inFlight--;
            throw translate(failure, key);
          },
        ),
    );
  }

  /** The answer of a lone call of counter-fixed.lua; undecided, the general script decides it. */
  #loneReply(op: EvaluateOp, plan: EncodedPlan, reply: unknown): EvaluateReply | Promise<EvaluateReply> {
    this.#inFlight--;
    if (reply === 1)
      return { passed: true, now: op.time.now!, results: plan.passed, events: undefined, reservation: undefined };
    if (reply === 0) return this.#queue(op, plan, false);
    return this.#evaluateReply(op, reply);
  }

  /**
   * Pushes one operation of counter-fixed.lua: its time block ("=" when `sameTime`), count, rooms and,
   * for the RANGES script, its ranges.
   */
  #pushFixed(out: string[], time: OpTime, fixed: FixedArgs, sameTime: boolean, ranged: boolean): void {
    if (sameTime) {
      out.push("=");
    } else {
      out.push(this.#ring(time.ordinals!), this.#nowText(time.now!));
    }
    out.push(fixed.count);
    for (const room of fixed.rooms) out.push(room);
    if (ranged) out.push(fixed.ranges);
  }

  /** The plan of `op`, cached by the identity of its tests while the rest of the op matches. */
  #plan(op: EvaluateOp): EncodedPlan {
    const cached = this.#plans.get(op.tests);
    if (
      cached !== undefined &&
      cached.op.action === op.action &&
      cached.op.target === op.target &&
      cached.op.count === op.count &&
      cached.op.state === op.state &&
      cached.op.depth === op.depth
    ) {
      return cached;
    }
    const tokens: Array<string | number> = [
      op.action === "check" ? "c" : op.action === "record" ? "r" : "v",
      op.target + 1,
      String(op.count),
      op.state === "never" ? "n" : op.state === "onDenial" ? "d" : "a",
      op.eventIds.length,
      0,
    ];
    for (let i = 0; i < op.eventIds.length; i++) {
      const depth = op.depth[i];
      for (let u = 0; u < this.#units; u++) {
        const d = Math.min(depth?.[u] ?? 0, this.#sizes[u]!);
        if (d > 1) tokens[5] = 1;
        tokens.push(d);
      }
    }
    encodeTests(op.tests, tokens);
    const plan: EncodedPlan = {
      op: { action: op.action, target: op.target, count: op.count, state: op.state, depth: op.depth },
      key: JSON.stringify(tokens),
      fixed: this.#fixedScript ? fixedArgs(op, this.#sizes) : undefined,
      passed: Object.freeze(op.tests.map(() => true)),
    };
    this.#plans.set(op.tests, plan);
    return plan;
  }

  settle(op: SettleOp): Promise<SettleReply> {
    const args = [op.action, op.token, String(op.count)];
    const keys: string[] = [];
    this.#keys(op.eventId, keys);
    return this.#submit("S", op.time, undefined, args, keys, (reply) => {
      const r = reply as unknown[];
      return { wasPending: Number(r[0]) === 1, now: Number(r[1]) };
    });
  }

  #evaluateReply(op: EvaluateOp, reply: unknown): EvaluateReply {
    if (reply === 1 && op.time.now !== undefined) {
      let results = this.#passed.get(op.tests);
      if (results === undefined) {
        results = Object.freeze(op.tests.map(() => true));
        this.#passed.set(op.tests, results);
      }
      return { passed: true, now: op.time.now, results, events: undefined, reservation: undefined };
    }
    const r = reply as unknown[];
    if (r[0] === "d") return fixedDenial(op, r);
    const states = r[3] as unknown[][];
    const expires = String(r[4] ?? "");
    return {
      passed: Number(r[0]) === 1,
      now: Number(r[1]),
      results: (r[2] as unknown[]).map((x) => Number(x) === 1),
      events: states.length === 0 ? undefined : states.map(parseState),
      reservation: expires === "" ? undefined : { token: String(r[5]), expiresAt: Number(expires) },
    };
  }

  /** Queues an operation for this tick's call of its group (or sends it alone with batching "off"). */
  #submit<T>(
    kind: Queued["kind"],
    time: OpTime,
    plan: EncodedPlan | undefined,
    args: string[],
    keys: string[],
    decode: (reply: unknown) => T,
    fixed?: FixedArgs,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const tag = commonTag(keys);
      const resolveAny = resolve as (value: never) => void;
      const queued: Queued = { kind, time, plan, args, keys, tag, decode, resolve: resolveAny, reject, fixed };
      const mode = this.#mode;
      // Nothing in flight and nothing queued: waiting for the tick to end would only add latency
      // (one call in flight at a time is the common case of a lone caller).
      const idle = this.#inFlight === 0 && !this.#scheduled;
      if (mode === "off" || (mode === "tag" && tag === undefined) || idle) {
        this.#dispatch([queued]);
        return;
      }
      const group = mode === "tag" ? (tag as string) : "";
      let queue = this.#queues.get(group);
      if (queue === undefined) {
        queue = [];
        this.#queues.set(group, queue);
      }
      queue.push(queued);
      if (queue.length >= MAX_BATCH) {
        this.#queues.delete(group);
        this.#dispatch(queue);
      } else if (!this.#scheduled) {
        this.#scheduled = true;
        process.nextTick(this.#flush);
      }
    });
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    for (const queue of this.#queues.values()) this.#dispatch(queue);
    this.#queues.clear();
  };

  /** Sends one call's operations through the short script when it can decide them all, else the general one. */
  #dispatch(ops: readonly Queued[]): void {
    let fixed = true;
    for (const op of ops) if (op.fixed === undefined) fixed = false;
    void (fixed ? this.#sendFixed(ops) : this.#send(ops));
  }

  /** One counter-fixed.lua call; the operations it leaves undecided go on through the general script. */
  async #sendFixed(ops: readonly Queued[]): Promise<void> {
    const keys: string[] = [];
    const args: string[] = [];
    let ranged = false;
    for (const op of ops) if (op.fixed!.ranges !== "") ranged = true;
    let previous: number | undefined | null = null;
    for (const op of ops) {
      keys.push(op.keys[0]!);
      this.#pushFixed(args, op.time, op.fixed!, op.time.now === previous, ranged);
      previous = op.time.now;
    }
    const replies = await this.#call(ranged ? this.#ranged : this.#fixed, ops, keys, args);
    if (replies === undefined) return;
    const undecided: Queued[] = [];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      // A call of one operation answers with that operation's reply itself (counter-fixed.lua).
      const reply = ops.length === 1 ? replies : (replies as unknown[])[i];
      if (reply === 0) undecided.push(op);
      else op.resolve(op.decode(reply) as never);
    }
    if (undecided.length > 0) void this.#send(undecided);
  }

  /**
   * Runs one script call for `ops`: its replies, or undefined when the call failed as a whole (then
   * re-grouped by hash tag on a Cluster's CROSSSLOT, else every operation of the call rejected).
   */
  async #call(
    script: LuaScript,
    ops: readonly Queued[],
    keys: readonly string[],
    args: readonly string[],
  ): Promise<unknown> {
    this.#inFlight++;
    try {
      const replies = await script.run(this.#runner, keys, args);
      this.#inFlight--;
      return replies;
    } catch (error) {
      this.#inFlight--;
      this.#failed(ops, error);
      return undefined;
    }
  }

  #failed(ops: readonly Queued[], error: unknown): void {
    if (this.#mode === "auto" && ops.length > 1 && isCrossSlot(error)) {
      // A Cluster (or a sharding proxy): the call was refused before it ran. Group by tag from now on.
      this.#mode = "tag";
      this.#regroup(ops);
      return;
    }
    for (const op of ops) op.reject(translate(error, op.keys[0] ?? ""));
  }

  async #send(ops: readonly Queued[]): Promise<void> {
    const keys: string[] = [];
    const args = this.#head.slice();
    let previous: number | undefined | null = null;
    let plans: Map<string, number> | undefined;
    for (const op of ops) {
      let planIndex = "";
      const plan = op.plan;
      if (plan !== undefined) {
        plans ??= new Map();
        let index = plans.get(plan.key);
        if (index === undefined) {
          index = plans.size + 1;
          plans.set(plan.key, index);
          args.push("P", "1", "0", plan.key);
        }
        planIndex = String(index);
      }
      for (const key of op.keys) keys.push(key);
      const at = args.length;
      args.push(op.kind, "", String(op.keys.length));
      // Operations of one tick usually share their now (and so their ordinals): "=" repeats it.
      let size = 1;
      if (op.time.now === previous) args.push("=");
      else size = this.#time(op.time, args);
      previous = op.time.now;
      if (plan !== undefined) {
        args.push(planIndex);
        size++;
      }
      args[at + 1] = String(size + op.args.length);
      for (const arg of op.args) args.push(arg);
    }
    const replies = (await this.#call(SCRIPT, ops, keys, args)) as unknown[] | undefined;
    if (replies === undefined) return;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const reply = replies[i];
      if (typeof reply === "string" && reply.startsWith("TALLY_")) {
        op.reject(translate(new Error(reply), op.keys[0] ?? ""));
        continue;
      }
      try {
        op.resolve(op.decode(reply) as never);
      } catch (error) {
        op.reject(translate(error, op.keys[0] ?? ""));
      }
    }
  }

  #regroup(ops: readonly Queued[]): void {
    const groups = new Map<string, Queued[]>();
    for (const op of ops) {
      if (op.tag === undefined) {
        this.#dispatch([op]);
        continue;
      }
      let group = groups.get(op.tag);
      if (group === undefined) {
        group = [];
        groups.set(op.tag, group);
      }
      group.push(op);
    }
    for (const group of groups.values()) this.#dispatch(group);
  }
}

function ignore(): void {}

/** The hash tag every key shares, or undefined. */
function commonTag(keys: readonly string[]): string | undefined {
  const tag = hashTag(keys[0] ?? "");
  for (let i = 1; i < keys.length; i++) if (hashTag(keys[i]!) !== tag) return undefined;
  return tag;
}

function isCrossSlot(error: unknown): boolean {
  return error instanceof Error && error.message.includes("CROSSSLOT");
}

/**
 * The arguments of `op` for counter-fixed.lua, or undefined when it cannot decide `op`: a check or
 * checkAndRecord on one event whose tests are all atMost. Its rooms per layout unit ("" for a unit no
 * current-period test reads; the tightest room where several read one unit); a test whose room is
 * negative can never pass, and its denial is left to the general script. Its other atMost tests
 * (windows of several periods, sliding windows' linear forms) go in `ranges` as the general script's
 * tokens after the depth read per unit (the RANGES script; "" when there are none).
 */
function fixedArgs(op: EvaluateOp, sizes: readonly number[]): FixedArgs | undefined {
  const lone = op.action === "check" || (op.action === "record" && op.count > 0);
  if (!lone || op.state === "always" || op.eventIds.length !== 1 || op.tests.length === 0) return undefined;
  const rooms: number[] = sizes.map(() => Number.POSITIVE_INFINITY);
  const ranges: Array<string | number> = [];
  for (const test of op.tests) {
    if (test.kind !== "atMost") return undefined;
    const term = test.terms[0]!;
    if (test.terms.length !== 1 || term.from !== 0 || term.to !== 0 || term.weight !== 1) {
      encodeTest(test, ranges);
      continue;
    }
    const room = test.limit - test.add;
    if (!Number.isSafeInteger(room) || room < 0) return undefined;
    rooms[term.unit] = Math.min(rooms[term.unit]!, room);
  }
  const depth = op.depth[0];
  return {
    count: op.action === "record" ? String(op.count) : "0",
    rooms: rooms.map((room) => (room === Number.POSITIVE_INFINITY ? "" : String(room))),
    ranges:
      ranges.length === 0
        ? ""
        : JSON.stringify([...sizes.map((size, u) => Math.min(depth?.[u] ?? 0, size)), ...ranges]),
  };
}

/**
 * The reply of a denial by counter-fixed.lua ({ "d", exists, first, last, {bucket 0 per unit} } and,
 * with ranges, {{buckets 0..d-1} per unit}) as the general script would give it: the op's tests are
 * all atMost (fixedArgs), nothing is pending, each test judged as counter-evaluate.lua judges it (the
 * same sums in the same order) and each unit's buckets read to the op's depth.
 */
function fixedDenial(op: EvaluateOp, r: readonly unknown[]): EvaluateReply {
  const current = (r[4] as unknown[]).map(Number);
  const deep = (r[5] as unknown[][] | undefined)?.map((row) => row.map(Number));
  const read = (u: number, i: number): number => (i === 0 ? current[u]! : (deep?.[u]?.[i] ?? 0));
  // One form for every test: for a fixed window (integers) the slack never decides, so it is the
  // general script's exact room comparison too.
  const results = op.tests.map((test) => {
    if (test.kind !== "atMost") return false;
    let w = test.add;
    for (const t of test.terms) {
      let total = 0;
      for (let i = t.from; i <= t.to; i++) total += read(t.unit, i);
      w += t.weight * total;
    }
    return w <= test.limit + 1e-6;
  });
  const depth = op.depth[0];
  const first = String(r[2]);
  const last = String(r[3]);
  const state: EventState = {
    exists: r[1] === 1,
    firstSeenAt: first === "" ? undefined : Number(first),
    lastSeenAt: last === "" ? undefined : Number(last),
    pending: [],
    buckets: current.map((value, u) => deep?.[u] ?? ((depth?.[u] ?? 0) >= 1 ? [value] : [])),
  };
  return { passed: false, now: op.time.now!, results, events: [state], reservation: undefined };
}

function encodeTests(tests: readonly BackendTest[], out: Array<string | number>): void {
  out.push(tests.length);
  for (const test of tests) encodeTest(test, out);
}

/** One test as the general script's tokens (counter-evaluate.lua). */
function encodeTest(test: BackendTest, out: Array<string | number>): void {
  switch (test.kind) {
    case "atMost": {
      const term = test.terms[0];
      if (
        test.terms.length === 1 &&
        term !== undefined &&
        term.from === 0 &&
        term.weight === 1 &&
        Number.isSafeInteger(test.limit) &&
        Number.isSafeInteger(test.add)
      ) {
        // The usual fixed window: one bucket range from the current bucket, limit and add folded.
        out.push("m", test.event + 1, term.unit, term.to + 1, test.limit - test.add);
        break;
      }
      out.push("M", test.event + 1, test.limit, test.add, test.terms.length);
      for (const t of test.terms) out.push(t.unit, t.from, t.to, t.weight);
      break;
    }
    case "atLeast":
      out.push("L", test.event + 1, test.count, test.unit, test.depth);
      break;
    case "cooldown":
      out.push("C", test.event + 1, test.ms);
      break;
    case "within":
      out.push("W", test.event + 1, test.ms);
      break;
    case "fixed":
      out.push("F", test.pass ? 1 : 0);
      break;
  }
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
  const state: EventState = {
    exists: Number(raw[0]) === 1,
    firstSeenAt: first === "" ? undefined : Number(first),
    lastSeenAt: last === "" ? undefined : Number(last),
    pending,
    buckets: ((raw[4] as unknown[][]) ?? []).map((row) => row.map(Number)),
  };
  const ahead = (raw[5] as unknown[] | undefined) ?? [];
  if (ahead.length === 0) return state;
  return { ...state, aheadOrdinals: ahead.map((o) => (o === "" ? undefined : Number(o))) };
}

function translate(error: unknown, key: string): TallyError {
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
  return new TallyError("STORAGE_FAILED", `Redis counter script failed for ${key}: ${message}`, {
    cause: error,
    details: { key },
  });
}
