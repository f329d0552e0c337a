/**
 * The current period of one unit, cached. A store keeps one cursor per tracked unit and shares it
 * between all its events, so recording compares `now` with two numbers and computes calendar
 * boundaries again only when `now` leaves the cached period (or goes back before it).
 */

import type { Periods } from "./calendar.ts";
import type { TimeUnit } from "./units.ts";

export class PeriodCursor {
  readonly periods: Periods;
  readonly unit: TimeUnit;
  #from = Number.POSITIVE_INFINITY;
  #until = Number.NEGATIVE_INFINITY;
  #ordinal = 0;

  constructor(periods: Periods, unit: TimeUnit) {
    this.periods = periods;
    this.unit = unit;
  }

  /** The period ordinal of t. */
  ordinalAt(t: number): number {
    if (t >= this.#from && t < this.#until) return this.#ordinal;
    const ordinal = this.periods.ordinal(this.unit, t);
    this.#ordinal = ordinal;
    this.#from = this.periods.start(this.unit, ordinal);
    this.#until = this.periods.start(this.unit, ordinal + 1);
    return ordinal;
  }

  /** Start of the period containing the last instant asked about. */
  get periodStart(): number {
    return this.#from;
  }

  /** The next boundary after the last instant asked about. */
  get nextBoundary(): number {
    return this.#until;
  }
}
