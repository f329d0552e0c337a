/**
 * Sliding windows for the shared limiter (spec §6) as *linear forms over buckets*, so the backend can
 * evaluate them atomically without calendar math: the estimate of `atMost(X, L, [n, U], sliding)` at
 * instant t is sum(weight * bucket) over the terms `slidingTerms` returns, bucket indexes relative
 * to t's current period.
 *
 * The rolling window is [ws, t] with ws = t - n * nominal(U). Whole U buckets inside it count fully.
 * For the U bucket [a, b) containing ws, the part [ws, b) comes from the next finer tracked unit F:
 * F buckets inside count exactly, the F bucket containing ws counts by its covered fraction, and
 * any part older than F's coverage gets a linear share of (U bucket - F counts known inside it).
 * No finer unit: a linear share of the whole U bucket. Between two boundaries of U or F (of t or of
 * ws) the estimate is linear in t, which `earliestFit` uses to solve retryAfter exactly.
 */

import type { Periods } from "../../time/calendar.ts";
import { LONGEST_MS, NOMINAL_MS } from "../../time/units.ts";
import type { Layout } from "../config.ts";

export interface Term {
  unit: number;
  from: number;
  to: number;
  weight: number;
}

/** Terms of the sliding estimate of [n, layout unit u] at instant t. */
export function slidingTerms(layout: Layout, periods: Periods, u: number, n: number, t: number): Term[] {
  const unit = layout.units[u]!;
  const ws = t - n * NOMINAL_MS[unit];
  const top = periods.ordinal(unit, t);
  const oldest = top - layout.sizes[u]! + 1;
  const terms: Term[] = [];
  let q = top;
  // Buckets starting at or after ws count fully.
  while (q >= oldest && periods.start(unit, q) >= ws) q--;
  if (q < top) terms.push({ unit: u, from: 0, to: top - q - 1, weight: 1 });
  if (q < oldest) return terms;
  const a = periods.start(unit, q);
  const b = Math.min(periods.start(unit, q + 1), t);
  if (b <= ws) return terms;
  const k = top - q;
  if (u === 0) {
    terms.push({ unit: u, from: k, to: k, weight: (b - ws) / (b - a) });
    return terms;
  }
  // The partial bucket [a, b) from the next finer unit F: each F bucket by its share inside [ws, b);
  // the part of [a, b) older than F's coverage gets a linear share g of (U bucket - F counts known
  // inside it), i.e. weight g on the U bucket and -g * (known share) on each F bucket.
  const f = u - 1;
  const fine = layout.units[f]!;
  const fTop = periods.ordinal(fine, t);
  const low = fTop - layout.sizes[f]! + 1;
  const coverageStart = periods.start(fine, low);
  let g = 0;
  if (coverageStart > a) {
    const end = Math.min(coverageStart, b);
    if (end > ws) g = (end - ws) / (end - a);
  }
  if (g !== 0) terms.push({ unit: u, from: k, to: k, weight: g });
  const from = Math.max(low, periods.ordinal(fine, Math.max(a, coverageStart)));
  let run: Term | undefined;
  for (let p = from; p <= fTop; p++) {
    const fa = periods.start(fine, p);
    if (fa >= b) break;
    const fb = Math.min(periods.start(fine, p + 1), t);
    const length = fb - fa;
    if (length <= 0) continue;
    const weight = overlap(fa, fb, ws, b) / length - (g * overlap(fa, fb, a, b)) / length;
    if (weight === 0) continue;
    const index = fTop - p;
    if (run !== undefined && run.weight === weight && run.from === index + 1) {
      run.from = index;
    } else {
      run = { unit: f, from: index, to: index, weight };
      terms.push(run);
    }
  }
  return terms;
}

/**
 * Whether the sliding estimate of [n, layout unit u] can ever read the next finer unit's ring, at any
 * instant t. It reads a finer bucket only inside the partial U bucket [a, b) and inside the finer
 * ring's coverage [c, t]. b < ws + longest(U), since a < ws and b ends a's period, with ws = t - n *
 * nominal(U); and c > t - size(F) * longest(F), since the ring's size(F) periods end after
 * t - longest(F).
 * So when n * nominal(U) >= longest(U) + size(F) * longest(F), b <= c for every t and the finer ring
 * is never read (a window of two minutes or more over a 60-second ring, of three hours or more over a
 * 60-minute one): a backend need not fetch it, for the check or for retryAfter.
 */
export function finerRingReached(layout: Layout, u: number, n: number): boolean {
  if (u === 0) return false;
  const unit = layout.units[u]!;
  const fine = layout.units[u - 1]!;
  return n * NOMINAL_MS[unit] < LONGEST_MS[unit] + layout.sizes[u - 1]! * LONGEST_MS[fine];
}

function overlap(a: number, b: number, c: number, d: number): number {
  const lo = Math.max(a, c);
  const hi = Math.min(b, d);
  return hi > lo ? hi - lo : 0;
}

/** The estimate of `terms` (relative to the period of t) over buckets read at `now`. */
export function estimate(
  terms: readonly Term[],
  buckets: ReadonlyArray<readonly number[]>,
  shift: readonly number[],
): number {
  let total = 0;
  for (const term of terms) {
    const row = buckets[term.unit] ?? [];
    const s = shift[term.unit] ?? 0;
    let sum = 0;
    for (let i = Math.max(0, term.from - s); i <= term.to - s && i < row.length; i++) sum += row[i]!;
    total += term.weight * sum;
  }
  return total;
}

/**
 * ms from `now` until the sliding estimate plus `extra` fits under `limit` (rounded up to a whole
 * ms), or undefined if `extra` alone exceeds it.
 */
export function earliestFit(
  layout: Layout,
  periods: Periods,
  u: number,
  n: number,
  now: number,
  buckets: ReadonlyArray<readonly number[]>,
  extra: number,
  limit: number,
): number | undefined {
  const target = limit - extra;
  if (target < 0) return undefined;
  const unit = layout.units[u]!;
  const fine = u > 0 ? layout.units[u - 1] : undefined;
  const span = n * NOMINAL_MS[unit];
  const nowOrd = layout.units.map((x) => periods.ordinal(x, now));
  const at = (t: number): number => {
    const shift = layout.units.map((x, i) => periods.ordinal(x, t) - nowOrd[i]!);
    return estimate(slidingTerms(layout, periods, u, n, t), buckets, shift);
  };
  const next = (t: number): number => {
    let m = periods.start(unit, periods.ordinal(unit, t) + 1);
    m = Math.min(m, periods.start(unit, periods.ordinal(unit, t - span) + 1) + span);
    if (fine !== undefined) {
      m = Math.min(m, periods.start(fine, periods.ordinal(fine, t) + 1));
      m = Math.min(m, periods.start(fine, periods.ordinal(fine, t - span) + 1) + span);
    }
    return m;
  };
  let t0 = now;
  for (let step = 0; step < 200_000; step++) {
    const e0 = at(t0);
    if (e0 <= target) return Math.max(0, Math.ceil(t0) - now);
    const t1 = next(t0);
    const tm = t0 + (t1 - t0) / 2;
    const slope = (at(tm) - e0) / (tm - t0);
    if (slope < 0) {
      const cross = t0 + (target - e0) / slope;
      if (cross < t1) {
        let answer = Math.ceil(cross);
        while (answer < t1 && at(answer) > target) answer++;
        if (answer < t1) return answer - now;
      }
    }
    t0 = t1;
  }
  return undefined;
}
