/**
 * Limit constraints as plain, frozen data (spec §6) and the count validation every limiter shares.
 * The in-process `Limiter` and the shared (Redis/PostgreSQL) limiter build the same objects, so a
 * denial reads the same whichever store produced it.
 */

import { TallyError } from "../errors.ts";
import type { TimeUnit } from "../time/units.ts";

/** What a limiter needs from a schedule (`Schedule` in `src/time/schedule.ts` satisfies it). */
export interface ScheduleLike {
  contains(at: number, zone?: string): boolean;
  nextChange(at: number, zone?: string): number | undefined;
}

export type Constraint<S extends ScheduleLike = ScheduleLike> =
  | {
      readonly kind: "atMost";
      readonly eventId: string;
      readonly limit: number;
      readonly window: { readonly count: number; readonly unit: TimeUnit };
      readonly sliding: boolean;
    }
  | {
      readonly kind: "atLeast";
      readonly eventId: string;
      readonly count: number;
      readonly window: { readonly count: number; readonly unit: TimeUnit };
    }
  | { readonly kind: "cooldown" | "within"; readonly eventId: string; readonly duration: number }
  | { readonly kind: "during" | "outsideOf"; readonly schedule: S }
  | { readonly kind: "unavailable" };

export const MAX_COUNT = 4_294_967_295;

/** A record count: an integer 0 .. 2^32-1. */
export function validateRecordCount(count: unknown): number {
  if (typeof count === "number" && Number.isInteger(count) && count >= 0 && count <= MAX_COUNT) return count;
  throw invalidCount(count, "a record count must be an integer from 0 to 4294967295");
}

/** A limit or atLeast value: an integer >= 0. */
export function validateLimitValue(value: unknown, what: string): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value;
  throw invalidCount(value, `${what} must be an integer >= 0`);
}

/** A terminal or reservation count: an integer 1 .. 2^32-1. */
export function validateTerminalCount(count: unknown): number {
  if (typeof count === "number" && Number.isInteger(count) && count >= 1 && count <= MAX_COUNT) return count;
  throw invalidCount(count, "a check or reservation count must be an integer from 1 to 4294967295");
}

export function validateSchedule<S extends ScheduleLike>(schedule: S): S {
  const s = schedule as Partial<ScheduleLike> | null | undefined;
  if (typeof s === "object" && s !== null && typeof s.contains === "function" && typeof s.nextChange === "function") {
    return schedule;
  }
  throw new TallyError(
    "INVALID_SCHEDULE",
    `invalid schedule ${String(schedule)}: pass a Schedule such as Schedule.hours(9, 17) or Schedule.weekdays()`,
  );
}

function invalidCount(value: unknown, hint: string): TallyError {
  return new TallyError("INVALID_COUNT", `invalid count ${String(value)}: ${hint}`, { details: { value } });
}
