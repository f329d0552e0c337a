/**
 * `tally serve --demo`: a small built-in workload on the real components, so a newcomer sees live
 * charts at once. It records deliveries of four queues (different speeds, failure rates and an
 * "incident" on webhooks 40 minutes ago) through the server's meter, counts requests with the
 * counter store and feeds a team's progress trackers.
 *
 * Live events go through the configured stream (the file stream by default), which hands a
 * minute's file to the processor only after that minute is over, so they reach the charts about a
 * minute later. So that the charts are never empty, the last two hours are backfilled at start:
 * only minutes that have no data yet (a restart fills the gap and never doubles what is there),
 * recorded with a TestClock into a MemoryStream and processed at once into the same rollups.
 */

import { isTallyError } from "../../errors.ts";
import { type EventStore, TestClock } from "../../index.ts";
import { EventMeter, MemoryStream } from "../../meter.ts";
import type { TrackingManager } from "../../tracker.ts";
import type { ReportEntry, ReportRegistry } from "../report-registry.ts";
import { defineFrom } from "../report-registry.ts";
import { trackerFromJson } from "../tracker-view.ts";

export const DEMO_EVENT = "demo.delivery";
export const DEMO_VERSION = 1;
export const DEMO_GROUP = "demo-team";

export const DEMO_REPORT: ReportEntry = {
  name: DEMO_EVENT,
  version: DEMO_VERSION,
  definition: { indexes: [["queue"], ["region"]], intervals: [] },
};

interface QueueProfile {
  medianMs: number;
  failure: number;
  skip: number;
  weight: number;
}

const QUEUES: Record<string, QueueProfile> = {
  email: { medianMs: 120, failure: 0.02, skip: 0.01, weight: 4 },
  sms: { medianMs: 350, failure: 0.06, skip: 0.02, weight: 2 },
  push: { medianMs: 60, failure: 0.01, skip: 0.05, weight: 3 },
  webhook: { medianMs: 700, failure: 0.1, skip: 0, weight: 1 },
};
const REGIONS = ["eu", "us", "ap"];
const BACKFILL_MINUTES = 120;
/** Mean events per minute; the rate also waves over the hour so the charts have a shape. */
const PER_MINUTE = 60;

type RollupStore = NonNullable<NonNullable<ConstructorParameters<typeof EventMeter>[0]>["rollups"]>;

export interface DemoOptions {
  meter: EventMeter;
  namespace: string;
  registry: ReportRegistry;
  counters: EventStore | null;
  trackers: TrackingManager | null;
  trackerGroups: Set<string>;
  /** A separate rollups handle on the same store, for the backfill meter (closed with it). */
  backfillRollups: () => RollupStore;
  log?: (line: string) => void;
  random?: () => number;
}

export interface DemoWorkload {
  /** Resolves when the backfill is processed (or failed, which is logged). */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

interface DemoEvent {
  queue: string;
  region: string;
  status: "success" | "failure" | "skipped";
  durationMs: number;
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)] as T;
}

function sampleEvent(at: number, random: () => number): DemoEvent {
  const total = Object.values(QUEUES).reduce((s, q) => s + q.weight, 0);
  let r = random() * total;
  let queue = "email";
  for (const [name, profile] of Object.entries(QUEUES)) {
    r -= profile.weight;
    if (r <= 0) {
      queue = name;
      break;
    }
  }
  const profile = QUEUES[queue] as QueueProfile;
  // The incident: webhooks 35–45 minutes ago were slow and failing.
  const minutesAgo = (Date.now() - at) / 60_000;
  const incident = queue === "webhook" && minutesAgo >= 35 && minutesAgo <= 45;
  // Log-normal durations: exp(N(0, 0.5)) around the median (Box–Muller).
  const gauss = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const durationMs = Math.max(1, Math.round(profile.medianMs * (incident ? 3 : 1) * Math.exp(0.5 * gauss)));
  const u = random();
  const failure = incident ? 0.5 : profile.failure;
  const status = u < failure ? "failure" : u < failure + profile.skip ? "skipped" : "success";
  return { queue, region: pick(REGIONS, random), status, durationMs };
}

/** Events per minute at minute `m` (a gentle wave so the charts are not flat). */
function rateAt(ms: number): number {
  return PER_MINUTE * (1 + 0.4 * Math.sin((ms / 3_600_000) * 2 * Math.PI));
}

const TRACKERS = [
  {
    type: "count",
    name: "deliveries",
    conditions: [{ path: "status", op: "eq", value: "success" }],
    target: [100, 1000, 10000],
  },
  {
    type: "accumulation",
    name: "delivery-time-ms",
    key: "durationMs",
    conditions: [],
    target: [60_000, 600_000, 6_000_000],
  },
  {
    type: "count",
    name: "webhook-failures",
    conditions: [
      { path: "queue", op: "eq", value: "webhook" },
      { path: "status", op: "eq", value: "failure" },
    ],
    target: 25,
    loopForever: true,
  },
];

