/**
 * Strict time parsing for the meter. The gem's lenient `Time.parse` accepted zone-less strings and
 * impossible dates; tally accepts only RFC 3339 `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` with a
 * real calendar date in 1970–9999 (fraction digits past milliseconds are truncated).
 */

import { TallyError } from "../errors.ts";

export type TimeInput = number | Date | string;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

// Stream rows carry `toISOString()` text ("2026-05-06T10:00:00.123Z"); processing parses one per
// row, so that exact shape is read digit by digit with the validated day cached, and everything
// else takes the regex path. Both accept exactly the same strings.
let cachedDay = -1;
let cachedDayMs = 0;

function digits2(text: string, at: number): number {
  const a = text.charCodeAt(at) - 48;
  const b = text.charCodeAt(at + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

function fastIso(text: string): number | null | undefined {
  if (
    text.charCodeAt(4) !== 45 || // -
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 84 || // T
    text.charCodeAt(13) !== 58 || // :
    text.charCodeAt(16) !== 58 ||
    text.charCodeAt(19) !== 46 || // .
    text.charCodeAt(23) !== 90 // Z
  ) {
    return undefined;
  }
  return isoDigitsMs(
    digits2(text, 0),
    digits2(text, 2),
    digits2(text, 5),
    digits2(text, 8),
    digits2(text, 11),
    digits2(text, 14),
    digits2(text, 17),
    digits2(text, 20),
    text.charCodeAt(22) - 48,
  );
}

/**
 * Epoch ms of `toISOString()` text read as its digit pairs (`c1 c2` the year's, `ms1` the first two
 * millisecond digits, `ms2` the last; -1 for a pair that is not two digits): undefined when a digit
 * is missing, null for an impossible date or time, as `parseRfc3339` says. Shared by this module's
 * string path and `FileStream`'s byte path (`meter-file-event.ts`), with one validated-day cache.
 */
export function isoDigitsMs(
  c1: number,
  c2: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms1: number,
  ms2: number,
): number | null | undefined {
  if ((c1 | c2 | month | day | hour | minute | second | ms1) < 0 || ms2 < 0 || ms2 > 9) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const year = c1 * 100 + c2;
  const dayKey = year * 10_000 + month * 100 + day;
  if (dayKey !== cachedDay) {
    if (year < 1970 || month < 1 || month > 12 || day < 1) return null;
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    const monthDays = month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
    if (day > monthDays) return null;
    cachedDayMs = Date.UTC(year, month - 1, day);
    cachedDay = dayKey;
  }
  return cachedDayMs + ((hour * 60 + minute) * 60 + second) * 1000 + ms1 * 10 + ms2;
}

/** Epoch ms of a strict RFC 3339 string, or null. */
export function parseRfc3339(text: string): number | null {
  if (text.length === 24) {
    const fast = fastIso(text);
    if (fast !== undefined) return fast;
  }
  const m = RFC3339.exec(text);
  if (m === null) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (year < 1970 || month < 1 || month > 12 || day < 1) return null;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const monthDays = month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
  if (day > monthDays || hour > 23 || minute > 59 || second > 59) return null;
  const fraction = m[7];
  const ms = fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, "0"));
  let offset = 0;
  const zone = m[8] as string;
  if (zone !== "Z") {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return null;
    offset = (oh * 60 + om) * 60_000 * (zone[0] === "-" ? -1 : 1);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offset;
}

/** A TimeInput as epoch ms, or null when it is not one. */
export function timeInputMs(value: unknown): number | null {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (value instanceof Date) {
    const ms = value.getTime();
    return Number.isFinite(ms) ? ms : null;
  }
  if (typeof value === "string") return parseRfc3339(value);
  return null;
}

/** A TimeInput as epoch ms, or `INVALID_WINDOW` naming the field. */
export function requireTime(value: unknown, what: string): number {
  const ms = timeInputMs(value);
  if (ms !== null) return ms;
  throw new TallyError(
    "INVALID_WINDOW",
    `invalid ${what} ${typeof value === "string" ? JSON.stringify(value) : String(value)}: pass epoch milliseconds, a Date or an RFC 3339 string like "2026-05-06T10:00:00Z"`,
    { details: { value } },
  );
}

export function isoOf(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
