/**
 * The math behind every non-custom schedule: a wall-clock window [from, to) on a set of weekdays.
 * Kept apart from the `Schedule` class so the stepping in `nextFlip` can be read (and tested
 * through `Schedule`) on its own.
 */

import type { TimeZone } from "./calendar.ts";

const DAY = 86_400_000;
/** How far `nextChange` looks ahead. */
export const HORIZON = 8 * DAY;
/** Bit i set = weekday i (0 = Monday) selected. */
export const EVERY_DAY = 0b111_1111;
export const MON_FRI = 0b001_1111;
export const SAT_SUN = 0b110_0000;

/** A window [from, to) in ms of the wall-clock day on the days in `mask`, in `zone` (null: the caller's). */
export interface Rule {
  readonly zone: TimeZone | null;
  readonly mask: number;
  readonly from: number;
  readonly to: number;
  /** Where in a wall-clock day the answer may change, ascending, in [0, DAY). */
  readonly points: readonly number[];
}

export function makeRule(zone: TimeZone | null, mask: number, from: number, to: number): Rule {
  // Only the window's ends matter: at midnight the weekday changes, but a window either does not
  // cover midnight or (overnight) belongs to the day it started on, so the answer carries over.
  const points = new Set([from % DAY, to % DAY]);
  return { zone, mask, from, to, points: [...points].sort((a, b) => a - b) };
}

/** Whether the rule is open at a wall-clock instant (ms since 1970-01-01 local). */
export function openAt(rule: Rule, wall: number): boolean {
  const day = Math.floor(wall / DAY);
  const ms = wall - day * DAY;
  const weekday = (((day + 3) % 7) + 7) % 7; // 1970-01-01 was a Thursday; 0 = Monday
  if (rule.from < rule.to) return ms >= rule.from && ms < rule.to && ((rule.mask >> weekday) & 1) === 1;
  if (ms >= rule.from) return ((rule.mask >> weekday) & 1) === 1;
  return ms < rule.to && ((rule.mask >> ((weekday + 6) % 7)) & 1) === 1;
}

/** The first wall-clock instant after `wall` at which `openAt` may change. */
function nextWallBoundary(rule: Rule, wall: number): number {
  const day = Math.floor(wall / DAY);
  const ms = wall - day * DAY;
  for (const point of rule.points) if (point > ms) return day * DAY + point;
  return (day + 1) * DAY + (rule.points[0] as number);
}

/**
 * The first instant after `at` at which the rule's answer differs from `value`. Between two
 * wall-clock boundaries and offset transitions the answer cannot change, so it steps from one to
 * the next: t + offset is the wall clock, and the wall boundary b is reached at b - offset unless
 * an offset transition comes first.
 */
export function nextFlip(rule: Rule, tz: TimeZone, at: number, value: boolean): number | undefined {
  if (rule.mask === EVERY_DAY && rule.from === 0 && rule.to === DAY) return undefined;
  if (rule.mask === 0) return undefined;
  const limit = at + HORIZON;
  let t = at;
  let offset = tz.offsetAt(t);
  while (t <= limit) {
    const candidate = nextWallBoundary(rule, t + offset) - offset;
    const shift = tz.nextTransition(t, candidate);
    t = shift ?? candidate;
    if (shift !== undefined) offset = tz.offsetAt(t);
    if (t > limit) return undefined;
    if (openAt(rule, t + offset) !== value) return t;
  }
  return undefined;
}
