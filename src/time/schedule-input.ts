/**
 * Parsing and naming of schedule inputs: "HH:MM" times, day names, zones and options. Every
 * rejection is `INVALID_SCHEDULE` with a message that says what is accepted.
 */

import { TallyError } from "../errors.ts";
import { TimeZone } from "./calendar.ts";
import { valueText } from "./value-text.ts";

export type DayName = "mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun";
export type FullDayName = "monday" | "tuesday" | "wednesday" | "thursday" | "friday" | "saturday" | "sunday";
/** A day as accepted on input: any case, short or full ("mon", "Mon", "MONDAY", …). */
export type DayInput = DayName | FullDayName | Capitalize<DayName | FullDayName> | Uppercase<DayName | FullDayName>;

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const DAY_NAMES: readonly DayName[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const FULL_NAMES: readonly FullDayName[] = [
  "monday",
  "tuesday",
  "wednesday",
  "thursday",
  "friday",
  "saturday",
  "sunday",
];

/** "HH:MM" -> ms of the wall-clock day; "24:00" only where `endOfDay` allows it. */
export function parseTime(value: unknown, what: "from" | "to", endOfDay: boolean): number {
  const match = typeof value === "string" ? /^(\d{1,2}):(\d{2})$/.exec(value) : null;
  if (match !== null) {
    const hours = Number(match[1]);
    const minutes = Number(match[2]);
    if (hours <= 23 && minutes <= 59) return hours * HOUR + minutes * MINUTE;
    if (endOfDay && hours === 24 && minutes === 0) return DAY;
  }
  throw invalid(
    `invalid schedule time ${valueText(value)} for ${what}: pass "HH:MM" with HH 00-23 and MM 00-59` +
      (endOfDay ? ' ("24:00" is allowed as the end)' : ' ("24:00" is only allowed as the end)'),
    { [what]: value },
  );
}

export function formatTime(ms: number): string {
  const hours = Math.floor(ms / HOUR);
  const minutes = Math.floor((ms % HOUR) / MINUTE);
  return `${String(hours).padStart(2, "0")}:${String(minutes).padStart(2, "0")}`;
}

export function parseDays(days: unknown): number {
  if (!Array.isArray(days) || days.length === 0) {
    throw invalid(
      `invalid schedule days ${valueText(days)}: pass a non-empty list such as ["mon", "tue"] ` +
        '(names "mon".."sun" or full names, any case)',
      { days },
    );
  }
  let mask = 0;
  for (const day of days) {
    const name = typeof day === "string" ? day.toLowerCase() : "";
    let index = (DAY_NAMES as readonly string[]).indexOf(name);
    if (index < 0) index = (FULL_NAMES as readonly string[]).indexOf(name);
    if (index < 0) {
      throw invalid(
        `unknown day ${valueText(day)} in schedule days: use "mon", "tue", "wed", "thu", "fri", ` +
          '"sat", "sun" or full names like "monday" (any case)',
        { days, day },
      );
    }
    mask |= 1 << index;
  }
  return mask;
}

export function maskDays(mask: number): DayName[] {
  return DAY_NAMES.filter((_, i) => ((mask >> i) & 1) === 1);
}

export function zoneOption(timeZone: unknown): TimeZone | null {
  if (timeZone === undefined) return null;
  try {
    return TimeZone.of(timeZone as string);
  } catch (cause) {
    throw invalid(
      `unknown schedule time zone ${valueText(timeZone)}: pass an IANA zone name such as ` +
        '"UTC" or "Europe/Berlin", or leave timeZone out to use the store\'s zone',
      { timeZone },
      cause,
    );
  }
}

export function checkOptions(options: unknown, what: string): void {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw invalid(`invalid ${what} schedule options ${valueText(options)}: pass an object like { timeZone: "UTC" }`, {
      options,
    });
  }
}

export function invalid(message: string, details: Record<string, unknown>, cause?: unknown): TallyError {
  return new TallyError("INVALID_SCHEDULE", message, cause === undefined ? { details } : { details, cause });
}
