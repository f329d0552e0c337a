/**
 * Queries (spec §5). A query object only remembers what to read; every terminal reads the clock
 * once and reads the buckets without rotating anything, so queries never change the store.
 *
 * undefined vs 0: a terminal returns undefined when the event does not exist in this store or the
 * unit is not tracked; an existing event with nothing in range gives sum 0, average 0,
 * countNonzero 0, averageNonzero undefined. `queryMany` acts as one event whose buckets are the
 * bucket-wise sum of the ids that exist (duplicates count once).
 */

import { NOMINAL_MS, type TimeUnit, toTimeUnit } from "../time/units.ts";
import { unitIndex } from "./config.ts";
import type { CounterCore } from "./core.ts";
import { validateEventId } from "./event-id.ts";
import { checkCount, RangeMethods, type RangeSpec } from "./range-methods.ts";

/** A resolved read: unit index, clamped [start, end), the slots of the events that exist. */
interface Read {
  readonly u: number;
  readonly start: number;
  readonly end: number;
}

/** Unit index and clamped bounds of a range, or undefined when the unit is untracked. */
export function resolveRange(core: CounterCore, spec: RangeSpec): Read | undefined {
  const u = spec.unit === undefined ? core.layout.everIndex : unitIndex(core.layout, spec.unit);
  if (u < 0) return undefined;
  const size = core.layout.sizes[u]!;
  const end = Math.min(spec.end, size);
  return { u, start: spec.start, end: Math.max(end, spec.start) };
}

/** Looks an id up; a miss validates the id so bad input still throws `INVALID_EVENT_ID`. */
export function lookup(core: CounterCore, id: string): number | undefined {
  const slot = core.slotOf(id);
  if (slot === undefined) validateEventId(id);
  return slot;
}

export class RangeQuery {
  readonly #core: CounterCore;
  readonly #ids: string | readonly string[];
  readonly #spec: RangeSpec;
  /** The single event's slot when already known (slots are never freed), else -1. */
  #slot: number;

  constructor(core: CounterCore, ids: string | readonly string[], spec: RangeSpec, slot = -1) {
    this.#core = core;
    this.#ids = ids;
    this.#spec = spec;
    this.#slot = slot;
  }