export function startDemo(options: DemoOptions): DemoWorkload {
  const random = options.random ?? Math.random;
  const log = options.log ?? (() => {});
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  options.registry.add(DEMO_REPORT);
  options.trackerGroups.add(DEMO_GROUP);

  const count = (id: string, at?: number) => {
    if (options.counters === null) return;
    if (at === undefined) options.counters.record(id);
    else options.counters.recordAt(id, at);
  };

  const ready = (async () => {
    if (options.trackers !== null) {
      for (const definition of TRACKERS) {
        try {
          await options.trackers.addTracker(DEMO_GROUP, trackerFromJson(definition));
        } catch (error) {
          if (!(isTallyError(error) && error.code === "CONFLICTING_NAME")) throw error;
        }
      }
    }
    await backfill(options, random, count, log);
  })().catch((error: unknown) => log(`demo setup failed: ${(error as Error).message}`));

  const tick = () => {
    if (stopped) return;
    const now = Date.now();
    const event = sampleEvent(now, random);
    const started = options.meter.start(DEMO_EVENT, { queue: event.queue, region: event.region });
    count("demo.requests");
    const finish = setTimeout(() => {
      timers.delete(finish);
      if (stopped) return;
      const done =
        event.status === "success"
          ? started.success()
          : event.status === "failure"
            ? started.failure(new Error(`${event.queue} provider timed out`))
            : started.skip("recipient muted");
      if (event.status === "failure") count("demo.failures");
      void done.then((result) => {
        if (result.error !== null) log(`demo event not recorded: ${result.error.message}`);
      });
      void options.trackers
        ?.track(DEMO_GROUP, { queue: event.queue, status: event.status, durationMs: event.durationMs })
        .catch((error: unknown) => log(`demo tracker update failed: ${(error as Error).message}`));
    }, event.durationMs);
    timers.add(finish);
    const next = setTimeout(
      () => {
        timers.delete(next);
        tick();
      },
      -Math.log(1 - random()) * (60_000 / rateAt(now)),
    );
    timers.add(next);
  };
  tick();

  return {
    ready,
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await ready;
    },
  };
}

/** Fills the empty minutes of the last two hours (see the header). */
async function backfill(
  options: DemoOptions,
  random: () => number,
  count: (id: string, at?: number) => void,
  log: (line: string) => void,
): Promise<void> {
  const now = Date.now();
  const end = Math.floor(now / 60_000) * 60_000 - 2 * 60_000; // leave the minutes live events may still fill
  const start = end - BACKFILL_MINUTES * 60_000;
  const filled = new Set<number>();
  try {
    const points = await options.meter.series(DEMO_EVENT, {
      version: DEMO_VERSION,
      every: "minute",
      from: start,
      to: end,
    });
    for (const point of points) if (point.count > 0) filled.add(Date.parse(point.bucket));
  } catch (error) {
    if (!(isTallyError(error) && error.code === "DEFINITION_NOT_FOUND")) throw error;
  }
  const clock = new TestClock(start);
  const stream = new MemoryStream({ clock });
  const meter = new EventMeter({ namespace: options.namespace, stream, rollups: options.backfillRollups(), clock });
  try {
    const finishes: Promise<unknown>[] = [];
    let events = 0;
    for (let minute = start; minute < end; minute += 60_000) {
      if (filled.has(minute)) continue;
      const n = Math.round(rateAt(minute) * (0.85 + 0.3 * random()));
      const starts = Array.from({ length: n }, () => minute + Math.floor(random() * 60_000)).sort((a, b) => a - b);
      for (const at of starts) {
        const event = sampleEvent(at, random);
        clock.set(at);
        const started = meter.start(DEMO_EVENT, { queue: event.queue, region: event.region });
        clock.set(at + event.durationMs);
        finishes.push(
          event.status === "success"
            ? started.success()
            : event.status === "failure"
              ? started.failure(new Error(`${event.queue} provider timed out`))
              : started.skip("recipient muted"),
        );
        count("demo.requests", at);
        if (event.status === "failure") count("demo.failures", at);
        events += 1;
      }
    }
    await Promise.all(finishes);
    clock.set(Date.now());
    const define = defineFrom(DEMO_REPORT.definition ?? { indexes: [], intervals: [] });
    for (;;) {
      const result = await meter.processPending(DEMO_EVENT, { version: DEMO_VERSION, maxRows: 50_000 }, define);
      if (!result.hasMore) break;
    }
    if (events > 0) log(`demo: backfilled ${events} events over the last ${BACKFILL_MINUTES} minutes`);
  } finally {
    await meter.close();
  }
}
