/**
 * A naive event-log oracle for the counter: every record kept as (target ordinal per unit, count),
 * buckets computed on demand. It follows spec §4 literally (bucket 0 = the latest of the event's
 * write ordinals and now; plain records under a clock that went back land in bucket 0; recordAt lands
 * at ord(t) or drops when the ring does not reach it) without rings, slabs or caches.
 */

import { type Alignment, type Periods, periodsFor } from "../../src/time/calendar.ts";
import { NOMINAL_MS, type TimeUnit } from "../../src/time/units.ts";

interface OracleEvent {
  hw: Map<TimeUnit, number>;
  entries: Map<TimeUnit, Map<number, number>>;
  first: number | undefined;
  last: number | undefined;
}

export class Oracle {
  readonly periods: Periods;
  readonly units: Array<[TimeUnit, number]>;
  readonly events = new Map<string, OracleEvent>();

  constructor(alignment: Alignment, zone: string, units: Array<[TimeUnit, number]>) {
    this.periods = periodsFor(alignment, zone);
    this.units = units;
  }

  ord(unit: TimeUnit, t: number): number {
    return this.periods.ordinal(unit, t);
  }

  #create(id: string, now: number): OracleEvent {
    let e = this.events.get(id);
    if (e === undefined) {
      e = { hw: new Map(), entries: new Map(), first: undefined, last: undefined };
      for (const [unit] of this.units) {
        e.hw.set(unit, this.ord(unit, now));
        e.entries.set(unit, new Map());
      }
      this.events.set(id, e);
    }
    return e;
  }

  record(id: string, count: number, now: number): void {
    const e = this.#create(id, now);
    if (count === 0) return;
    for (const [unit] of this.units) {
      const top = Math.max(e.hw.get(unit)!, this.ord(unit, now));
      e.hw.set(unit, top);
      const m = e.entries.get(unit)!;
      m.set(top, (m.get(top) ?? 0) + count);
    }
    this.#see(e, now);
  }

  recordAt(id: string, count: number, at: number, now: number): void {
    const existing = this.events.get(id);
    const reaches = this.units.some(([unit, size]) => {
      const top = Math.max(existing?.hw.get(unit) ?? this.ord(unit, now), this.ord(unit, now));
      return top - this.ord(unit, at) < size;
    });
    if (!reaches) return;
    const e = this.#create(id, now);
    if (count === 0) return;
    for (const [unit, size] of this.units) {
      const top = Math.max(e.hw.get(unit)!, this.ord(unit, now));
      e.hw.set(unit, top);
      const q = this.ord(unit, at);
      if (top - q >= size) continue;
      const m = e.entries.get(unit)!;
      m.set(q, (m.get(q) ?? 0) + count);
    }
    this.#see(e, at);
  }

  #see(e: OracleEvent, t: number): void {
    e.first = e.first === undefined ? t : Math.min(e.first, t);
    e.last = e.last === undefined ? t : Math.max(e.last, t);
  }

  /** Every bucket of the unit at `now`, newest first, or undefined. */
  buckets(id: string, unit: TimeUnit, now: number): number[] | undefined {
    const e = this.events.get(id);
    const size = this.units.find(([u]) => u === unit)?.[1];
    if (e === undefined || size === undefined) return undefined;
    const top = Math.max(e.hw.get(unit)!, this.ord(unit, now));
    const m = e.entries.get(unit)!;
    return Array.from({ length: size }, (_, i) => m.get(top - i) ?? 0);
  }

  /** Ordinal of bucket 0 at `now`. */
  top(id: string, unit: TimeUnit, now: number): number {
    const e = this.events.get(id);
    return Math.max(e?.hw.get(unit) ?? Number.NEGATIVE_INFINITY, this.ord(unit, now));
  }

  count(id: string, unit: TimeUnit, ordinal: number, now: number): number {
    const b = this.buckets(id, unit, now);
    if (b === undefined) return 0;
    const i = this.top(id, unit, now) - ordinal;
    return i >= 0 && i < b.length ? b[i]! : 0;
  }

  sum(id: string, unit: TimeUnit, start: number, end: number, now: number): number | undefined {
    const b = this.buckets(id, unit, now);
    return b?.slice(start, end).reduce((a, x) => a + x, 0);
  }

  first(id: string): number | undefined {
    return this.events.get(id)?.first;
  }

  last(id: string): number | undefined {
    return this.events.get(id)?.last;
  }

  /** The unit ever() reads: longest coverage, ties to the coarser unit. */
  everUnit(): TimeUnit {
    let best: [TimeUnit, number] = this.units[0]!;
    for (const [unit, size] of this.units) {
      if (size * NOMINAL_MS[unit] >= best[1] * NOMINAL_MS[best[0]]) best = [unit, size];
    }
    return best[0];
  }

  /** Fixed-window retryAfter, straight from spec §6. */
  fixedRetryAfter(id: string, unit: TimeUnit, n: number, allowed: number, now: number): number | undefined {
    if (allowed < 0) return undefined;
    const b = this.buckets(id, unit, now) ?? [];
    const top = this.top(id, unit, now);
    for (let k = 1; k <= n; k++) {
      const still = b.slice(0, Math.max(0, n - k)).reduce((a, x) => a + x, 0);
      if (still <= allowed) return this.periods.start(unit, top + k) - now;
    }
    return undefined;
  }

  /** Sliding estimate, straight from spec §6 (F = the next finer tracked unit). */
  slidingEstimate(id: string, unit: TimeUnit, n: number, t: number): number {
    const ws = t - n * NOMINAL_MS[unit];
    const idx = this.units.findIndex(([u]) => u === unit);
    const finer = idx > 0 ? this.units[idx - 1] : undefined;
    let total = 0;
    const top = this.top(id, unit, t);
    for (let q = top; q > top - this.units[idx]![1]; q--) {
      const a = this.periods.start(unit, q);
      const c = this.count(id, unit, q, t);
      if (a >= ws) {
        total += c;
        continue;
      }
      const b = Math.min(this.periods.start(unit, q + 1), t);
      if (b <= ws || c === 0) break;
      if (finer === undefined) return total + (c * (b - ws)) / (b - a);
      const [f, fSize] = finer;
      const fTop = this.top(id, f, t);
      const coverage = this.periods.start(f, fTop - fSize + 1);
      let known = 0;
      let inWindow = 0;
      for (let p = fTop - fSize + 1; p <= fTop; p++) {
        const fa = this.periods.start(f, p);
        const fb = Math.min(this.periods.start(f, p + 1), t);
        const x = this.count(id, f, p, t);
        if (x === 0 || fb <= fa) continue;
        const ov = (lo: number, hi: number): number => Math.max(0, Math.min(fb, hi) - Math.max(fa, lo));
        known += (x * ov(a, b)) / (fb - fa);
        inWindow += (x * ov(ws, b)) / (fb - fa);
      }
      if (coverage > a) {
        const end = Math.min(coverage, b);
        if (c - known > 0 && end > ws) inWindow += ((c - known) * (end - ws)) / (end - a);
      }
      return total + inWindow;
    }
    return total;
  }
}
