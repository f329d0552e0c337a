/**
 * Time units and the uniform (fixed-epoch) period math.
 *
 * Every unit maps an instant to an integer *period ordinal*; a counter bucket is one period.
 * Uniform periods have the unit's nominal length and count from fixed epochs that never move:
 * the Unix epoch for seconds through days, 30-day months and 365-day years, and Monday
 * 1970-01-05T00:00Z for weeks. Two stores (or a store and Redis) therefore always agree.
 * Calendar periods, which follow a time zone's wall clock, live in `calendar.ts`.
 */

import { TallyError } from "../errors.ts";
import { valueText } from "./value-text.ts";

export const TimeUnit = Object.freeze({
  Seconds: "seconds",
  Minutes: "minutes",
  Hours: "hours",
  Days: "days",
  Weeks: "weeks",
  Months: "months",
  Years: "years",
} as const);
export type TimeUnit = (typeof TimeUnit)[keyof typeof TimeUnit];

/** Finest first; the index is the unit's code in the binary format. */
export const TIME_UNITS: readonly TimeUnit[] = Object.freeze([
  "seconds",
  "minutes",
  "hours",
  "days",
  "weeks",
  "months",
  "years",
]);

const SECOND = 1_000;
const DAY = 86_400_000;

/** Nominal lengths: used for coverage, duration-to-window mapping, sliding windows and uniform periods. */
export const NOMINAL_MS: Readonly<Record<TimeUnit, number>> = Object.freeze({
  seconds: SECOND,
  minutes: 60 * SECOND,
  hours: 3_600 * SECOND,
  days: DAY,
  weeks: 7 * DAY,
  months: 30 * DAY,
  years: 365 * DAY,
});

/** Longest real length of a period per unit (DST days, 31-day months, leap years, ±30 min hours). */
export const LONGEST_MS: Readonly<Record<TimeUnit, number>> = Object.freeze({
  seconds: SECOND,
  minutes: 60 * SECOND,
  hours: 5_400 * SECOND,
  days: DAY + 3_600_000,
  weeks: 7 * DAY + 3_600_000,
  months: 31 * DAY + 3_600_000,
  years: 366 * DAY + 3_600_000,
});

/** Uniform epochs: weeks start on Monday 1970-01-05 so they line up with calendar weeks in UTC. */
const UNIFORM_EPOCH: Readonly<Record<TimeUnit, number>> = Object.freeze({
  seconds: 0,
  minutes: 0,
  hours: 0,
  days: 0,
  weeks: 4 * DAY,
  months: 0,
  years: 0,
});

export function isTimeUnit(value: unknown): value is TimeUnit {
  return typeof value === "string" && (TIME_UNITS as readonly string[]).includes(value);
}

/** Accepts `"days"` or `TimeUnit.Days`; anything else is `INVALID_UNIT`. */
export function toTimeUnit(value: unknown, what = "unit"): TimeUnit {
  if (isTimeUnit(value)) return value;
  throw new TallyError(
    "INVALID_UNIT",
    `invalid ${what} ${valueText(value)}: use one of ${TIME_UNITS.map((u) => `"${u}"`).join(", ")} (or TimeUnit.Days and friends)`,
    { details: { value } },
  );
}

export function uniformOrdinal(unit: TimeUnit, t: number): number {
  return Math.floor((t - UNIFORM_EPOCH[unit]) / NOMINAL_MS[unit]);
}

export function uniformStart(unit: TimeUnit, ordinal: number): number {
  return UNIFORM_EPOCH[unit] + ordinal * NOMINAL_MS[unit];
}
