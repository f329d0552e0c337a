/**
 * `store.limit()` (spec §6): constraints in declaration order, all must pass. A terminal reads the
 * clock once and evaluates every constraint at that instant. Limiters are reusable: build once,
 * call many times; each constraint caches its event's slot once the event exists (slots are never
 * freed), so a reused limiter does no map lookups for its constraints.
 *
 * For a request to record c of event id, against constraint event X:
 * - atMost(X, L, w): W + P + (X === id ? c : 0) <= L, W the window count (fixed: buckets 0..n-1;
 *   sliding: the estimate of `sliding-estimate.ts`), P the pending reservations of X.
 * - atLeast(X, n, w): W >= n (fixed window, pending not counted).
 * - cooldown(X, d): X never seen, or now - max(last seen, newest pending) >= d.
 * - within(X, d): X seen and now - last seen <= d.
 * - during(S) / outsideOf(S): S contains / does not contain now (in the store's zone).
 * A denial is a value listing every violation; it never records and never creates the event.
 */

import { TallyError } from "../errors.ts";
import { type Duration, toMs } from "../time/duration.ts";
import type { Schedule } from "../time/schedule.ts";
import { NOMINAL_MS } from "../time/units.ts";
import { unitIndex } from "./config.ts";
import { type Constraint, validateLimitValue, validateSchedule, validateTerminalCount } from "./constraints.ts";
import type { CounterCore } from "./core.ts";
import { validateEventId } from "./event-id.ts";
import { ALLOWED, denial, type LimitResult, type LimitUsage, type Violation } from "./limit-result.ts";
import { lookup } from "./query.ts";
import { Reservation } from "./reservation.ts";
import { SLIDING_SLACK, slidingEstimate, slidingRetryAfter } from "./sliding-estimate.ts";
import { checkWindowFits, resolveWindow, type Window, type WindowSpec } from "./window.ts";

export type StoreConstraint = Constraint<Schedule>;
export type StoreLimitResult = LimitResult<Schedule>;
export type ReserveResult =
  | { readonly ok: true; readonly reservation: Reservation }
  | { readonly ok: false; readonly error: Extract<StoreLimitResult, { ok: false }>["error"] };

const AT_MOST = 0;
const AT_MOST_SLIDING = 1;
const AT_LEAST = 2;
const COOLDOWN = 3;
const WITHIN = 4;
const DURING = 5;
const OUTSIDE_OF = 6;

interface ItemInit {
  readonly kind: number;
  readonly constraint: StoreConstraint;
  readonly eventId: string;
  readonly u: number;
  readonly n: number;
  readonly value: number;
  readonly schedule?: Schedule;
}

/** One compiled constraint; a class so its fields live inside the object (one cache line). */
class Item {
  readonly kind: number;
  readonly eventId: string;
  /** Cached slot of eventId, -1 until the event exists. */
  slot = -1;
  readonly u: number;
  readonly n: number;
  readonly value: number;
  readonly constraint: StoreConstraint;
  readonly schedule: Schedule | undefined;

  constructor(init: ItemInit) {
    this.kind = init.kind;
    this.eventId = init.eventId;
    this.u = init.u;
    this.n = init.n;
    this.value = init.value;
    this.constraint = init.constraint;
    this.schedule = init.schedule;
  }
}

const DEFAULT_TTL = 60_000;

/** One atMost constraint's state, for rate-limit headers. */
export interface PolicyState {
  readonly constraint: StoreConstraint;
  readonly limit: number;
  /** Window count plus pending reservations (fractional for sliding windows). */
  readonly count: number;
  readonly remaining: number;
  /** Nominal window length in ms. */
  readonly windowMs: number;
  /** ms until the window frees capacity by rotating (fixed) or its length (sliding). */
  readonly resetAfter: number;
}

export class Limiter {
  readonly #core: CounterCore;
  readonly #items: Item[] = [];
  // The first two constraints, held directly: a reused limiter then reads no array on its hot path.
  #first: Item | undefined;
  #second: Item | undefined;
  readonly #constraints: StoreConstraint[] = [];

  constructor(core: CounterCore) {
    this.#core = core;
  }

  /** The constraints in declaration order. */
  get constraints(): readonly StoreConstraint[] {
    return this.#constraints;
  }

