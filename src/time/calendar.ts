/**
 * Period ordinals in an IANA time zone: the one idea every counter, rollup and quota rests on.
 *
 * `ordinal(unit, t)` maps an instant to an integer period; `start(unit, o)` is the earliest
 * instant of period o. Calendar periods follow the zone's wall clock:
 * - seconds, minutes: epoch seconds / minutes (every modern UTC offset is whole minutes);
 * - hours: instants whose local time is HH:00; ordinal = floor((t + s) / 1h) with
 *   s = (UTC offset at t) mod 1h, so +05:30 zones get boundaries at UTC :30 and a repeated
 *   fall-back hour is two periods;
 * - days: the local date (days since 1970-01-01 in the zone); a day starts at its earliest instant
 *   (local midnight, or the first instant after it where a change skips midnight), so DST days
 *   last 23 h or 25 h;
 * - weeks: Monday-based local weeks, floor((localDay - 4) / 7) (1970-01-05 was a Monday);
 * - months: (localYear - 1970) * 12 + (localMonth - 1); years: localYear - 1970.
 *
 * Where an offset change moves a period's start off the hour or off midnight (Lord Howe's
 * half-hour changes, Kathmandu's 1986 move to +05:45), the period starts at the change itself.
 *
 * Offsets come from `Intl.DateTimeFormat` (no dependency, DST-correct), cached per hour block in
 * `TimeZone`: an uncached read costs about a microsecond, a cached one a map lookup, `start()` a
 * few hundred nanoseconds. Hot paths still keep a `PeriodCursor` and only compare `now` with the
 * next boundary. Valid for years 1 to 275 760 (the `Date` range), tested 1970-2100.
 */

import { civilFromDays, daysFromCivil } from "./civil-date.ts";
import { systemTimeZone, TimeZone } from "./time-zone.ts";
import { type TimeUnit, uniformOrdinal, uniformStart } from "./units.ts";

export { civilFromDays, daysFromCivil } from "./civil-date.ts";
export { type LocalTime, systemTimeZone, TimeZone } from "./time-zone.ts";

export type Alignment = "calendar" | "uniform";

/** Period math for one alignment and zone. */
export interface Periods {
  readonly alignment: Alignment;
  readonly timeZone: string;
  ordinal(unit: TimeUnit, t: number): number;
  /** The earliest instant of the period (for a skipped period: the start of the next one). */
  start(unit: TimeUnit, ordinal: number): number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Every real UTC offset lies within ±15 h, which bounds each search below. */
const MAX_OFFSET = 15 * HOUR;

const mod = (a: number, b: number): number => ((a % b) + b) % b;

class CalendarPeriods implements Periods {
  readonly alignment = "calendar";
  readonly timeZone: string;
  readonly #zone: TimeZone;

  constructor(zone: TimeZone) {
    this.#zone = zone;
    this.timeZone = zone.name;
  }

  ordinal(unit: TimeUnit, t: number): number {
    switch (unit) {
      case "seconds":
        return Math.floor(t / 1000);
      case "minutes":
        return Math.floor(t / MINUTE);
      case "hours":
        return Math.floor((t + mod(this.#zone.offsetAt(t), HOUR)) / HOUR);
      case "days":
        return this.#zone.localDay(t);
      case "weeks":
        return Math.floor((this.#zone.localDay(t) - 4) / 7);
      case "months": {
        const [year, month] = civilFromDays(this.#zone.localDay(t));
        return (year - 1970) * 12 + month - 1;
      }
      case "years":
        return civilFromDays(this.#zone.localDay(t))[0] - 1970;
    }
  }

  start(unit: TimeUnit, ordinal: number): number {
    switch (unit) {
      case "seconds":
        return ordinal * 1000;
      case "minutes":
        return ordinal * MINUTE;
      case "hours":
        return this.#hourStart(ordinal);
      case "days":
        return this.#dayStart(ordinal);
      case "weeks":
        return this.#dayStart(ordinal * 7 + 4);
      case "months":
        return this.#dayStart(daysFromCivil(1970 + Math.floor(ordinal / 12), mod(ordinal, 12) + 1, 1));
      case "years":
        return this.#dayStart(daysFromCivil(1970 + ordinal, 1, 1));
    }
  }

  #hourStart(ordinal: number): number {
    const nominal = ordinal * HOUR;
    const zone = this.#zone;
    // Two fixed-point steps find the boundary unless an offset change lies next to it.
    const guess = nominal - mod(zone.offsetAt(nominal - mod(zone.offsetAt(nominal), HOUR)), HOUR);
    if (this.#isFirst("hours", ordinal, guess)) return guess;
    return earliest((t) => this.ordinal("hours", t) >= ordinal, nominal - HOUR, nominal + HOUR);
  }

  #dayStart(dayNumber: number): number {
    const wall = dayNumber * DAY;
    const zone = this.#zone;
    const guess = wall - zone.offsetAt(wall - zone.offsetAt(wall));
    if (this.#isFirst("days", dayNumber, guess)) return guess;
    return earliest((t) => zone.localDay(t) >= dayNumber, wall - MAX_OFFSET, wall + MAX_OFFSET);
  }

  #isFirst(unit: TimeUnit, ordinal: number, t: number): boolean {
    return this.ordinal(unit, t) === ordinal && this.ordinal(unit, t - 1) < ordinal;
  }
}

class UniformPeriods implements Periods {
  readonly alignment = "uniform";
  readonly timeZone = "UTC";

  ordinal(unit: TimeUnit, t: number): number {
    return uniformOrdinal(unit, t);
  }

  start(unit: TimeUnit, ordinal: number): number {
    return uniformStart(unit, ordinal);
  }
}

const uniform = new UniformPeriods();
const calendars = new Map<string, CalendarPeriods>();

/** Calendar periods in `timeZone` (validated: `INVALID_TIME_ZONE`), or the uniform periods. */
export function periodsFor(alignment: Alignment, timeZone: string = systemTimeZone()): Periods {
  if (alignment === "uniform") return uniform;
  let periods = calendars.get(timeZone);
  if (periods === undefined) {
    periods = new CalendarPeriods(TimeZone.of(timeZone));
    calendars.set(timeZone, periods);
  }
  return periods;
}

export function uniformPeriods(): Periods {
  return uniform;
}

/** Start of the period containing t. */
export function periodStart(periods: Periods, unit: TimeUnit, t: number): number {
  return periods.start(unit, periods.ordinal(unit, t));
}

/** The first boundary strictly after t. */
export function nextBoundary(periods: Periods, unit: TimeUnit, t: number): number {
  return periods.start(unit, periods.ordinal(unit, t) + 1);
}

/** How many boundaries of `unit` lie in (from, to]; negative when to < from. */
export function boundariesBetween(periods: Periods, unit: TimeUnit, from: number, to: number): number {
  return periods.ordinal(unit, to) - periods.ordinal(unit, from);
}

/** Earliest integer t in (lo, hi] with test(t) true, given test(lo) false and test(hi) true. */
function earliest(test: (t: number) => boolean, lo: number, hi: number): number {
  let low = lo;
  let high = hi;
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (test(mid)) high = mid;
    else low = mid;
  }
  return high;
}
