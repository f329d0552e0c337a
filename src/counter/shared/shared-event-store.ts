/**
 * `SharedEventStore`: the counter model of `EventStore` (spec §4–6) kept in a backend shared by many
 * processes and hosts (spec §10). Backend-agnostic: it imports no client; `tally/redis` and
 * `tally/postgres` provide backends.
 *
 * Guarantees:
 * - Every record, check, checkAndRecord, usage, reserve, commit and cancel is ONE atomic backend
 *   operation: N processes calling `checkAndRecord` against `atMost(L)` in one window admit exactly
 *   L; reservations likewise. Queries are one atomic read per event set.
 * - Time: by default `now` comes from the injected clock and the period ordinals are computed here
 *   (calendar math stays in JS), so every process must run a sane clock; `clockSource("server")`
 *   takes `now` from the backend instead (uniform alignment only).
 * - Failures (a backend error, or no answer within `backendTimeout`): see `onStoreError` in the
 *   builder. Records and queries never pretend: without a fallback they reject with
 *   `STORAGE_FAILED` whatever the policy. After a failure the backend is retried at most once per
 *   second (of the store's clock).
 * - No persist, export, merge or sync: the backend is the store. `close()` only stops this object
 *   (the backend's client belongs to the caller).
 */

import { TallyError } from "../../errors.ts";
import { type Instant, toInstant } from "../../time/clock.ts";
import { type Duration, toMs } from "../../time/duration.ts";
import type { TimeUnit } from "../../time/units.ts";
import { validateRecordCount } from "../constraints.ts";
import { validateEventId } from "../event-id.ts";
import type { RecordInstant } from "./counter-backend.ts";
import type { FallbackStore } from "./fallback-store.ts";
import { PlanShapes } from "./limit-plan.ts";
import { SharedEventStoreBuilder } from "./shared-builder.ts";
import type { SharedEngine, StoreErrorPolicy } from "./shared-engine.ts";
import { isStorageFailure, type SharedContext, SharedLimiter } from "./shared-limiter.ts";
import { SharedDeltaQuery, SharedQuery, SharedRangeSource, SharedRatioQuery } from "./shared-query.ts";

export class SharedEventStore {
  readonly #engine: SharedEngine;
  readonly #policy: StoreErrorPolicy;
  readonly #fallback: FallbackStore | undefined;
  readonly #context: SharedContext;

  /** Use `SharedEventStore.builder()…build()`. */
  constructor(engine: SharedEngine, policy: StoreErrorPolicy, fallback: FallbackStore | undefined) {
    this.#engine = engine;
    this.#policy = policy;
    this.#fallback = fallback;
    this.#context = {
      engine,
      policy,
      fallback,
      shapes: new PlanShapes(),
      recordCount: (id, count) => this.recordCount(id, count),
    };
  }

  static builder(): SharedEventStoreBuilder<SharedEventStore> {
    return new SharedEventStoreBuilder<SharedEventStore>(
      (engine, policy, fallback) => new SharedEventStore(engine, policy, fallback),
    );
  }

  get timeZone(): string {
    return this.#engine.timeZone;
  }
  get alignment(): "calendar" | "uniform" {
    return this.#engine.alignment;
  }
  get clockSource(): "client" | "server" {
    return this.#engine.clockSource;
  }
  get onStoreError(): StoreErrorPolicy {
    return this.#policy;
  }

  /** Tracked units and their bucket counts, finest first. */
  trackedIntervals(): Array<[TimeUnit, number]> {
    const layout = this.#engine.layout;
    return layout.units.map((unit, u) => [unit, layout.sizes[u]!]);
  }

  record(id: string): Promise<void> {
    return this.#record(id, 1, undefined);
  }
  recordCount(id: string, count: number): Promise<void> {
    return this.#record(id, count, undefined);
  }
  recordAt(id: string, at: Instant): Promise<void> {
    return this.#record(id, 1, { at });
  }
  recordCountAt(id: string, count: number, at: Instant): Promise<void> {
    return this.#record(id, count, { at });
  }
  recordAgo(id: string, ago: Duration): Promise<void> {
    return this.#record(id, 1, { ago });
  }
  recordCountAgo(id: string, count: number, ago: Duration): Promise<void> {
    return this.#record(id, count, { ago });
  }

  query(id: string): SharedQuery {
    return new SharedQuery(this.#context, id);
  }
  queryMany(ids: readonly string[]): SharedRangeSource {
    return new SharedRangeSource(this.#context, ids);
  }
  queryRatio(numerator: string, denominator: string): SharedRatioQuery {
    return new SharedRatioQuery((id) => this.query(id), numerator, denominator);
  }
  queryDelta(positive: string, negative: string): SharedDeltaQuery {
    return new SharedDeltaQuery(this.#engine, (id) => this.query(id), positive, negative);
  }
  /** A fresh limiter; build it once and reuse it (its terminals may be called any number of times). */
  limit(): SharedLimiter {
    return new SharedLimiter(this.#context);
  }

  /** Stops this store: later calls throw `STORE_CLOSED`. The backend's client stays open (it is yours). */
  async close(): Promise<void> {
    this.#engine.closed = true;
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #record(id: string, countArg: number, when: { at: Instant } | { ago: Duration } | undefined): Promise<void> {
    validateEventId(id);
    const count = validateRecordCount(countArg);
    const engine = this.#engine;
    const now = engine.now();
    let instant: RecordInstant | undefined;
    let at = now;
    if (when !== undefined && "at" in when) {
      at = toInstant(when.at, "record instant");
      if (engine.clockSource === "client" && at > now) throw futureEvent(id, at, now);
      instant = { at, ordinals: engine.clockSource === "client" ? engine.ordinalsAt(at) : undefined };
    } else if (when !== undefined) {
      const ago = toMs(when.ago, "record age");
      at = now - ago;
      instant = engine.clockSource === "client" ? { at, ordinals: engine.ordinalsAt(at) } : { ago };
    }
    const op =
      instant === undefined
        ? { eventId: id, count, time: engine.time(now) }
        : { eventId: id, count, time: engine.time(now), instant };
    try {
      await engine.call((b) => b.record(op), `record("${id}")`);
    } catch (error) {
      const fallback = this.#fallback;
      if (fallback === undefined || !isStorageFailure(error)) throw error;
      fallback.recordCountAt(id, count, at);
    }
  }
}

function futureEvent(id: string, at: number, now: number): TallyError {
  return new TallyError(
    "FUTURE_EVENT",
    `cannot record "${id}" at ${new Date(at).toISOString()}, after now (${new Date(now).toISOString()}): record it when it happens`,
    { details: { eventId: id, at, now } },
  );
}
