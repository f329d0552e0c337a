/**
 * The engine behind `EventStore`, its queries and its limiters: the slab (`EventTable`) plus time.
 * Not exported from the package: the public classes validate their input and call in here.
 *
 * Time: one `PeriodCursor` per tracked unit, shared by every event, gives the current ordinal; the
 * whole set is cached between the latest period start and the earliest next boundary, so a record
 * compares `now` with two numbers. Writes rotate an event lazily (only the units they touch);
 * reads never rotate: bucket i read at time t is ordinal max(bucket-0 ordinal, ord(t)) - i, so a
 * query has no side effect, even when the clock goes backwards.
 */

import { TallyError } from "../errors.ts";
import type { Alignment, Periods } from "../time/calendar.ts";
import type { Clock } from "../time/clock.ts";
import { PeriodCursor } from "../time/period-cursor.ts";
import type { Layout } from "./config.ts";
import { validateEventId } from "./event-id.ts";
import {
  addAtOrdinal,
  allZero,
  countAt,
  EventTable,
  MAX_BUCKET,
  mod,
  type RingSet,
  rotateUnit,
  sumRange,
} from "./event-table.ts";

const START_CACHE = 256;

export class CounterCore {
  readonly clock: Clock;
  readonly periods: Periods;
  readonly layout: Layout;
  readonly table: EventTable;
  readonly replicaId: string;
  readonly alignment: Alignment;
  readonly timeZone: string;
  closed = false;
  /** Current ordinal per unit for the cached span [#from, #until). */
  readonly ordNow: Float64Array;
  readonly #cursors: PeriodCursor[];
  readonly #atCursors: PeriodCursor[];
  #from = Number.POSITIVE_INFINITY;
  #until = Number.NEGATIVE_INFINITY;
  readonly #startTags: Float64Array[];
  readonly #startValues: Float64Array[];

  constructor(clock: Clock, periods: Periods, layout: Layout, replicaId: string, timeZone: string) {
    this.clock = clock;
    this.periods = periods;
    this.layout = layout;
    this.table = new EventTable(layout);
    this.replicaId = replicaId;
    this.alignment = periods.alignment;
    this.timeZone = timeZone;
    const n = layout.units.length;
    this.ordNow = new Float64Array(n);
    this.#cursors = layout.units.map((u) => new PeriodCursor(periods, u));
    this.#atCursors = layout.units.map((u) => new PeriodCursor(periods, u));
    this.#startTags = layout.units.map(() => new Float64Array(START_CACHE).fill(Number.NaN));
    this.#startValues = layout.units.map(() => new Float64Array(START_CACHE));
  }

  /** Reads the clock (once per public call) and fails when the store is closed. */
  now(): number {
    if (this.closed) throw closedError();
    return this.clock.now();
  }

