/**
 * `SharedEventStore.builder()`: the same geometry and time options as `EventStore.builder()` (units,
 * presets, timeZone, alignment, withClock) plus where and how to share. Methods validate their
 * argument at once and throw; whole-config checks reject from `build()` (`INVALID_CONFIG`).
 * Every process sharing a backend prefix must use the same units, bucket counts, alignment and
 * zone: the backend stores the layout with each event and rejects a mismatch.
 */

import { TallyError } from "../../errors.ts";
import { type Alignment, periodsFor, systemTimeZone, TimeZone } from "../../time/calendar.ts";
import { type Clock, systemClock } from "../../time/clock.ts";
import { type Duration, toMs } from "../../time/duration.ts";
import type { TimeUnit } from "../../time/units.ts";
import {
  ANALYTICS_UNITS,
  DEFAULT_UNITS,
  makeLayout,
  RATE_LIMITING_UNITS,
  type UnitCounts,
  validateBucketCount,
} from "../config.ts";
import type { CounterBackend } from "./counter-backend.ts";
import type { FallbackStore } from "./fallback-store.ts";
import { type ClockSource, SharedEngine, type StoreErrorPolicy } from "./shared-engine.ts";

type Factory<S> = (engine: SharedEngine, policy: StoreErrorPolicy, fallback: FallbackStore | undefined) => S;

export class SharedEventStoreBuilder<S = unknown> {
  readonly #factory: Factory<S>;
  #units: UnitCounts | undefined;
  #clock: Clock = systemClock;
  #zone: string | undefined;
  #alignment: Alignment = "calendar";
  #backend: CounterBackend | undefined;
  #clockSource: ClockSource = "client";
  #policy: StoreErrorPolicy = "throw";
  #timeout = 1_000;
  #fallback: FallbackStore | undefined;

  constructor(factory: Factory<S>) {
    this.#factory = factory;
  }

  #track(unit: TimeUnit, n: number): this {
    validateBucketCount(n, unit);
    this.#units = { ...(this.#units ?? {}), [unit]: n };
    return this;
  }
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
  /** 60 s, 60 min, 24 h (replaces the unit set; later trackX calls adjust it). */
  forRateLimiting(): this {
    this.#units = { ...RATE_LIMITING_UNITS };
    return this;
  }
  /** 90 d, 52 w, 24 months. */
  forAnalytics(): this {
    this.#units = { ...ANALYTICS_UNITS };
    return this;
  }
  /** The clock of every call (client clock source). @default systemClock */
  withClock(clock: Clock): this {
    if (typeof clock !== "object" || clock === null || typeof clock.now !== "function") {
      throw new TallyError("INVALID_CONFIG", "withClock needs an object with now(): number (epoch ms)");
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
        `unknown time zone ${JSON.stringify(iana)}: pass an IANA name such as "Europe/Berlin"`,
        {
          cause,
        },
      );
    }
    this.#zone = iana;
    return this;
  }
  /** "calendar" (local midnight, Monday, the 1st) or "uniform" (fixed epochs). @default "calendar" */
  alignment(a: Alignment): this {
    if (a !== "calendar" && a !== "uniform") {
      throw new TallyError("INVALID_CONFIG", `unknown alignment ${JSON.stringify(a)}: use "calendar" or "uniform"`);
    }
    this.#alignment = a;
    return this;
  }
  /** Where the counters live: `redisBackend(…)` from `tally/redis`, `postgresBackend(…)` from `tally/postgres`. Required. */
  withBackend(backend: CounterBackend): this {
    if (typeof backend !== "object" || backend === null || typeof backend.bind !== "function") {
      throw new TallyError(
        "INVALID_CONFIG",
        "withBackend needs a CounterBackend such as redisBackend(fromIoRedis(client))",
      );
    }
    this.#backend = backend;
    return this;
  }
  /** Whose clock says "now": "client" (the injected clock) or "server" (needs uniform alignment). @default "client" */
  clockSource(source: ClockSource): this {
    if (source !== "client" && source !== "server") {
      throw new TallyError(
        "INVALID_CONFIG",
        `unknown clock source ${JSON.stringify(source)}: use "client" or "server"`,
      );
    }
    this.#clockSource = source;
    return this;
  }
  /**
   * What a limit terminal answers when the backend fails (without a fallback): "throw" rejects with
   * STORAGE_FAILED, "allow" admits ({ ok: true, degraded: true }), "deny" refuses (constraint
   * { kind: "unavailable" }). @default "throw"
   */
  onStoreError(policy: StoreErrorPolicy): this {
    if (policy !== "throw" && policy !== "allow" && policy !== "deny") {
      throw new TallyError(
        "INVALID_CONFIG",
        `unknown onStoreError policy ${JSON.stringify(policy)}: use "throw", "allow" or "deny"`,
      );
    }
    this.#policy = policy;
    return this;
  }
  /** A call without an answer after this long counts as a backend failure. @default "1s" */
  backendTimeout(d: Duration): this {
    const ms = toMs(d, "backendTimeout");
    if (ms <= 0) throw new TallyError("INVALID_CONFIG", `backendTimeout must be > 0, got ${ms} ms`);
    this.#timeout = ms;
    return this;
  }
  /** A local `EventStore` answering while the backend fails (per-process quota, results degraded). @default none */
  fallback(store: FallbackStore): this {
    if (typeof store !== "object" || store === null || typeof store.limit !== "function") {
      throw new TallyError("INVALID_CONFIG", "fallback needs an EventStore (built with EventStore.builder()…build())");
    }
    this.#fallback = store;
    return this;
  }

  async build(): Promise<S> {
    const backend = this.#backend;
    if (backend === undefined) {
      throw new TallyError(
        "INVALID_CONFIG",
        "a SharedEventStore needs a backend: withBackend(redisBackend(fromIoRedis(client))) from tally/redis, or postgresBackend(pool) from tally/postgres",
      );
    }
    if (this.#clockSource === "server") {
      if (this.#alignment !== "uniform") {
        throw new TallyError(
          "INVALID_CONFIG",
          'clockSource("server") needs alignment("uniform"): the server has no time zone rules for calendar buckets',
        );
      }
      if (!backend.serverClock) {
        throw new TallyError(
          "INVALID_CONFIG",
          `the ${backend.kind} backend cannot read the server clock: use clockSource("client")`,
        );
      }
    }
    const zone = this.#zone ?? systemTimeZone();
    const engine = new SharedEngine({
      clock: this.#clock,
      periods: periodsFor(this.#alignment, zone),
      timeZone: zone,
      layout: makeLayout(this.#units ?? DEFAULT_UNITS),
      backend,
      clockSource: this.#clockSource,
      backendTimeout: this.#timeout,
    });
    return this.#factory(engine, this.#policy, this.#fallback);
  }
}
