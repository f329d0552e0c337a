/**
 * Sliding-window estimates for `atMost(…, { sliding: true })` (spec §6) and the exact wait until an
 * estimate fits.
 *
 * The rolling window at instant t is [ws, t] with ws = t - n x nominal(U). Buckets of U that start
 * at or after ws count fully. For the oldest, partly covered bucket [a, b): the next finer tracked
 * unit F gives its in-window part, each F bucket by the fraction of it inside [ws, b) (whole F
 * buckets exactly, the one containing ws by its covered fraction); the part of [a, b) older than
 * F's coverage gets a linear share of (U bucket - F counts known inside it). No F: a linear share of
 * the whole U bucket. Spans end at t (the current period holds data only up to now). Reads are
 * virtual: evaluating at a future instant sees the store as it will be if nothing is recorded.
 *
 * Between consecutive boundaries of U and F, and of U and F shifted by the window, the estimate is
 * linear in t; `slidingRetryAfter` walks those segments and solves the first one that fits.
 */

import { NOMINAL_MS } from "../time/units.ts";
import type { CounterCore } from "./core.ts";

/**
 * How far a sliding estimate may exceed a limit and still fit it. The estimate is a sum of counts
 * times fractions, and the in-process store and each backend add it up in a different order, so an
 * estimate landing exactly on a limit can come out one rounding step either side of it; every store
 * compares with this slack (a count of a millionth) so they decide alike. Counter-evaluate.lua and
 * counter-backend.sql hold the same constant.
 */
export const SLIDING_SLACK = 1e-6;

/** Estimated count of the event in the sliding window of n units u at instant t. */
export function slidingEstimate(core: CounterCore, slot: number, u: number, n: number, t: number): number {
  const layout = core.layout;
  const ws = t - n * NOMINAL_MS[layout.units[u]!];
  const ordT = core.ordinalOf(u, t);
  let q = Math.max(ordT, core.topOrdinal(slot, u));
  const oldest = q - layout.sizes[u]! + 1;
  let total = 0;
  for (; q >= oldest; q--) {
    const a = core.startOf(u, q);
    if (a >= ws) {
      total += core.countOf(slot, u, q);
      continue;
    }
    const next = core.startOf(u, q + 1);
    const b = Math.min(next, t);
    if (b <= ws) break;
    const count = core.countOf(slot, u, q);
    if (count === 0) break;
    if (u === 0) return total + (count * (b - ws)) / (b - a);
    return total + partialFromFiner(core, slot, u - 1, a, b, ws, count, t);
  }
  return total;
}

function partialFromFiner(
  core: CounterCore,
  slot: number,
  f: number,
  a: number,
  b: number,
  ws: number,
  count: number,
  t: number,
): number {
  const top = Math.max(core.ordinalOf(f, t), core.topOrdinal(slot, f));
  const low = top - core.layout.sizes[f]! + 1;
  const coverageStart = core.startOf(f, low);
  let known = 0;
  let inWindow = 0;
  const from = Math.max(low, core.ordinalOf(f, Math.max(a, coverageStart)));
  for (let p = from; p <= top; p++) {
    const fa = core.startOf(f, p);
    if (fa >= b) break;
    const x = core.countOf(slot, f, p);
    if (x === 0) continue;
    const nextF = core.startOf(f, p + 1);
    const fb = Math.min(nextF, t);
    const length = fb - fa;
    if (length <= 0) continue;
    known += (x * overlap(fa, fb, a, b)) / length;
    inWindow += (x * overlap(fa, fb, ws, b)) / length;
  }
  if (coverageStart > a) {
    const end = Math.min(coverageStart, b);
    const rest = count - known;
    if (rest > 0 && end > ws) inWindow += (rest * (end - ws)) / (end - a);
  }
  return inWindow;
}

function overlap(a: number, b: number, c: number, d: number): number {
  const lo = Math.max(a, c);
  const hi = Math.min(b, d);
  return hi > lo ? hi - lo : 0;
}

/**
 * ms from `now` until the estimate is <= `allowed` (undefined when allowed < 0), assuming nothing
 * is recorded meanwhile. Exact to the ms: at now + result it fits, 1 ms earlier it does not.
 */
export function slidingRetryAfter(
  core: CounterCore,
  slot: number,
  u: number,
  n: number,
  now: number,
  allowed: number,
): number | undefined {
  if (allowed < 0) return undefined;
  const layout = core.layout;
  const unit = layout.units[u]!;
  const span = n * NOMINAL_MS[unit];
  const estimate = (t: number): number => slidingEstimate(core, slot, u, n, t);
  if (estimate(now) <= allowed) return 0;
  const top = Math.max(core.ordinalOf(u, now), core.topOrdinal(slot, u));
  const horizon = Math.max(now, core.startOf(u, top + 1)) + span;
  const points = new Set<number>([horizon]);
  const addBoundaries = (w: number, shift: number): void => {
    for (let p = core.ordinalOf(w, now - shift) + 1; ; p++) {
      const at = core.startOf(w, p) + shift;
      if (at > horizon) break;
      if (at > now) points.add(at);
    }
  };
  addBoundaries(u, 0);
  addBoundaries(u, span);
  if (u > 0) {
    const f = u - 1;
    const reach = layout.sizes[f]! * NOMINAL_MS[layout.units[f]!] * 1.05;
    if (reach > span - 1.05 * NOMINAL_MS[unit]) {
      addBoundaries(f, 0);
      addBoundaries(f, span);
    }
  }
  const sorted = [...points].sort((x, y) => x - y);
  let from = now;
  for (const to of sorted) {
    const t = solveSegment(estimate, from, to, allowed);
    if (t !== undefined) return t - now;
    from = to;
  }
  return horizon - now;
}

/** Earliest integer t in [from, to) with estimate(t) <= allowed, given linearity inside. */
function solveSegment(estimate: (t: number) => number, from: number, to: number, allowed: number): number | undefined {
  const e0 = estimate(from);
  if (e0 <= allowed) return from;
  const last = to - 1;
  if (last <= from) return undefined;
  const e1 = estimate(last);
  if (e1 > allowed) return undefined;
  const slope = (e1 - e0) / (last - from);
  let t = Math.min(last, Math.max(from + 1, from + Math.ceil((allowed - e0) / slope)));
  while (t < last && estimate(t) > allowed) t++;
  while (t - 1 > from && estimate(t - 1) <= allowed) t--;
  return t;
}
