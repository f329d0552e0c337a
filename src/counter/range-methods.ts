/**
 * The range vocabulary shared by `Query`, `queryMany`, `queryRatio` and `queryDelta` (spec §5):
 * `lastX(n)` = buckets [0, n); `x(start, end)` = [start, end); `xFrom(k)` = [k, all); `ever()` = every
 * bucket of the unit with the longest coverage. Arguments are validated here (`INVALID_RANGE`);
 * clamping to the bucket count happens when a terminal reads.
 */

import { TallyError } from "../errors.ts";
import type { TimeUnit } from "../time/units.ts";

/** A validated range: unit undefined means "ever"; end may exceed the bucket count. */
export interface RangeSpec {
  readonly unit: TimeUnit | undefined;
  readonly start: number;
  readonly end: number;
}

export function checkCount(n: unknown, what: string, unit?: TimeUnit): number {
  if (typeof n === "number" && Number.isInteger(n) && n >= 1) return n;
  const name = unit === undefined ? what : `last-${unit} count`;
  throw new TallyError("INVALID_RANGE", `invalid ${name} ${String(n)}: pass an integer >= 1`, {
    details: { value: n },
  });
}

function checkBounds(start: unknown, end: unknown): void {
  if (
    typeof start === "number" &&
    typeof end === "number" &&
    Number.isInteger(start) &&
    Number.isInteger(end) &&
    start >= 0 &&
    start < end
  ) {
    return;
  }
  throw new TallyError(
    "INVALID_RANGE",
    `invalid bucket range [${String(start)}, ${String(end)}): pass integers with 0 <= start < end (half-open, bucket 0 is the current period)`,
    { details: { start, end } },
  );
}

function checkFrom(k: unknown): number {
  if (typeof k === "number" && Number.isInteger(k) && k >= 0) return k;
  throw new TallyError("INVALID_RANGE", `invalid start bucket ${String(k)}: pass an integer >= 0`, {
    details: { value: k },
  });
}

export abstract class RangeMethods<R> {
  protected abstract range(spec: RangeSpec): R;

  #last(unit: TimeUnit, n: number): R {
    return this.range({ unit, start: 0, end: checkCount(n, "count", unit) });
  }
  #between(unit: TimeUnit, start: number, end: number): R {
    checkBounds(start, end);
    return this.range({ unit, start, end });
  }
  #from(unit: TimeUnit, k: number): R {
    return this.range({ unit, start: checkFrom(k), end: Number.POSITIVE_INFINITY });
  }

  lastSeconds(n: number): R {
    return this.#last("seconds", n);
  }
  lastMinutes(n: number): R {
    return this.#last("minutes", n);
  }
  lastHours(n: number): R {
    return this.#last("hours", n);
  }
  lastDays(n: number): R {
    return this.#last("days", n);
  }
  lastWeeks(n: number): R {
    return this.#last("weeks", n);
  }
  lastMonths(n: number): R {
    return this.#last("months", n);
  }
  lastYears(n: number): R {
    return this.#last("years", n);
  }
  /** Every bucket of the tracked unit with the longest coverage. */
  ever(): R {
    return this.range({ unit: undefined, start: 0, end: Number.POSITIVE_INFINITY });
  }
  seconds(start: number, end: number): R {
    return this.#between("seconds", start, end);
  }
  minutes(start: number, end: number): R {
    return this.#between("minutes", start, end);
  }
  hours(start: number, end: number): R {
    return this.#between("hours", start, end);
  }
  days(start: number, end: number): R {
    return this.#between("days", start, end);
  }
  weeks(start: number, end: number): R {
    return this.#between("weeks", start, end);
  }
  months(start: number, end: number): R {
    return this.#between("months", start, end);
  }
  years(start: number, end: number): R {
    return this.#between("years", start, end);
  }
  secondsFrom(k: number): R {
    return this.#from("seconds", k);
  }
  minutesFrom(k: number): R {
    return this.#from("minutes", k);
  }
  hoursFrom(k: number): R {
    return this.#from("hours", k);
  }
  daysFrom(k: number): R {
    return this.#from("days", k);
  }
  weeksFrom(k: number): R {
    return this.#from("weeks", k);
  }
  monthsFrom(k: number): R {
    return this.#from("months", k);
  }
  yearsFrom(k: number): R {
    return this.#from("years", k);
  }
}
