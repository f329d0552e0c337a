/**
 * One stress run of a stream x rollups pairing (spec §12), shared by the CI tests (small) and
 * `npm run stress` (large):
 *
 * 1. writers in child processes and worker threads append the delivery generator;
 * 2. a processor child exits with 88 inside `ack`, after its rollup commit and before the delete;
 * 3. four processor children compete with `lockTtl` and `claimTimeout` of `claimMs`, polling until
 *    the stream is empty or a deadline passes (the only place where real time passes);
 * 4. a final pass processes nothing, nothing is pending, no marker is left, and every summary (all,
 *    per provider, per compound index, per customer) and the minute series equal the counts
 *    computed from the generator.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EventMeter } from "../../../src/meter/event-meter.ts";
import { runChild } from "../../support/child.ts";
import { redisUrl } from "../../support/services.ts";
import { BASE, defineDelivery, type Generated, generate } from "../fixtures/delivery.ts";
import {
  EVENT,
  openStores,
  PROCESSOR_CLOCK,
  type RollupsKind,
  type StoreSpec,
  type StreamKind,
} from "./fixtures/stores.ts";
import { scratchPostgres, scratchRedis } from "./scale-services.ts";

const writer = fileURLToPath(new URL("./fixtures/writer.ts", import.meta.url));
const processor = fileURLToPath(new URL("./fixtures/processor.ts", import.meta.url));

export interface StressSize {
  /** Events from the generator (a multiple of 12). */
  events: number;
  writerProcesses: number;
  writerThreads: number;
  /** Rows per processing batch. */
  batchRows: number;
  /** Claim timeout and lock ttl, ms. @default 250 */
  claimMs?: number;
  /** How long the competing processors may take, ms. @default 30_000 */
  deadlineMs?: number;
}

export const SMALL: StressSize = { events: 240, writerProcesses: 3, writerThreads: 4, batchRows: 40 };

export interface StressReport {
  pairing: string;
  events: number;
  crashedExit: number | null;
  competitors: Array<{ processed: number; skipped: number; locked: number; errors: string[] }>;
  writeMs: number;
  processMs: number;
}

interface Totals {
  count: number;
  successCount: number;
  failureCount: number;
  skippedCount: number;
  durationMsCount: number;
  durationMsSum: number;
}

function expected(events: readonly Generated[], filter: (e: Generated) => boolean): Totals {
  const chosen = events.filter(filter);
  return {
    count: chosen.length,
    successCount: chosen.filter((e) => e.status === "success").length,
    failureCount: chosen.filter((e) => e.status === "failure").length,
    skippedCount: chosen.filter((e) => e.status === "skip").length,
    durationMsCount: chosen.length,
    durationMsSum: chosen.reduce((sum, e) => sum + 100 + (e.i % 7) * 10, 0),
  };
}

function pick(s: Totals): Totals {
  return {
    count: s.count,
    successCount: s.successCount,
    failureCount: s.failureCount,
    skippedCount: s.skippedCount,
    durationMsCount: s.durationMsCount,
    durationMsSum: s.durationMsSum,
  };
}