  /** Makes `ordNow` current for instant `now`. */
  refresh(now: number): void {
    if (now >= this.#from && now < this.#until) return;
    let from = Number.NEGATIVE_INFINITY;
    let until = Number.POSITIVE_INFINITY;
    for (let u = 0; u < this.#cursors.length; u++) {
      const cursor = this.#cursors[u]!;
      const ordinal = cursor.ordinalAt(now);
      this.ordNow[u] = ordinal;
      if (cursor.periodStart > from) from = cursor.periodStart;
      if (cursor.nextBoundary < until) until = cursor.nextBoundary;
    }
    this.#from = from;
    this.#until = until;
  }

  /** Ordinal of instant t in unit u (cached per unit for runs of nearby instants). */
  ordinalOf(u: number, t: number): number {
    return this.#atCursors[u]!.ordinalAt(t);
  }

  /** Start instant of ordinal `ordinal` of unit u (memoised: calendar starts cost a few µs). */
  startOf(u: number, ordinal: number): number {
    const i = mod(ordinal, START_CACHE);
    const tags = this.#startTags[u]!;
    const values = this.#startValues[u]!;
    if (tags[i] === ordinal) return values[i]!;
    const start = this.periods.start(this.layout.units[u]!, ordinal);
    tags[i] = ordinal;
    values[i] = start;
    return start;
  }

  slotOf(id: string): number | undefined {
    return this.table.index.get(id);
  }

  /** The slot of `id`, creating the event (after full validation) when missing. `refresh` first. */
  ensure(id: string): number {
    const slot = this.table.index.get(id);
    if (slot !== undefined) return slot;
    const created = this.table.create(validateEventId(id), this.ordNow);
    this.table.touch(created);
    return created;
  }

  /** Adds c to bucket 0 of every unit (record at now). `refresh(now)` first; c >= 1. */
  addNow(slot: number, c: number, now: number): void {
    const t = this.table;
    const layout = this.layout;
    const counts = t.countChunks[slot >> t.shift]!;
    const meta = t.metaChunks[slot >> t.shift]!;
    const mbase = (slot & t.mask) * t.slotFloats;
    const cbase = (mbase + t.stride) * 2;
    const ordNow = this.ordNow;
    const units = ordNow.length;
    for (let u = 0; u < units; u++) {
      const cur = ordNow[u]!;
      // The head is bucket 0; a clock that went back (cur < o0) rotates nothing and counts there too.
      if (cur > meta[mbase + u]!) rotateUnit(layout, counts, cbase, meta, mbase, u, cur);
      const v = counts[cbase + u]! + c;
      counts[cbase + u] = Math.min(v, MAX_BUCKET);
    }
    const first = mbase + t.firstAt;
    if (!(meta[first]! <= now)) meta[first] = now;
    const last = mbase + t.lastAt;
    if (!(meta[last]! >= now)) meta[last] = now;
    // touch(), inlined: bump the version; the mark sets change only when a mark was clear.
    const next = meta[mbase + t.stateAt]! + 4;
    meta[mbase + t.stateAt] = next % 4 === 3 ? next : t.touchMarks(slot, next);
  }

  /**
   * Adds c at instant `at` <= now: rotates each unit to now, then adds to bucket
   * (bucket-0 ordinal - ord(at)); a unit whose ring does not reach `at` drops it. Returns whether
   * any unit took it. `refresh(now)` first.
   */
  addAt(slot: number, c: number, at: number): boolean {
    const t = this.table;
    const layout = this.layout;
    const counts = t.counts(slot);
    const cbase = t.cbase(slot);
    const meta = t.meta(slot);
    const mbase = t.mbase(slot);
    let landed = false;
    for (let u = 0; u < layout.offsets.length; u++) {
      rotateUnit(layout, counts, cbase, meta, mbase, u, this.ordNow[u]!);
      if (c > 0 && addAtOrdinal(layout, counts, cbase, meta, mbase, u, this.ordinalOf(u, at), c)) landed = true;
    }
    return landed;
  }

  /** Whether instant `at` falls inside the ring of at least one unit of the event (or a new one). */
  reaches(slot: number | undefined, at: number): boolean {
    const layout = this.layout;
    for (let u = 0; u < layout.offsets.length; u++) {
      const o0 =
        slot === undefined
          ? this.ordNow[u]!
          : Math.max(this.table.meta(slot)[this.table.mbase(slot) + u]!, this.ordNow[u]!);
      if (o0 - this.ordinalOf(u, at) < layout.sizes[u]!) return true;
    }
    return false;
  }

  /** Sum over every replica of buckets [start, end) of unit u. `refresh` first. */
  sum(slot: number, u: number, start: number, end: number): number {
    const t = this.table;
    const layout = this.layout;
    const ordinal = this.ordNow[u]!;
    let total = sumRange(layout, t.counts(slot), t.cbase(slot), t.meta(slot), t.mbase(slot), u, ordinal, start, end);
    if (t.remotes.size === 0) return total;
    const remotes = t.remotes.get(slot);
    if (remotes !== undefined) {
      for (const r of remotes.values()) total += sumRange(layout, r.counts, 0, r.ords, 0, u, ordinal, start, end);
    }
    return total;
  }

  /** Count (over every replica) held for `ordinal` of unit u. */
  countOf(slot: number, u: number, ordinal: number): number {
    const t = this.table;
    const layout = this.layout;
    let total = countAt(layout, t.counts(slot), t.cbase(slot), t.meta(slot), t.mbase(slot), u, ordinal);
    const remotes = t.remotes.get(slot);
    if (remotes !== undefined) {
      for (const r of remotes.values()) total += countAt(layout, r.counts, 0, r.ords, 0, u, ordinal);
    }
    return total;
  }

  /** Ordinal of bucket 0 as seen now: the latest of now's and every ring set's bucket 0. */
  topOrdinal(slot: number, u: number): number {
    const t = this.table;
    let top = this.ordNow[u]!;
    const o0 = t.meta(slot)[t.mbase(slot) + u]!;
    if (o0 > top) top = o0;
    const remotes = t.remotes.get(slot);
    if (remotes !== undefined) for (const r of remotes.values()) if (r.ords[u]! > top) top = r.ords[u]!;
    return top;
  }

  /** Adds the per-bucket counts of [start, end) into `out` (index 0 = bucket start). */
  addBuckets(slot: number, u: number, start: number, end: number, out: number[]): void {
    const t = this.table;
    const layout = this.layout;
    const now = this.ordNow[u]!;
    const read = (counts: Uint32Array, cbase: number, ords: Float64Array, obase: number): void => {
      const o0 = ords[obase + u]!;
      const top = Math.max(o0, now);
      for (let i = start; i < end; i++) {
        out[i - start]! += countAt(layout, counts, cbase, ords, obase, u, top - i);
      }
    };
    read(t.counts(slot), t.cbase(slot), t.meta(slot), t.mbase(slot));
    const remotes = t.remotes.get(slot);
    if (remotes !== undefined) for (const r of remotes.values()) read(r.counts, 0, r.ords, 0);
  }

  firstSeenAt(slot: number): number | undefined {
    const v = this.table.meta(slot)[this.table.mbase(slot) + this.table.firstAt]!;
    return Number.isNaN(v) ? undefined : v;
  }

  lastSeenAt(slot: number): number | undefined {
    const v = this.table.meta(slot)[this.table.mbase(slot) + this.table.lastAt]!;
    return Number.isNaN(v) ? undefined : v;
  }

  /** Sum of the event's live pending reservations at `now`; expired entries are settled lazily. */
  pendingSum(slot: number, now: number): number {
    const list = this.table.pending.get(slot);
    if (list === undefined) return 0;
    let sum = 0;
    let live = 0;
    for (const entry of list) {
      if (!entry.settled && now >= entry.expiresAt) entry.settled = true;
      if (!entry.settled) {
        sum += entry.count;
        list[live++] = entry;
      }
    }
    list.length = live;
    if (live === 0) this.table.pending.delete(slot);
    return sum;
  }

  /** Creation instant of the newest live pending reservation, or -Infinity. */
  newestPending(slot: number, now: number): number {
    const list = this.table.pending.get(slot);
    if (list === undefined) return Number.NEGATIVE_INFINITY;
    let newest = Number.NEGATIVE_INFINITY;
    for (const entry of list) {
      if (!entry.settled && now >= entry.expiresAt) entry.settled = true;
      if (!entry.settled && entry.createdAt > newest) newest = entry.createdAt;
    }
    return newest;
  }

  /** Rotates every ring set of the event to now and drops other replicas' all-zero ring sets. */
  rotateEvent(slot: number): void {
    const t = this.table;
    const layout = this.layout;
    for (let u = 0; u < layout.offsets.length; u++) {
      rotateUnit(layout, t.counts(slot), t.cbase(slot), t.meta(slot), t.mbase(slot), u, this.ordNow[u]!);
    }
    const remotes = t.remotes.get(slot);
    if (remotes === undefined) return;
    for (const [id, r] of remotes) {
      for (let u = 0; u < layout.offsets.length; u++) rotateUnit(layout, r.counts, 0, r.ords, 0, u, this.ordNow[u]!);
      if (allZero(r.counts)) {
        remotes.delete(id);
        t.remoteCount--;
      }
    }
    if (remotes.size === 0) t.remotes.delete(slot);
  }

  /** The ring set of `replicaId` for the event (the local one lives in the slab), created if asked. */
  ringSet(
    slot: number,
    replicaId: string,
    create: boolean,
  ): { counts: Uint32Array; cbase: number; ords: Float64Array; obase: number } | undefined {
    const t = this.table;
    if (replicaId === this.replicaId) {
      return { counts: t.counts(slot), cbase: t.cbase(slot), ords: t.meta(slot), obase: t.mbase(slot) };
    }
    let remotes = t.remotes.get(slot);
    let ring: RingSet | undefined = remotes?.get(replicaId);
    if (ring === undefined) {
      if (!create) return undefined;
      ring = t.newRingSet(this.ordNow);
      if (remotes === undefined) {
        remotes = new Map();
        t.remotes.set(slot, remotes);
      }
      remotes.set(replicaId, ring);
      t.remoteCount++;
    }
    return { counts: ring.counts, cbase: 0, ords: ring.ords, obase: 0 };
  }
}

export function closedError(): TallyError {
  return new TallyError("STORE_CLOSED", "the store is closed: build a new one with EventStore.builder()…build()");
}