  /** At most `limit` of `id` in `window` (fixed by default; `{ sliding: true }` for a rolling window). */
  atMost(id: string, limit: number, window: Window, options: { sliding?: boolean } = {}): this {
    const eventId = validateEventId(id);
    const value = validateLimitValue(limit, "an atMost limit");
    const sliding = options.sliding === true;
    const { u, spec } = this.#resolve(window, sliding);
    const constraint: StoreConstraint = Object.freeze({
      kind: "atMost",
      eventId,
      limit: value,
      window: Object.freeze({ count: spec.count, unit: spec.unit }),
      sliding,
    });
    return this.#add({ kind: sliding ? AT_MOST_SLIDING : AT_MOST, constraint, eventId, u, n: spec.count, value });
  }

  /** At least `count` of `id` in `window` (a fixed window; pending reservations do not count). */
  atLeast(id: string, count: number, window: Window): this {
    const eventId = validateEventId(id);
    const value = validateLimitValue(count, "an atLeast count");
    const { u, spec } = this.#resolve(window, false);
    const constraint: StoreConstraint = Object.freeze({
      kind: "atLeast",
      eventId,
      count: value,
      window: Object.freeze({ count: spec.count, unit: spec.unit }),
    });
    return this.#add({ kind: AT_LEAST, constraint, eventId, u, n: spec.count, value });
  }

  /** `id` not seen (nor reserved) within the last `d`. */
  cooldown(id: string, d: Duration): this {
    const eventId = validateEventId(id);
    const duration = toMs(d, "cooldown");
    const constraint: StoreConstraint = Object.freeze({ kind: "cooldown", eventId, duration });
    return this.#add({ kind: COOLDOWN, constraint, eventId, u: -1, n: 0, value: duration });
  }

  /** `id` seen within the last `d`. */
  within(id: string, d: Duration): this {
    const eventId = validateEventId(id);
    const duration = toMs(d, "within");
    const constraint: StoreConstraint = Object.freeze({ kind: "within", eventId, duration });
    return this.#add({ kind: WITHIN, constraint, eventId, u: -1, n: 0, value: duration });
  }

  /** Now inside the schedule (local schedules use the store's zone). */
  during(schedule: Schedule): this {
    const s = validateSchedule(schedule);
    const constraint: StoreConstraint = Object.freeze({ kind: "during", schedule: s });
    return this.#add({ kind: DURING, constraint, eventId: "", u: -1, n: 0, value: 0, schedule: s });
  }

  /** Now outside the schedule. */
  outsideOf(schedule: Schedule): this {
    const s = validateSchedule(schedule);
    const constraint: StoreConstraint = Object.freeze({ kind: "outsideOf", schedule: s });
    return this.#add({ kind: OUTSIDE_OF, constraint, eventId: "", u: -1, n: 0, value: 0, schedule: s });
  }

