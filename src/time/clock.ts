/**
 * One clock, injected everywhere. Time inside tally is integer epoch milliseconds in UTC.
 * `TestClock` makes every test deterministic: nothing in tally sleeps to let time pass.
 */

import { TallyError } from "../errors.ts";
import { type Duration, toMs } from "./duration.ts";
import { valueText } from "./value-text.ts";

export interface Clock {
  /** Epoch milliseconds, UTC. */
  now(): number;
}

export type Instant = number | Date;

export const systemClock: Clock = Object.freeze({ now: () => Date.now() });

/** The default start of a TestClock: a Monday at midnight UTC. */
export const TEST_CLOCK_START = Date.UTC(2024, 0, 1);

/**
 * A clock that moves only when told. Copies made with `clone()` share one time cell, so a clock
 * handed to a store and the one the test advances stay the same clock.
 */
export class TestClock implements Clock {
  readonly #cell: { now: number };

  constructor(start: Instant | string = TEST_CLOCK_START, cell?: { now: number }) {
    this.#cell = cell ?? { now: toInstant(start, "TestClock start") };
  }

  now(): number {
    return this.#cell.now;
  }

  /** Moves forward by a duration (ms or "30s", "15m", "7d"); never backwards. */
  advance(by: Duration): void {
    this.#cell.now += toMs(by, "TestClock.advance duration");
  }

  /** Jumps to an instant; may go backwards (to test a clock that steps back). */
  set(to: Instant | string): void {
    this.#cell.now = toInstant(to, "TestClock.set instant");
  }

  clone(): TestClock {
    return new TestClock(0, this.#cell);
  }
}

/** Epoch ms from a number, a Date or an ISO string, or `INVALID_TIMESTAMP`. */
export function toInstant(value: Instant | string | unknown, what = "instant"): number {
  const ms =
    typeof value === "number"
      ? value
      : value instanceof Date
        ? value.getTime()
        : typeof value === "string"
          ? Date.parse(value)
          : Number.NaN;
  if (Number.isFinite(ms)) return ms;
  throw new TallyError(
    "INVALID_TIMESTAMP",
    `invalid ${what} ${valueText(value)}: pass epoch milliseconds, a valid Date or an ISO 8601 string`,
    { details: { value } },
  );
}
