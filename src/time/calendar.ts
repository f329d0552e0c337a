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
 *   (local midnight, or 01:00 where midnight is skipped), so DST days last 23 h or 25 h;
 * - weeks: Monday-based local weeks, floor((localDay - 4) / 7) (1970-01-05 was a Monday);
 * - months: (localYear - 1970) * 12 + (localMonth - 1); years: localYear - 1970.
 *
 * Offsets come from `Intl.DateTimeFormat` (no dependency, DST-correct). Computing them costs a few
 * microseconds, so hot paths keep a `PeriodCursor` and only compare `now` with the next boundary.
 */

import { TallyError } from "../errors.ts";
import { type TimeUnit, uniformOrdinal, uniformStart } from "./units.ts";

export type Alignment = "calendar" | "uniform";

/** Period math for one alignment and zone. */
export interface Periods {
  readonly alignment: Alignment;
  readonly timeZone: string;
  ordinal(unit: TimeUnit, t: number): number;
  /** The earliest instant of the period (for a skipped period: the start of the next one). */
  start(unit: TimeUnit, ordinal: number): number;
}

/** Wall-clock fields of an instant in a zone. `weekday` is 1 = Monday … 7 = Sunday (ISO). */
export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
  /** Days since 1970-01-01 in the zone. */
  dayNumber: number;
  /** Milliseconds since local midnight of the wall clock (not elapsed time on DST days). */
  msOfDay: number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Every real UTC offset lies within ±15 h, which bounds each search below. */
const MAX_OFFSET = 15 * HOUR;

const mod = (a: number, b: number): number => ((a % b) + b) % b;

/** An IANA zone with its UTC offsets. Instances are cached: `TimeZone.of` is cheap after the first call. */
export class TimeZone {
  static readonly #cache = new Map<string, TimeZone>();
  readonly name: string;
  readonly #format: Intl.DateTimeFormat | undefined;

  private constructor(name: string, format: Intl.DateTimeFormat | undefined) {
    this.name = name;
    this.#format = format;
  }

  /** The zone named `name`, or `INVALID_TIME_ZONE` for a name `Intl` does not know. */
  static of(name: string): TimeZone {
    const cached = TimeZone.#cache.get(name);
    if (cached !== undefined) return cached;
    const zone = TimeZone.#create(name);
    TimeZone.#cache.set(name, zone);
    return zone;
  }

  static #create(name: string): TimeZone {
    if (typeof name !== "string" || name.trim() === "") throw invalidZone(name);
    let format: Intl.DateTimeFormat;
    try {
      format = new Intl.DateTimeFormat("en-US", {
        timeZone: name,
        hourCycle: "h23",
        year: "numeric",
        month: "numeric",
        day: "numeric",
        hour: "numeric",
        minute: "numeric",
        second: "numeric",
      });
    } catch (cause) {
      throw invalidZone(name, cause);
    }
    const canonical = format.resolvedOptions().timeZone;
    const utc = canonical === "UTC" || canonical === "Etc/UTC" || canonical === "Etc/GMT";
    return new TimeZone(name, utc ? undefined : format);
  }

  /** UTC offset at instant t in ms: local wall time = t + offsetAt(t). */
  offsetAt(t: number): number {
    const format = this.#format;
    if (format === undefined) return 0;
    const whole = Math.floor(t / 1000) * 1000;
    let year = 0;
    let month = 0;
    let day = 0;
    let hour = 0;
    let minute = 0;
    let second = 0;
    for (const part of format.formatToParts(whole)) {
      switch (part.type) {
        case "year":
          year = Number(part.value);
          break;
        case "month":
          month = Number(part.value);
          break;
        case "day":
          day = Number(part.value);
          break;
        case "hour":
          hour = Number(part.value);
          break;
        case "minute":
          minute = Number(part.value);
          break;
        case "second":
          second = Number(part.value);
          break;
        default:
          break;
      }
    }
    const wall = daysFromCivil(year, month, day) * DAY + hour * HOUR + minute * MINUTE + second * 1000;
    return wall - whole;
  }

  /** Days since 1970-01-01 of the local date at t. */
  localDay(t: number): number {
    return Math.floor((t + this.offsetAt(t)) / DAY);
  }

  local(t: number): LocalTime {
    const wall = t + this.offsetAt(t);
    const dayNumber = Math.floor(wall / DAY);
    const msOfDay = wall - dayNumber * DAY;
    const [year, month, day] = civilFromDays(dayNumber);
    return {
      year,
      month,
      day,
      hour: Math.floor(msOfDay / HOUR),
      minute: Math.floor(mod(msOfDay, HOUR) / MINUTE),
      second: Math.floor(mod(msOfDay, MINUTE) / 1000),
      weekday: mod(dayNumber + 3, 7) + 1,
      dayNumber,
      msOfDay,
    };
  }
}

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

/** The zone of this process (honours `TZ`), falling back to UTC. */
export function systemTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC";
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

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** [year, month 1-12, day 1-31] of a day number (inverse of `daysFromCivil`). */
export function civilFromDays(dayNumber: number): [number, number, number] {
  const z = dayNumber + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

function invalidZone(name: unknown, cause?: unknown): TallyError {
  return new TallyError(
    "INVALID_TIME_ZONE",
    `unknown time zone ${JSON.stringify(name) ?? String(name)}: pass an IANA zone name such as "UTC", "Europe/Berlin" or "America/New_York"`,
    { cause, details: { value: name } },
  );
}
