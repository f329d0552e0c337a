/**
 * What the routes work with: the components `tally serve` opened (any may be absent, and then its
 * routes answer 501), the reports it keeps processed, and the tracker groups it knows about.
 */

import type { EventStore } from "../index.ts";
import type { EventMeter } from "../meter.ts";
import type { Clock } from "../time/clock.ts";
import type { TrackingManager } from "../tracker.ts";
import { HttpError } from "./http-io.ts";
import type { MeterProcessor } from "./meter-processor.ts";
import type { ReportRegistry } from "./report-registry.ts";

/**
 * The meter's clock in the server. It reads the base clock, except inside `at(ms, fn)`, where it
 * reads `ms`: `POST /api/meter/events` uses it to record an event that started at a given time
 * and took a given duration through the meter's own `start`/`success`, which read the clock
 * synchronously when called.
 */
export class RecordingClock implements Clock {
  readonly #base: Clock;
  #fixed: number | null = null;

  constructor(base: Clock) {
    this.#base = base;
  }

  now(): number {
    return this.#fixed ?? this.#base.now();
  }

  at<T>(ms: number, run: () => T): T {
    this.#fixed = ms;
    try {
      return run();
    } finally {
      this.#fixed = null;
    }
  }
}

export interface ServerContext {
  meter: EventMeter | null;
  /** The meter's clock when it is a RecordingClock (else events record with real timing). */
  recordingClock: RecordingClock | null;
  reports: ReportRegistry;
  processor: MeterProcessor | null;
  counters: EventStore | null;
  trackers: TrackingManager | null;
  /** Groups listed by `GET /api/trackers` and the dashboard; API use adds to it. */
  trackerGroups: Set<string>;
  clock: Clock;
  namespace: string;
  demo: boolean;
}

export function requireMeter(ctx: ServerContext): EventMeter {
  if (ctx.meter === null) throw new HttpError(501, "NOT_CONFIGURED", "this server runs without a meter");
  return ctx.meter;
}

export function requireCounters(ctx: ServerContext): EventStore {
  if (ctx.counters === null) throw new HttpError(501, "NOT_CONFIGURED", "this server runs without counters");
  return ctx.counters;
}

export function requireTrackers(ctx: ServerContext): TrackingManager {
  if (ctx.trackers === null) throw new HttpError(501, "NOT_CONFIGURED", "this server runs without trackers");
  return ctx.trackers;
}
