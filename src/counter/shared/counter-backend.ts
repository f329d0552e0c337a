/**
 * `CounterBackend`: where a `SharedEventStore` keeps its counters. The store does the calendar math
 * and turns every call into one backend operation on *period ordinals*; the backend stores rings
 * of buckets per event and unit and answers atomically.
 *
 * Contract (every implementation):
 * - **One operation, one atomic step.** `record`, `evaluate` and `settle` each run as one indivisible
 *   step against the server (one Lua script, one SQL function call): no other operation on the same
 *   events interleaves with it. `evaluate` with action "record" or "reserve" writes iff every test
 *   passed, judged on the state it read in that same step. This is what makes N processes racing for
 *   L slots admit exactly L. A backend may carry several operations issued together in one such
 *   step (Redis batches the operations of one tick): they run in submission order, each judged on the
 *   state the previous ones left, each with its own reply and its own refusal.
 * - **Layout.** Bucket i of a unit holds period `base - i`, `base = max(now ordinal, stored bucket-0
 *   ordinal)` (a clock that went backwards never rotates). Ordinal o lives in ring slot
 *   `o mod bucketCount` (a backend may keep bucket 0's count apart, as Redis does); the periods a
 *   write skips read 0 after it (zeroed, or, on Redis, left in slots that name an older period).
 *   Buckets saturate at 2^32 - 1.
 *   An event exists once recorded (count 0 included) or reserved; without writes it vanishes at most
 *   `ttlMs` after its last write, and never before every count it holds has left the longest coverage
 *   (a backend may renew the expiry only when a period of `renewUnit` rolls over, not on every write).
 * - **Time.** With `now` given, the caller also passes each unit's ordinal of now (and of `at` for a
 *   past record): the backend never does calendar math. With `now` undefined (server clock) the
 *   backend reads its own clock and uses uniform ordinals (fixed epochs, nominal lengths).
 * - **Configuration.** The layout signature is stored with each event; an operation whose signature
 *   differs rejects with `INVALID_CONFIG` (two processes must agree on units, alignment and zone).
 * - **Failures** reject with `TallyError("STORAGE_FAILED")` carrying `cause` (or `INVALID_CONFIG`,
 *   `FUTURE_EVENT` as above). A rejected operation may still have been applied if the failure was
 *   a lost reply: callers must not retry writes blindly.
 * - **Ownership.** A backend never opens, closes or reconfigures the client it was given.
 */

import type { Alignment } from "../../time/calendar.ts";
import type { TimeUnit } from "../../time/units.ts";

/** The store's geometry as the backend sees it. */
export interface CounterLayout {
  /** Tracked units, finest first, with their bucket counts. */
  readonly units: ReadonlyArray<{ readonly unit: TimeUnit; readonly bucketCount: number }>;
  readonly alignment: Alignment;
  readonly timeZone: string;
  /**
   * How long an event without writes is kept (ms): its longest coverage plus one period of
   * `renewUnit`, so renewing the expiry only when that unit's period rolls over (every write then
   * happens less than one such period after the last renewal) keeps every count it can still answer.
   */
  readonly ttlMs: number;
  /** Index in `units` of the unit of longest coverage (bucket count x longest period). */
  readonly renewUnit: number;
  /**
   * A string two stores share iff they agree on units, bucket counts, alignment and zone:
   * `<version>|<alignment>|<zone>|<unit code>:<buckets>,...`. A backend may store it with its own
   * version token in place of the first (the version of its storage layout) and compares the rest.
   */
  readonly signature: string;
}

/** "now" of one operation: from the client clock (with ordinals) or from the server. */
export interface OpTime {
  /** Epoch ms, or undefined to use the server's clock (uniform ordinals). */
  readonly now: number | undefined;
  /** Ordinal of `now` per layout unit; required when `now` is given. */
  readonly ordinals: readonly number[] | undefined;
}

/** A past instant to record at: given exactly (ordinals per unit with a client clock) or as an age. */
export type RecordInstant =
  | { readonly at: number; readonly ordinals: readonly number[] | undefined }
  | { readonly ago: number };

export interface RecordOp {
  readonly eventId: string;
  readonly count: number;
  readonly time: OpTime;
  /** Omitted: now. */
  readonly instant?: RecordInstant;
}

