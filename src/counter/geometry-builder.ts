/**
 * The options every counter store shares, in-process (`EventStore.builder()`) and shared
 * (`SharedEventStore.builder()`): which units are tracked and how many buckets each, the clock,
 * the time zone and the alignment. Methods validate at once and throw `INVALID_CONFIG`, so a bad
 * option fails where it is written.
 *
 * Presets replace the unit set; each `trackX(n)` then sets one unit (a later call wins); with
 * neither, the default configuration of the spec applies.
 */

import { TallyError } from "../errors.ts";
import { type Alignment, TimeZone } from "../time/calendar.ts";
import type { Clock } from "../time/clock.ts";
import type { TimeUnit } from "../time/units.ts";
import { ANALYTICS_UNITS, DEFAULT_UNITS, RATE_LIMITING_UNITS, type UnitCounts, validateBucketCount } from "./config.ts";

export interface CounterGeometry {
  units: UnitCounts;
  clock?: Clock;
  timeZone?: string;
  alignment?: Alignment;
}

export class CounterGeometryBuilder {
  #units: UnitCounts | undefined;
  #clock: Clock | undefined;
  #zone: string | undefined;
  #alignment: Alignment | undefined;

  trackSeconds(n: number): this {
    return this.#track("seconds", n);
  }
  trackMinutes(n: number): this {
    return this.#track("minutes", n);
  }
  trackHours(n: number): this {
    return this.#track("hours", n);
  }
  trackDays(n: number): this {
    return this.#track("days", n);
  }
  trackWeeks(n: number): this {
    return this.#track("weeks", n);
  }
  trackMonths(n: number): this {
    return this.#track("months", n);
  }
  trackYears(n: number): this {
    return this.#track("years", n);
  }

  /** 60 seconds, 60 minutes, 24 hours (replaces the unit set; later trackX calls adjust it). */
  forRateLimiting(): this {
    this.#units = { ...RATE_LIMITING_UNITS };
    return this;
  }

  /** 90 days, 52 weeks, 24 months (replaces the unit set; later trackX calls adjust it). */
  forAnalytics(): this {
    this.#units = { ...ANALYTICS_UNITS };
    return this;
  }

  /** The clock every call reads once. @default systemClock */
  withClock(clock: Clock): this {
    if (typeof (clock as Partial<Clock> | null)?.now !== "function") {
      throw new TallyError("INVALID_CONFIG", "withClock needs an object with a now() method returning epoch ms");
    }
    this.#clock = clock;
    return this;
  }

  /** IANA zone of calendar buckets and local schedules. @default the system zone */
  timeZone(iana: string): this {
    try {
      TimeZone.of(iana);
    } catch (cause) {
      throw new TallyError(
        "INVALID_CONFIG",
        `unknown time zone ${JSON.stringify(iana) ?? String(iana)}: pass an IANA name such as "UTC" or "Europe/Berlin"`,
        { cause },
      );
    }
    this.#zone = iana;
    return this;
  }

  /** "calendar" (local midnight, Monday, the 1st) or "uniform" (fixed epochs). @default "calendar" */
  alignment(a: Alignment): this {
    if (a !== "calendar" && a !== "uniform") {
      throw new TallyError(
        "INVALID_CONFIG",
        `unknown alignment ${JSON.stringify(a) ?? String(a)}: use "calendar" or "uniform"`,
      );
    }
    this.#alignment = a;
    return this;
  }

  /** What the options above say, with the default units when none were chosen. */
  protected geometry(): CounterGeometry {
    const geometry: CounterGeometry = { units: { ...(this.#units ?? DEFAULT_UNITS) } };
    if (this.#clock !== undefined) geometry.clock = this.#clock;
    if (this.#zone !== undefined) geometry.timeZone = this.#zone;
    if (this.#alignment !== undefined) geometry.alignment = this.#alignment;
    return geometry;
  }

  #track(unit: TimeUnit, n: number): this {
    const size = validateBucketCount(n, unit);
    this.#units = { ...(this.#units ?? {}), [unit]: size };
    return this;
  }
}