export async function runStress(
  streamKind: StreamKind,
  rollupsKind: RollupsKind,
  size: StressSize,
): Promise<StressReport> {
  const pairing = `${streamKind} stream -> ${rollupsKind} rollups`;
  const dir = mkdtempSync(join(tmpdir(), "tally-stress-"));
  const needsRedis = streamKind === "redis" || rollupsKind === "redis";
  const needsPostgres = streamKind === "postgres" || rollupsKind === "postgres";
  const redis = needsRedis ? await scratchRedis() : undefined;
  const postgres = needsPostgres ? await scratchPostgres() : undefined;
  const spec: StoreSpec = {
    stream: streamKind,
    rollups: rollupsKind,
    path: join(dir, "stream"),
    db: join(dir, "tally.db"),
    redisUrl,
    redisPrefix: redis?.prefix ?? "",
    postgresUrl: postgres?.urlWithSchema ?? "",
    claimMs: size.claimMs ?? 250,
  };
  try {
    if (postgres !== undefined) {
      // Install once up front, as `tally postgres install` would, so processes do not race on it.
      const { PostgresRollups } = await import("../../../src/storage/postgres/meter-rollups.ts");
      await new PostgresRollups({ pool: postgres.pool(1) }).install();
    }
    const specJson = JSON.stringify(spec);
    const crashGo = join(dir, "go-crash");
    const raceGo = join(dir, "go-race");
    const rows = String(size.batchRows);
    const deadlineMs = String(size.deadlineMs ?? 30_000);
    // Every processor starts now and waits for its signal, so their startup overlaps the writers.
    const crashing = runChild(processor, ["crash", specJson, crashGo, deadlineMs, rows]);
    const racing = Array.from({ length: 4 }, () =>
      runChild(processor, ["compete", specJson, raceGo, deadlineMs, rows]),
    );
    const signal = (file: string, word: "go" | "abort"): void => writeFileSync(file, word);
    try {
      return await stages();
    } finally {
      for (const file of [crashGo, raceGo]) if (!existsSync(file)) signal(file, "abort");
      await Promise.allSettled([crashing, ...racing]);
    }

    async function stages(): Promise<StressReport> {
      const writeStart = performance.now();
      const of = size.writerProcesses + size.writerThreads;
      const writers = Array.from({ length: size.writerProcesses }, (_, p) =>
        // The first process also runs the worker threads, writing shares after the processes'.
        runChild(writer, [
          specJson,
          String(p === 0 ? 0 : p + size.writerThreads),
          String(of),
          String(size.events),
          String(p === 0 ? size.writerThreads : 0),
        ]),
      );
      const written = await Promise.all(writers);
      for (const w of written) assert.equal(w.code, 0, `writer failed: ${w.stderr}`);
      const total = written.reduce((sum, w) => sum + (JSON.parse(w.stdout) as { written: number }).written, 0);
      assert.equal(total, size.events, "every generated event was recorded");
      const writeMs = performance.now() - writeStart;

      const processStart = performance.now();
      signal(crashGo, "go");
      const crashed = await crashing;
      assert.equal(crashed.code, 88, `the crash processor should exit inside ack: ${crashed.stderr}`);

      signal(raceGo, "go");
      const racers = await Promise.all(racing);
      for (const r of racers)
        assert.equal(r.code, 0, `a competing processor did not finish by the deadline: ${r.stdout} ${r.stderr}`);
      const competitors = racers.map((r) => JSON.parse(r.stdout) as StressReport["competitors"][number]);
      const processMs = performance.now() - processStart;
      const processed = competitors.reduce((sum, c) => sum + c.processed, 0);
      const skipped = competitors.reduce((sum, c) => sum + c.skipped, 0);
      assert.ok(processed < size.events, "the crashed processor's commit was kept");
      const detail = JSON.stringify(competitors);
      assert.ok(skipped > 0, `its rows came back and their markers skipped them: ${detail}`);

      await verify(spec, size.events);
      return { pairing, events: size.events, crashedExit: crashed.code, competitors, writeMs, processMs };
    }
  } finally {
    await redis?.close();
    await postgres?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function verify(spec: StoreSpec, count: number): Promise<void> {
  const stores = openStores(spec, "processor");
  const meter = new EventMeter({
    stream: stores.stream,
    rollups: stores.rollups,
    clock: PROCESSOR_CLOCK,
    lockTtl: spec.claimMs,
  });
  try {
    const final = await meter.processPending(EVENT, { version: 1 }, defineDelivery);
    assert.deepEqual([final.processed, final.complete, final.locked], [0, true, false], "a last pass finds nothing");
    assert.equal(await meter.pendingCount(EVENT), 0, "the stream is empty");
    assert.equal(
      await stores.rollups.countMarkers({ namespace: "tally", name: EVENT, version: 1 }),
      0,
      "no markers left",
    );

    const events = generate(count);
    const window = { version: 1, from: BASE, to: BASE + count * 15_000 + 60_000 };
    const summary = async (by: Record<string, string | number> | null) =>
      pick(await meter.summary(EVENT, { ...window, by }));
    assert.deepEqual(
      await summary(null),
      expected(events, () => true),
      "all events",
    );
    for (const provider of ["postmark", "ses"]) {
      assert.deepEqual(
        await summary({ provider }),
        expected(events, (e) => e.params.provider === provider),
        provider,
      );
      for (const queue of ["mailers", "default", "bulk"]) {
        for (const mode of ["single", "batch"]) {
          const by = { provider, queue, delivery_mode: mode };
          const want = expected(
            events,
            (e) => e.params.provider === provider && e.params.queue === queue && e.params.delivery_mode === mode,
          );
          assert.deepEqual(await summary(by), want, JSON.stringify(by));
        }
      }
    }
    for (const customer of [0, 5, 11]) {
      assert.deepEqual(
        await summary({ customer_id: customer }),
        expected(events, (e) => e.params.customer_id === customer),
        `customer ${customer}`,
      );
    }
    const ses = await meter.summary(EVENT, { ...window, by: { provider: "ses" } });
    // Each customer runs every 3 minutes; a crash may reorder processing (state only moves
    // forward), so gaps can be missed but never counted twice or mismeasured.
    assert.ok(ses.intervalMsCount <= 6 * (count / 12 - 1), "no interval counted twice");
    if (ses.intervalMsCount > 0) assert.equal(ses.intervalMsMin, 180_000);
    const series = await meter.series(EVENT, { ...window, every: count > 2000 ? "hour" : "minute" });
    assert.equal(
      series.reduce((sum, p) => sum + p.count, 0),
      count,
      "the series sums to every event",
    );
  } finally {
    await meter.close();
    await stores.close();
  }
}