/**
 * One predicate the backend checks atomically before writing. `event` indexes `EvaluateOp.eventIds`,
 * `unit` indexes `CounterLayout.units`, bucket ranges are inclusive bucket indexes (0 = current).
 */
export type BackendTest =
  /** sum(weight * buckets[from..to]) over terms, + pending + add <= limit. */
  | {
      readonly kind: "atMost";
      readonly event: number;
      readonly limit: number;
      readonly add: number;
      readonly terms: ReadonlyArray<{ unit: number; from: number; to: number; weight: number }>;
    }
  /** sum(buckets[0..depth-1]) >= count (pending reservations do not count). */
  | {
      readonly kind: "atLeast";
      readonly event: number;
      readonly count: number;
      readonly unit: number;
      readonly depth: number;
    }
  /** never seen, or now - max(lastSeenAt, newest pending createdAt) >= ms. */
  | { readonly kind: "cooldown"; readonly event: number; readonly ms: number }
  /** seen, and now - lastSeenAt <= ms. */
  | { readonly kind: "within"; readonly event: number; readonly ms: number }
  /** Decided by the caller (schedules depend on now only). */
  | { readonly kind: "fixed"; readonly pass: boolean };

export interface EvaluateOp {
  readonly time: OpTime;
  readonly eventIds: readonly string[];
  readonly tests: readonly BackendTest[];
  /** "check" writes nothing; "record" adds `count` to `target` at now; "reserve" adds a pending entry. */
  readonly action: "check" | "record" | "reserve";
  /** Index into eventIds of the event to write (record, reserve). */
  readonly target: number;
  readonly count: number;
  /** For "reserve": the entry's id (unique) and its time to live in ms. */
  readonly reservation?: { readonly id: string; readonly ttlMs: number };
  /** When to return the state: never, only when a test failed, or always (queries, usage). */
  readonly state: "never" | "onDenial" | "always";
  /** Per event, per layout unit: how many buckets (from bucket 0) to return; 0 = none. */
  readonly depth: ReadonlyArray<ReadonlyArray<number>>;
}

export interface PendingEntry {
  readonly count: number;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** One event as read inside the atomic step. */
export interface EventState {
  readonly exists: boolean;
  readonly firstSeenAt: number | undefined;
  readonly lastSeenAt: number | undefined;
  /** Unexpired reservations (now < expiresAt). */
  readonly pending: readonly PendingEntry[];
  /** Per layout unit: buckets 0..depth-1 (newest first), as requested. */
  readonly buckets: ReadonlyArray<readonly number[]>;
  /**
   * Per layout unit, the period bucket 0 holds when the stored ring is ahead of now's (a clock that
   * went back: a ring never rotates backwards), else undefined; absent when no ring is ahead. A denial's
   * `retryAfter` counts from the end of that period, as the in-process store's does.
   */
  readonly aheadOrdinals?: ReadonlyArray<number | undefined>;
}

export interface EvaluateReply {
  /** Every test passed (and the write, if any, happened). */
  readonly passed: boolean;
  /** The instant the backend evaluated at (the client's `now`, or the server's). */
  readonly now: number;
  /** Per test, in order. */
  readonly results: readonly boolean[];
  /** Per event, when requested. */
  readonly events: readonly EventState[] | undefined;
  /** For a successful "reserve": the entry's opaque token (for `settle`) and when it expires. */
  readonly reservation: { readonly token: string; readonly expiresAt: number } | undefined;
}

export interface SettleOp {
  readonly eventId: string;
  /** The token `evaluate` returned for the reservation. */
  readonly token: string;
  readonly count: number;
  /** "commit" removes the entry and records `count` at now (even if it expired); "cancel" removes it. */
  readonly action: "commit" | "cancel";
  readonly time: OpTime;
}

export interface SettleReply {
  /** The entry was still pending (present and unexpired) when settled. */
  readonly wasPending: boolean;
  readonly now: number;
}

/** A backend bound to one store layout (keeps its precomputed arguments). */
export interface BoundCounterBackend {
  record(op: RecordOp): Promise<void>;
  evaluate(op: EvaluateOp): Promise<EvaluateReply>;
  settle(op: SettleOp): Promise<SettleReply>;
}

export interface CounterBackend {
  /** "redis", "postgres", … for messages. */
  readonly kind: string;
  /** Whether `now` may be left to the server (`clockSource("server")`). */
  readonly serverClock: boolean;
  bind(layout: CounterLayout): BoundCounterBackend;
}
