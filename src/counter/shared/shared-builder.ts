/**
 * `SharedEventStore.builder()`: the same geometry and time options as `EventStore.builder()` (units,
 * presets, timeZone, alignment, withClock) plus where and how to share. Methods validate their
 * argument at once and throw; whole-config checks reject from `build()` (`INVALID_CONFIG`). The geometry
 * options come from `CounterGeometryBuilder`, shared with the in-process builder.
 * Every process sharing a backend prefix must use the same units, bucket counts, alignment and
 * zone: the backend stores the layout with each event and rejects a mismatch.
 */

import { TallyError } from "../../errors.ts";
import { periodsFor, systemTimeZone } from "../../time/calendar.ts";
import { systemClock } from "../../time/clock.ts";
import { type Duration, toMs } from "../../time/duration.ts";
import { makeLayout } from "../config.ts";
import { CounterGeometryBuilder } from "../geometry-builder.ts";
import type { CounterBackend } from "./counter-backend.ts";
import type { FallbackStore } from "./fallback-store.ts";
import { type ClockSource, SharedEngine, type StoreErrorPolicy } from "./shared-engine.ts";

type Factory<S> = (engine: SharedEngine, policy: StoreErrorPolicy, fallback: FallbackStore | undefined) => S;

export class SharedEventStoreBuilder<S = unknown> extends CounterGeometryBuilder {
  readonly #factory: Factory<S>;
  #backend: CounterBackend | undefined;
  #clockSource: ClockSource = "client";
  #policy: StoreErrorPolicy = "throw";
  #timeout = 1_000;
  #fallback: FallbackStore | undefined;

  constructor(factory: Factory<S>) {
    super();
    this.#factory = factory;
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
    const geometry = this.geometry();
    const alignment = geometry.alignment ?? "calendar";
    if (this.#clockSource === "server") {
      if (alignment !== "uniform") {
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
    const zone = geometry.timeZone ?? systemTimeZone();
    const engine = new SharedEngine({
      clock: geometry.clock ?? systemClock,
      periods: periodsFor(alignment, zone),
      timeZone: zone,
      layout: makeLayout(geometry.units),
      backend,
      clockSource: this.#clockSource,
      backendTimeout: this.#timeout,
    });
    return this.#factory(engine, this.#policy, this.#fallback);
  }
}
