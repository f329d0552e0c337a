/**
 * A naive, independent oracle for wall-clock time in a zone, built directly on
 * `Intl.DateTimeFormat#formatToParts` and `Date.UTC` (never on calendar.ts's arithmetic): slow,
 * obviously right, and what the calendar and schedule tests compare against.
 */

export const ZONES = [
  "UTC",
  "Europe/Berlin",
  "America/New_York",
  "Asia/Kolkata",
  "Asia/Kathmandu",
  "Australia/Lord_Howe",
] as const;

export const SECOND = 1000;
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
export const FIRST = Date.UTC(1970, 0, 1);
export const LAST = Date.UTC(2100, 11, 31, 23, 59, 59, 999);

export interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  ms: number;
  /** 1 = Monday … 7 = Sunday. */
  weekday: number;
}

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };
const formats = new Map<string, Intl.DateTimeFormat>();

function format(zone: string): Intl.DateTimeFormat {
  let f = formats.get(zone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      fractionalSecondDigits: 3,
      weekday: "short",
    });
    formats.set(zone, f);
  }
  return f;
}

/** The local wall clock at t, from Intl. */
export function wallAt(zone: string, t: number): Wall {
  const fields: Record<string, string> = {};
  for (const part of format(zone).formatToParts(t)) fields[part.type] = part.value;
  return {
    year: Number(fields.year),
    month: Number(fields.month),
    day: Number(fields.day),
    hour: Number(fields.hour),
    minute: Number(fields.minute),
    second: Number(fields.second),
    ms: Number(fields.fractionalSecond),
    weekday: WEEKDAYS[fields.weekday as string] as number,
  };
}

/** Days since 1970-01-01 of the local date at t (through Date.UTC). */
export function localDate(zone: string, t: number): number {
  const w = wallAt(zone, t);
  return Date.UTC(w.year, w.month - 1, w.day) / DAY;
}

/** UTC offset at t: the wall clock read as if it were UTC, minus t. */
export function offset(zone: string, t: number): number {
  const w = wallAt(zone, t);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second, w.ms) - t;
}

export function isMidnight(w: Wall): boolean {
  return w.hour === 0 && w.minute === 0 && w.second === 0 && w.ms === 0;
}

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

const transitionCache = new Map<string, number[]>();

/**
 * Every offset transition of `zone` in the given UTC years, each the first ms with the new
 * offset: sampled every 6 hours (changes are months apart), then bisected to the millisecond.
 */
export function transitions(zone: string, years: readonly number[]): number[] {
  const key = `${zone} ${years.join(",")}`;
  const cached = transitionCache.get(key);
  if (cached !== undefined) return cached;
  const found: number[] = [];
  for (const year of years) {
    const end = Date.UTC(year + 1, 0, 1);
    let t = Date.UTC(year, 0, 1);
    let before = offset(zone, t);
    while (t < end) {
      const next = t + 6 * HOUR;
      const after = offset(zone, next);
      if (after !== before) {
        let low = t;
        let high = next;
        while (high - low > 1) {
          const mid = Math.floor((low + high) / 2);
          if (offset(zone, mid) === before) low = mid;
          else high = mid;
        }
        found.push(high);
      }
      before = after;
      t = next;
    }
  }
  transitionCache.set(key, found);
  return found;
}

/** Years in which the test zones change offsets in interesting ways (Lord Howe 1981, Kathmandu at the start of 1986, which is 1985 in UTC). */
export const TRANSITION_YEARS = [1981, 1985, 2000, 2024, 2100] as const;