  /** Keeps at most the first m buckets of the range. */
  take(m: number): RangeQuery {
    const n = checkCount(m, "take count");
    const spec = this.#spec;
    const end = Math.min(spec.end, spec.start + n);
    return new RangeQuery(this.#core, this.#ids, { unit: spec.unit, start: spec.start, end }, this.#slot);
  }

  sum(): number | undefined {
    const core = this.#core;
    const now = core.now();
    const ids = this.#ids;
    if (typeof ids === "string") {
      // The hot path: no allocation, at most one map lookup.
      const spec = this.#spec;
      const layout = core.layout;
      const u = spec.unit === undefined ? layout.everIndex : unitIndex(layout, spec.unit);
      if (u < 0) return undefined;
      let slot = this.#slot;
      if (slot < 0) {
        slot = core.slotOf(ids) ?? -1;
        if (slot < 0) return undefined;
        this.#slot = slot;
      }
      const size = layout.sizes[u]!;
      const end = Math.min(spec.end, size);
      if (end <= spec.start) return 0;
      core.refresh(now);
      return core.sum(slot, u, spec.start, end);
    }
    const read = resolveRange(core, this.#spec);
    if (read === undefined) return undefined;
    const slots = slotsOf(core, ids);
    if (slots.length === 0) return undefined;
    core.refresh(now);
    let total = 0;
    for (const slot of slots) total += core.sum(slot, read.u, read.start, read.end);
    return total;
  }

  /** Counts per bucket, newest first. */
  buckets(): number[] | undefined {
    const core = this.#core;
    const now = core.now();
    const read = resolveRange(core, this.#spec);
    if (read === undefined) return undefined;
    const ids = this.#ids;
    const slots = typeof ids === "string" ? slotsOf(core, [ids]) : slotsOf(core, ids);
    if (slots.length === 0) return undefined;
    core.refresh(now);
    const out = new Array<number>(read.end - read.start).fill(0);
    for (const slot of slots) core.addBuckets(slot, read.u, read.start, read.end, out);
    return out;
  }

  /** Sum / buckets in range (undefined for a range clamped to nothing). */
  average(): number | undefined {
    const buckets = this.buckets();
    if (buckets === undefined || buckets.length === 0) return undefined;
    return total(buckets) / buckets.length;
  }

  /** Sum / non-zero buckets (undefined when every bucket is zero). */
  averageNonzero(): number | undefined {
    const buckets = this.buckets();
    if (buckets === undefined) return undefined;
    const nonzero = countNonzero(buckets);
    return nonzero === 0 ? undefined : total(buckets) / nonzero;
  }

  countNonzero(): number | undefined {
    const buckets = this.buckets();
    return buckets === undefined ? undefined : countNonzero(buckets);
  }
}

/** `store.query(id)`: ranges plus the exact first/last seen answers. */
export class Query extends RangeMethods<RangeQuery> {
  readonly #core: CounterCore;
  readonly #id: string;
  readonly #slot: number;

  constructor(core: CounterCore, id: string, slot = -1) {
    super();
    this.#core = core;
    this.#id = id;
    this.#slot = slot;
  }

  protected range(spec: RangeSpec): RangeQuery {
    return new RangeQuery(this.#core, this.#id, spec, this.#slot);
  }

  /** ms since the last recorded instant (exact, floored at 0), or undefined. */
  lastSeen(): number | undefined {
    const now = this.#core.now();
    const at = this.lastSeenAt();
    return at === undefined ? undefined : Math.max(0, now - at);
  }

  /** ms since the first recorded instant ever (exact, survives rotation), or undefined. */
  firstSeen(): number | undefined {
    const now = this.#core.now();
    const at = this.firstSeenAt();
    return at === undefined ? undefined : Math.max(0, now - at);
  }

  lastSeenAt(): number | undefined {
    const slot = lookup(this.#core, this.#id);
    return slot === undefined ? undefined : this.#core.lastSeenAt(slot);
  }

  firstSeenAt(): number | undefined {
    const slot = lookup(this.#core, this.#id);
    return slot === undefined ? undefined : this.#core.firstSeenAt(slot);
  }

  /**
   * Age of the oldest non-zero bucket of `unit`: exact when the first instant lies in it, else the
   * age of the bucket's midpoint (floored at 0); undefined when untracked or all zero.
   */
  firstSeenIn(unit: TimeUnit): number | undefined {
    const core = this.#core;
    const checked = toTimeUnit(unit, "firstSeenIn unit");
    const now = core.now();
    const u = unitIndex(core.layout, checked);
    const slot = lookup(core, this.#id);
    if (u < 0 || slot === undefined) return undefined;
    core.refresh(now);
    const top = core.topOrdinal(slot, u);
    for (let i = core.layout.sizes[u]! - 1; i >= 0; i--) {
      const ordinal = top - i;
      if (core.countOf(slot, u, ordinal) === 0) continue;
      const start = core.startOf(u, ordinal);
      const end = core.startOf(u, ordinal + 1);
      const first = core.firstSeenAt(slot);
      const at = first !== undefined && first >= start && first < end ? first : start + (end - start) / 2;
      return Math.max(0, now - at);
    }
    return undefined;
  }
}

/** `store.queryMany(ids)`. */
export class RangeSource extends RangeMethods<RangeQuery> {
  readonly #core: CounterCore;
  readonly #ids: readonly string[];

  constructor(core: CounterCore, ids: readonly string[]) {
    super();
    this.#core = core;
    this.#ids = [...new Set(ids)];
  }

  protected range(spec: RangeSpec): RangeQuery {
    return new RangeQuery(this.#core, this.#ids, spec);
  }
}

/** `store.queryRatio(num, den).<range>`: num sum / den sum. */
export class RatioQuery extends RangeMethods<number | undefined> {
  readonly #core: CounterCore;
  readonly #numerator: string;
  readonly #denominator: string;

  constructor(core: CounterCore, numerator: string, denominator: string) {
    super();
    this.#core = core;
    this.#numerator = numerator;
    this.#denominator = denominator;
  }

  protected range(spec: RangeSpec): number | undefined {
    const den = new RangeQuery(this.#core, this.#denominator, spec).sum();
    if (den === undefined || den === 0) return undefined;
    // Deviation from the crate: a missing numerator over a positive denominator is 0, not None.
    const num = new RangeQuery(this.#core, this.#numerator, spec).sum() ?? 0;
    return num / den;
  }
}

export interface DeltaRangeQuery {
  /** sum(positive) - sum(negative); missing events and untracked units count as 0. */
  sum(): number;
  /** The delta / buckets in range (0 when the range holds no buckets). */
  average(): number;
}

/** `store.queryDelta(pos, neg).<range>`. */
export class DeltaQuery extends RangeMethods<DeltaRangeQuery> {
  readonly #core: CounterCore;
  readonly #positive: string;
  readonly #negative: string;

  constructor(core: CounterCore, positive: string, negative: string) {
    super();
    this.#core = core;
    this.#positive = positive;
    this.#negative = negative;
  }

  protected range(spec: RangeSpec): DeltaRangeQuery {
    const core = this.#core;
    const positive = this.#positive;
    const negative = this.#negative;
    const sum = (): number =>
      (new RangeQuery(core, positive, spec).sum() ?? 0) - (new RangeQuery(core, negative, spec).sum() ?? 0);
    return {
      sum,
      average: () => {
        const read = resolveRange(core, spec);
        const n = read === undefined ? 0 : read.end - read.start;
        return n === 0 ? 0 : sum() / n;
      },
    };
  }
}

function slotsOf(core: CounterCore, ids: readonly string[]): number[] {
  const slots: number[] = [];
  for (const id of ids) {
    const slot = lookup(core, id);
    if (slot !== undefined) slots.push(slot);
  }
  return slots;
}

function total(buckets: readonly number[]): number {
  let sum = 0;
  for (const b of buckets) sum += b;
  return sum;
}

function countNonzero(buckets: readonly number[]): number {
  let n = 0;
  for (const b of buckets) if (b !== 0) n++;
  return n;
}

/** Coverage of a unit in ms (bucket count x nominal length). */
export function coverage(core: CounterCore, u: number): number {
  return core.layout.sizes[u]! * NOMINAL_MS[core.layout.units[u]!];
}