  /** Evaluates without side effects. */
  check(id: string, count = 1): StoreLimitResult {
    const c = count === 1 ? 1 : validateTerminalCount(count);
    const now = this.#core.now();
    lookup(this.#core, id);
    if (this.#passes(id, c, now)) return ALLOWED;
    return denial(id, this.#violations(id, c, now));
  }

  /** check() without building a denial. */
  allowed(id: string, count = 1): boolean {
    const c = count === 1 ? 1 : validateTerminalCount(count);
    const now = this.#core.now();
    lookup(this.#core, id);
    return this.#passes(id, c, now);
  }

  /** Evaluates and, if allowed, records `count` of `id` in the same synchronous step. */
  checkAndRecord(id: string, count = 1): StoreLimitResult {
    const c = count === 1 ? 1 : validateTerminalCount(count);
    const core = this.#core;
    const now = core.now();
    if (!this.#passes(id, c, now)) {
      if (core.slotOf(id) === undefined) validateEventId(id);
      return denial(id, this.#violations(id, c, now));
    }
    // The common case limits the id it records: its slot is cached on the constraint.
    const first = this.#first;
    const slot = first !== undefined && first.eventId === id && first.slot >= 0 ? first.slot : core.ensure(id);
    core.addNow(slot, c, now);
    return ALLOWED;
  }

  /** Like checkAndRecord, but holds the count as a pending reservation until commit/cancel/expiry. */
  reserve(id: string, options: { count?: number; ttl?: Duration } = {}): ReserveResult {
    const c = options.count === undefined ? 1 : validateTerminalCount(options.count);
    const ttl = options.ttl === undefined ? DEFAULT_TTL : toMs(options.ttl, "reservation ttl");
    const core = this.#core;
    const now = core.now();
    lookup(core, id);
    if (!this.#passes(id, c, now)) return denial(id, this.#violations(id, c, now));
    const slot = core.ensure(id);
    const entry = { count: c, createdAt: now, expiresAt: now + ttl, settled: false };
    let list = core.table.pending.get(slot);
    if (list === undefined) {
      list = [];
      core.table.pending.set(slot, list);
    }
    list.push(entry);
    return { ok: true, reservation: new Reservation(core, id, entry) };
  }

  /** Count, limit and remaining of the tightest atMost on `id` (smallest remaining, first on ties). */
  usage(id: string): LimitUsage {
    const core = this.#core;
    const now = core.now();
    lookup(core, id);
    core.refresh(now);
    let best: LimitUsage | undefined;
    for (const item of this.#items) {
      if ((item.kind !== AT_MOST && item.kind !== AT_MOST_SLIDING) || item.eventId !== id) continue;
      const slot = this.#slot(item);
      const count = slot < 0 ? 0 : this.#count(item, slot, now) + core.pendingSum(slot, now);
      const remaining = Math.max(0, item.value - count);
      if (best === undefined || remaining < best.remaining) best = { count, limit: item.value, remaining };
    }
    if (best !== undefined) return best;
    throw new TallyError(
      "NO_AT_MOST_CONSTRAINT",
      `usage(${JSON.stringify(id)}) needs an atMost constraint on that event: add .atMost(${JSON.stringify(id)}, limit, window)`,
      { details: { id } },
    );
  }

  /**
   * Every atMost on `id` with its state now: for rate-limit headers. `resetAfter` is the ms until
   * the window next rotates (fixed) or the window length (sliding).
   */
  policies(id: string): PolicyState[] {
    const core = this.#core;
    const now = core.now();
    lookup(core, id);
    core.refresh(now);
    const out: PolicyState[] = [];
    for (const item of this.#items) {
      if ((item.kind !== AT_MOST && item.kind !== AT_MOST_SLIDING) || item.eventId !== id) continue;
      const slot = this.#slot(item);
      const count = slot < 0 ? 0 : this.#count(item, slot, now) + core.pendingSum(slot, now);
      const unit = core.layout.units[item.u]!;
      const top = slot < 0 ? core.ordNow[item.u]! : core.topOrdinal(slot, item.u);
      const resetAfter = item.kind === AT_MOST ? core.startOf(item.u, top + 1) - now : item.n * NOMINAL_MS[unit];
      out.push({
        constraint: item.constraint,
        limit: item.value,
        count,
        remaining: Math.max(0, Math.floor(item.value - count)),
        windowMs: item.n * NOMINAL_MS[unit],
        resetAfter,
      });
    }
    return out;
  }

  #resolve(window: Window, sliding: boolean): { u: number; spec: WindowSpec } {
    const layout = this.#core.layout;
    const spec = resolveWindow(window, (unit) => unitIndex(layout, unit) >= 0);
    const u = unitIndex(layout, spec.unit);
    checkWindowFits(spec, layout.sizes[u]!, sliding);
    return { u, spec };
  }

  /** The window count of an atMost item (fixed sum or sliding estimate). `refresh(now)` first. */
  #count(item: Item, slot: number, now: number): number {
    if (item.kind === AT_MOST_SLIDING) return slidingEstimate(this.#core, slot, item.u, item.n, now);
    return this.#core.sum(slot, item.u, 0, item.n);
  }

  #add(init: ItemInit): this {
    const item = new Item(init);
    this.#items.push(item);
    if (this.#items.length === 1) this.#first = item;
    else if (this.#items.length === 2) this.#second = item;
    this.#constraints.push(item.constraint);
    return this;
  }

  #slot(item: Item): number {
    if (item.slot >= 0) return item.slot;
    const slot = this.#core.slotOf(item.eventId);
    if (slot === undefined) return -1;
    item.slot = slot;
    return slot;
  }

  /** True when every constraint passes; builds nothing. */
  #passes(id: string, c: number, now: number): boolean {
    const core = this.#core;
    core.refresh(now);
    const anyPending = core.table.pending.size !== 0;
    const first = this.#first;
    if (first === undefined) return true;
    if (!this.#itemPasses(first, id, c, now, anyPending)) return false;
    const second = this.#second;
    if (second === undefined) return true;
    if (!this.#itemPasses(second, id, c, now, anyPending)) return false;
    const items = this.#items;
    for (let i = 2; i < items.length; i++) {
      if (!this.#itemPasses(items[i]!, id, c, now, anyPending)) return false;
    }
    return true;
  }

  #itemPasses(item: Item, id: string, c: number, now: number, anyPending: boolean): boolean {
    const kind = item.kind;
    if (kind !== AT_MOST && kind !== AT_MOST_SLIDING) return this.#violation(item, id, c, now) === undefined;
    const slot = item.slot >= 0 ? item.slot : this.#slot(item);
    let used = item.eventId === id ? c : 0;
    if (slot >= 0) {
      const core = this.#core;
      used += kind === AT_MOST ? core.sum(slot, item.u, 0, item.n) : slidingEstimate(core, slot, item.u, item.n, now);
      if (anyPending) used += core.pendingSum(slot, now);
    }
    return used <= (kind === AT_MOST ? item.value : item.value + SLIDING_SLACK);
  }

  #violations(id: string, c: number, now: number): Violation<Schedule>[] {
    const out: Violation<Schedule>[] = [];
    for (const item of this.#items) {
      const v = this.#violation(item, id, c, now);
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  /** The violation of one constraint at `now`, or undefined when it passes. `refresh(now)` first. */
  #violation(item: Item, id: string, c: number, now: number): Violation<Schedule> | undefined {
    const core = this.#core;
    const constraint = item.constraint;
    const zone = core.timeZone;
    switch (item.kind) {
      case AT_MOST:
      case AT_MOST_SLIDING: {
        const slot = this.#slot(item);
        const extra = item.eventId === id ? c : 0;
        const pending = slot < 0 ? 0 : core.pendingSum(slot, now);
        const windowCount = slot < 0 ? 0 : this.#count(item, slot, now);
        const observed = windowCount + pending;
        if (observed + extra <= (item.kind === AT_MOST ? item.value : item.value + SLIDING_SLACK)) return undefined;
        const allowed = item.value - pending - extra;
        let retryAfter: number | undefined;
        if (slot < 0 || allowed < 0) retryAfter = undefined;
        else if (item.kind === AT_MOST_SLIDING)
          retryAfter = slidingRetryAfter(core, slot, item.u, item.n, now, allowed);
        else retryAfter = fixedRetryAfter(core, slot, item.u, item.n, now, allowed);
        return { constraint, retryAfter, observed };
      }
      case AT_LEAST: {
        const slot = this.#slot(item);
        const observed = slot < 0 ? 0 : core.sum(slot, item.u, 0, item.n);
        return observed >= item.value ? undefined : { constraint, retryAfter: undefined, observed };
      }
      case COOLDOWN: {
        const slot = this.#slot(item);
        if (slot < 0) return undefined;
        const last = Math.max(core.lastSeenAt(slot) ?? Number.NEGATIVE_INFINITY, core.newestPending(slot, now));
        if (last === Number.NEGATIVE_INFINITY) return undefined;
        const elapsed = Math.max(0, now - last);
        return elapsed >= item.value ? undefined : { constraint, retryAfter: item.value - elapsed, observed: elapsed };
      }
      case WITHIN: {
        const slot = this.#slot(item);
        const last = slot < 0 ? undefined : core.lastSeenAt(slot);
        const elapsed = last === undefined ? undefined : Math.max(0, now - last);
        if (elapsed !== undefined && elapsed <= item.value) return undefined;
        return { constraint, retryAfter: undefined, observed: elapsed };
      }
      default: {
        const schedule = item.schedule!;
        const inside = schedule.contains(now, zone);
        if (inside === (item.kind === DURING)) return undefined;
        const change = schedule.nextChange(now, zone);
        return { constraint, retryAfter: change === undefined ? undefined : change - now, observed: undefined };
      }
    }
  }
}

/** ms to the first future boundary of u at which the buckets still inside the window fit. */
function fixedRetryAfter(core: CounterCore, slot: number, u: number, n: number, now: number, allowed: number): number {
  const top = core.topOrdinal(slot, u);
  for (let k = 1; k < n; k++) {
    if (core.sum(slot, u, 0, n - k) <= allowed) return core.startOf(u, top + k) - now;
  }
  return core.startOf(u, top + n) - now;
}
