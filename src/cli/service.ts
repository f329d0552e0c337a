/**
 * What `tally serve` runs, opened in order and closed in reverse: the meter (with a recording
 * clock for timed API events), the counter store (auto-persisted), the tracker manager, the demo
 * workload when asked, the background processor and the HTTP server.
 */

import { RecordingClock, type ServerContext } from "../server/context.ts";
import { type DemoWorkload, startDemo } from "../server/demo/demo-workload.ts";
import { MeterProcessor } from "../server/meter-processor.ts";
import { ReportRegistry } from "../server/report-registry.ts";
import { startServer, type TallyServer } from "../server/server.ts";
import type { TallyConfig } from "./config.ts";
import { type Closer, openCounters, openMeter, openRollups, openTrackers, runClosers } from "./stores.ts";
import { UsageError } from "./usage-error.ts";

export interface ServeOptions {
  demo?: boolean;
  /** Extra reports as `name@version` (reusing the stored definition). */
  reports?: readonly string[];
  processIntervalMs?: number;
  log?: (line: string) => void;
}

export interface RunningService {
  server: TallyServer;
  context: ServerContext;
  demo: DemoWorkload | null;
  close(): Promise<void>;
}

function parseReportFlag(text: string): { name: string; version: number } {
  const at = text.lastIndexOf("@");
  const version = Number(text.slice(at + 1));
  if (at <= 0 || !Number.isSafeInteger(version) || version < 1) {
    throw new UsageError(`invalid --report "${text}": pass NAME@VERSION, e.g. invoice_delivery@1`);
  }
  return { name: text.slice(0, at), version };
}

/** Opens everything `tally serve` runs and starts listening; `close()` undoes it in order. */
export async function startService(config: TallyConfig, options: ServeOptions = {}): Promise<RunningService> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const registry = new ReportRegistry(
    config.reports.map((r) => ({
      name: r.name,
      version: r.version,
      definition:
        r.indexBy === undefined && r.intervals === undefined
          ? null
          : { indexes: r.indexBy ?? [], intervals: r.intervals ?? [] },
    })),
  );
  for (const flag of options.reports ?? []) registry.add({ ...parseReportFlag(flag), definition: null });

  const clock = new RecordingClock(config.clock);
  const meterHandle = await openMeter(config, { clock });
  const closing: (() => Promise<void>)[] = [() => meterHandle.close()];
  const closeAll = async () => {
    for (const close of closing.reverse()) await close().catch((e: unknown) => log(`close failed: ${String(e)}`));
  };
  try {
    const counters = await openCounters(config, {
      autoPersist: "5s",
      onError: (error) => log(`counter persist failed: ${error.message}`),
    });
    closing.push(() => counters.close());
    const trackers = openTrackers(config);
    closing.push(() => trackers.close());

    const processor = new MeterProcessor(meterHandle.meter, registry, {
      intervalMs: options.processIntervalMs ?? config.processInterval,
      log,
    });
    const context: ServerContext = {
      meter: meterHandle.meter,
      recordingClock: clock,
      reports: registry,
      processor,
      counters: counters.store,
      trackers: trackers.manager,
      trackerGroups: new Set(config.trackerGroups),
      clock: config.clock,
      namespace: config.namespace,
      demo: options.demo === true,
    };
    let demo: DemoWorkload | null = null;
    if (options.demo === true) {
      const backfillClosers: Closer[] = [];
      closing.push(() => runClosers(backfillClosers));
      const backfillRollups = await openRollups(config.meterRollups, backfillClosers);
      let handed = false;
      demo = startDemo({
        meter: meterHandle.meter,
        namespace: config.namespace,
        registry,
        counters: counters.store,
        trackers: trackers.manager,
        trackerGroups: context.trackerGroups,
        backfillRollups: () => {
          if (handed) throw new Error("the backfill rollups are used once");
          handed = true;
          return backfillRollups;
        },
        log,
      });
      const running = demo;
      closing.push(() => running.stop());
      await demo.ready;
    }
    processor.start();
    closing.push(() => processor.stop());
    const server = await startServer(context, { host: config.host, port: config.port, log });
    closing.push(() => server.close());
    return { server, context, demo, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
