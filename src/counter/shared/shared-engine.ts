/**
 * The engine behind `SharedEventStore`, its queries and its limiters: the layout, the calendar
 * math (ordinals of now and of past instants, computed here so backends only see ordinals) and the
 * guarded backend call (timeout, failure pacing). Not exported from the package.
 *
 * Failure pacing: after a backend failure (an error or no answer within `backendTimeout`) the
 * backend is left alone for one second of the store's clock: calls in that second fail at once
 * with the last failure, without a round trip. The first call after it tries the backend again.
 * Misuse reported by the backend (`INVALID_CONFIG`, `FUTURE_EVENT`) is not a failure.
 */

import { isTallyError, TallyError } from "../../errors.ts";
import type { Alignment, Periods } from "../../time/calendar.ts";
import type { Clock } from "../../time/clock.ts";
import { PeriodCursor } from "../../time/period-cursor.ts";
import { LONGEST_MS, NOMINAL_MS, TIME_UNITS, type TimeUnit } from "../../time/units.ts";
import { type Layout, unitIndex } from "../config.ts";
import type { BoundCounterBackend, CounterBackend, CounterLayout, OpTime } from "./counter-backend.ts";
import { DeadlineWatch } from "./deadline-watch.ts";

export type ClockSource = "client" | "server";
export type StoreErrorPolicy = "throw" | "allow" | "deny";

/** How long after a failure the backend is left alone (ms of the store's clock). */
export const RETRY_PAUSE_MS = 1_000;

export interface EngineOptions {
  clock: Clock;
  periods: Periods;
  /** Zone of local schedules (the calendar zone; with uniform buckets, still the configured zone). */
  timeZone: string;
  layout: Layout;
  backend: CounterBackend;
  clockSource: ClockSource;
  backendTimeout: number;
}

export class SharedEngine {
  readonly clock: Clock;
  readonly periods: Periods;
  readonly layout: Layout;
  readonly alignment: Alignment;
  readonly timeZone: string;
  readonly clockSource: ClockSource;
  readonly backendKind: string;
  readonly backendTimeout: number;
  readonly bound: BoundCounterBackend;
  readonly #cursors: PeriodCursor[];
  #pausedUntil = Number.NEGATIVE_INFINITY;
  #lastFailure: TallyError | undefined;
  readonly #deadlines: DeadlineWatch;
  closed = false;

  constructor(options: EngineOptions) {
    this.clock = options.clock;
    this.periods = options.periods;
    this.layout = options.layout;
    this.alignment = options.periods.alignment;
    this.timeZone = options.timeZone;
    this.clockSource = options.clockSource;
    this.backendKind = options.backend.kind;
    this.backendTimeout = options.backendTimeout;
    this.#deadlines = new DeadlineWatch(options.backendTimeout);
    this.#cursors = options.layout.units.map((u) => new PeriodCursor(options.periods, u));
    this.bound = options.backend.bind(backendLayout(options.layout, options.periods));
  }

  /** The op time of a call: the client clock with ordinals, or left to the server. */
  time(now: number): OpTime {
    if (this.clockSource === "server") return SERVER_TIME;
    const ordinals = new Array<number>(this.#cursors.length);
    for (let u = 0; u < this.#cursors.length; u++) ordinals[u] = this.#cursors[u]!.ordinalAt(now);
    return { now, ordinals };
  }

  /** Ordinals of a past instant per unit (client clock only). */
  ordinalsAt(t: number): number[] {
    return this.layout.units.map((unit) => this.periods.ordinal(unit, t));
  }

  now(): number {
    if (this.closed) {
      throw new TallyError("STORE_CLOSED", "this SharedEventStore is closed: build a new one to keep counting");
    }
    return this.clock.now();
  }

  unitIndex(unit: TimeUnit): number {
    return unitIndex(this.layout, unit);
  }

  isTracked = (unit: TimeUnit): boolean => unitIndex(this.layout, unit) >= 0;

  /**
   * Runs one backend operation under the timeout and the failure pacing. Rejects with
   * `STORAGE_FAILED` (cause: the driver error or the timeout) on failure.
   */
  call<T>(operation: (backend: BoundCounterBackend) => Promise<T>, what: string): Promise<T> {
    if (this.#lastFailure !== undefined && this.clock.now() < this.#pausedUntil) {
      return Promise.reject(
        new TallyError(
          "STORAGE_FAILED",
          `${what}: the ${this.backendKind} backend failed moments ago and is retried at most once per second (${this.#lastFailure.message})`,
          { cause: this.#lastFailure },
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const watched = this.#deadlines.watch(() =>
        reject(
          this.#failed(
            new TallyError(
              "STORAGE_FAILED",
              `${what}: the ${this.backendKind} backend did not answer within ${this.backendTimeout} ms (backendTimeout); the operation may still have been applied`,
              { details: { timeoutMs: this.backendTimeout } },
            ),
          ),
        ),
      );
      let pending: Promise<T>;
      try {
        pending = operation(this.bound);
      } catch (error) {
        pending = Promise.reject(error);
      }
      pending.then(
        (result) => {
          if (!this.#deadlines.finish(watched)) return;
          this.#lastFailure = undefined;
          resolve(result);
        },
        (error: unknown) => {
          if (!this.#deadlines.finish(watched)) return;
          if (isTallyError(error) && (error.code === "INVALID_CONFIG" || error.code === "FUTURE_EVENT")) {
            reject(error);
            return;
          }
          reject(
            this.#failed(
              isTallyError(error)
                ? error
                : new TallyError(
                    "STORAGE_FAILED",
                    `${what}: the ${this.backendKind} backend failed: ${String(error)}`,
                    {
                      cause: error,
                    },
                  ),
            ),
          );
        },
      );
    });
  }

  /** Notes a failure for the pacing and returns it. */
  #failed(failure: TallyError): TallyError {
    this.#lastFailure = failure;
    this.#pausedUntil = this.clock.now() + RETRY_PAUSE_MS;
    return failure;
  }
}

const SERVER_TIME: OpTime = Object.freeze({ now: undefined, ordinals: undefined });

function backendLayout(layout: Layout, periods: Periods): CounterLayout {
  let ttl = 0;
  let renewUnit = 0;
  let longest = 0;
  const units = layout.units.map((unit, u) => {
    const bucketCount = layout.sizes[u]!;
    // One period more than the ring holds, so a key outlives every count it can still answer. The
    // maximum is at least the longest coverage plus one period of the unit that has it (renewUnit).
    ttl = Math.max(ttl, (bucketCount + 1) * LONGEST_MS[unit]);
    if (bucketCount * LONGEST_MS[unit] > longest) {
      longest = bucketCount * LONGEST_MS[unit];
      renewUnit = u;
    }
    return { unit, bucketCount };
  });
  const zone = periods.alignment === "uniform" ? "UTC" : periods.timeZone;
  // The leading token is a storage version, which each backend replaces with its own (Redis: its hash
  // layout's) or ignores (PostgreSQL): what two stores must agree on is the rest.
  const signature = `v3|${periods.alignment}|${zone}|${units.map((u) => `${TIME_UNITS.indexOf(u.unit)}:${u.bucketCount}`).join(",")}`;
  return { units, alignment: periods.alignment, timeZone: zone, ttlMs: Math.ceil(ttl), renewUnit, signature };
}

/** Nominal coverage of a unit in ms (bucket count x nominal length). */
export function coverageMs(layout: Layout, u: number): number {
  return layout.sizes[u]! * NOMINAL_MS[layout.units[u]!];
}
