/**
 * Durations: a number of milliseconds, or a string `<number><unit>` with unit ms, s, m, h, d or w
 * (one optional space; `m` is minutes). Months and years are not durations: their length depends
 * on the calendar, so windows over them are expressed with a `TimeUnit` instead.
 */

import { TallyError } from "../errors.ts";
import { valueText } from "./value-text.ts";

export type DurationUnit = "ms" | "s" | "m" | "h" | "d" | "w";
export type Duration = number | `${number}${DurationUnit}` | `${number} ${DurationUnit}`;

const MS_PER: Record<DurationUnit, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const PATTERN = /^(\d+(?:\.\d+)?) ?(ms|s|m|h|d|w)$/;

/** Converts a duration to milliseconds, or throws `INVALID_DURATION` saying what is accepted. */
export function toMs(duration: Duration | unknown, what = "duration"): number {
  if (typeof duration === "number") {
    if (Number.isFinite(duration) && duration >= 0) return duration + 0; // + 0 turns -0 into 0
    throw invalid(duration, what);
  }
  if (typeof duration === "string") {
    const match = PATTERN.exec(duration.trim());
    if (match !== null) {
      const value = Number(match[1]) * MS_PER[match[2] as DurationUnit];
      if (Number.isFinite(value)) return value;
    }
  }
  throw invalid(duration, what);
}

/** True when the value parses as a duration (used to tell a duration from a unit name). */
export function isDuration(value: unknown): value is Duration {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0;
  return typeof value === "string" && PATTERN.test(value.trim());
}

/** The shortest exact spelling of a millisecond count: 90000 -> "90s", 604800000 -> "1w". */
export function formatDuration(ms: number): string {
  for (const unit of ["w", "d", "h", "m", "s"] as const) {
    const size = MS_PER[unit];
    if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

function invalid(value: unknown, what: string): TallyError {
  return new TallyError(
    "INVALID_DURATION",
    `invalid ${what} ${valueText(value)}: pass milliseconds (a finite number >= 0) or a string like "250ms", "30s", "15m", "1h", "7d" or "2w"`,
    { details: { value } },
  );
}
