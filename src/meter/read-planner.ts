/**
 * The read planner: which buckets answer a windowed report. The span `[S, E)` (whole minutes) is
 * covered with whole UTC days, then whole hours, then minutes at the ragged edges, which gives the
 * same answer as summing its minutes in at most 30 + 46 + 118 reads for 30 days (instead of 43,200).
 * Parts older than the minute retention are read from their enclosing hours, and parts older than
 * the hour retention from their days, widening the span.
 */

import { TIER_MS, type Tier } from "./rollups.ts";

export interface ReadPlan {
  minute: number[];
  hour: number[];
  day: number[];
  /** The span the chosen buckets cover (wider than asked when retention forced coarser tiers). */
  start: number;
  end: number;
}

export interface PlanRetention {
  /** Minute buckets starting before this are read from their hour. */
  minuteCutoff: number;
  /** Hour buckets starting before this are read from their day. */
  hourCutoff: number;
}

const floorTo = (t: number, size: number): number => t - (((t % size) + size) % size);
const ceilTo = (t: number, size: number): number => {
  const f = floorTo(t, size);
  return f === t ? t : f + size;
};

/** `[S, E)`: the minute buckets that overlap `[from, to)`. */
export function minuteSpan(from: number, to: number): [number, number] {
  return [floorTo(from, 60_000), ceilTo(to, 60_000)];
}

export function floorTier(t: number, tier: Tier): number {
  return floorTo(t, TIER_MS[tier]);
}

function fill(out: number[], from: number, to: number, size: number): void {
  for (let t = from; t < to; t += size) out.push(t);
}

/** Covers `[a, b)` (minute aligned) with whole hours, then minutes at the edges. */
function coverHours(a: number, b: number, plan: ReadPlan): void {
  const h0 = ceilTo(a, 3_600_000);
  const h1 = floorTo(b, 3_600_000);
  if (h0 >= h1) {
    fill(plan.minute, a, b, 60_000);
    return;
  }
  fill(plan.minute, a, h0, 60_000);
  fill(plan.hour, h0, h1, 3_600_000);
  fill(plan.minute, h1, b, 60_000);
}

export function planWindow(start: number, end: number, retention?: PlanRetention): ReadPlan {
  const plan: ReadPlan = { minute: [], hour: [], day: [], start, end };
  const d0 = ceilTo(start, 86_400_000);
  const d1 = floorTo(end, 86_400_000);
  if (d0 >= d1) coverHours(start, end, plan);
  else {
    coverHours(start, d0, plan);
    fill(plan.day, d0, d1, 86_400_000);
    coverHours(d1, end, plan);
  }
  if (retention === undefined) return plan;
  return widen(plan, retention);
}

function widen(plan: ReadPlan, retention: PlanRetention): ReadPlan {
  const hours = new Set(plan.hour);
  const minute = plan.minute.filter((t) => {
    if (t >= retention.minuteCutoff) return true;
    hours.add(floorTo(t, 3_600_000));
    return false;
  });
  const days = new Set(plan.day);
  const hour = [...hours].filter((t) => {
    if (t >= retention.hourCutoff) return true;
    days.add(floorTo(t, 86_400_000));
    return false;
  });
  const day = [...days].sort((a, b) => a - b);
  // An hour inside a day we now read whole would count twice; so would a minute inside such an hour.
  const keptHours = hour.filter((h) => !days.has(floorTo(h, 86_400_000))).sort((a, b) => a - b);
  const hourSet = new Set(keptHours);
  const keptMinutes = minute.filter((m) => !hourSet.has(floorTo(m, 3_600_000)) && !days.has(floorTo(m, 86_400_000)));
  const starts = [...keptMinutes, ...keptHours, ...day];
  const ends = [
    ...keptMinutes.map((t) => t + 60_000),
    ...keptHours.map((t) => t + 3_600_000),
    ...day.map((t) => t + 86_400_000),
  ];
  return {
    minute: keptMinutes,
    hour: keptHours,
    day,
    start: starts.length === 0 ? plan.start : Math.min(...starts),
    end: ends.length === 0 ? plan.end : Math.max(...ends),
  };
}

export function planReads(plan: ReadPlan): number {
  return plan.minute.length + plan.hour.length + plan.day.length;
}
