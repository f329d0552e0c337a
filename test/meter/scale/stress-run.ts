/**
 * The stress runs of spec §12, shared by the CI test (small) and `npm run stress` (large). Every
 * stream x rollups pairing runs at once, through the same few child processes, so the run pays
 * the tsx start-up of each process once rather than once per pairing:
 *
 * 1. writers in child processes and worker threads append the delivery generator to the stream of
 *    every pairing;
 * 2. one processor child processes every pairing and exits with 88 once each of them is inside
 *    `ack`, after its rollup commit and before the delete;
 * 3. four processor children compete on every pairing with `lockTtl` and `claimTimeout` of
 *    `claimMs` (1 s in CI, see SMALL), polling until each stream is empty or a deadline passes (the only place where real
 *    time passes);
 * 4. per pairing (`verifyPairing`): a final pass processes nothing, nothing is pending, no marker is
 *    left, and every summary (all, per provider, per compound index, per customer) and the minute
 *    series equal the counts computed from the generator.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EventMeter } from "../../../src/meter/event-meter.ts";
import { PostgresRollups } from "../../../src/storage/postgres/meter-rollups.ts";
import { type ChildResult, runChild } from "../../support/child.ts";
import { redisUrl } from "../../support/services.ts";
import { BASE, defineDelivery, type Generated, generate } from "../fixtures/delivery.ts";
import {
  closeConnections,
  EVENT,
  openStores,
  PROCESSOR_CLOCK,
  type RollupsKind,
  type StoreSpec,
  type StreamKind,
} from "./fixtures/stores.ts";
import { type ScratchPostgres, type ScratchRedis, scratchPostgres, scratchRedis } from "./scale-services.ts";

const writer = fileURLToPath(new URL("./fixtures/writer.ts", import.meta.url));
const processor = fileURLToPath(new URL("./fixtures/processor.ts", import.meta.url));

export interface StressSize {
  /** Events from the generator (a multiple of 12). */
  events: number;
  writerProcesses: number;
  /** Worker threads started by the first writer process. */
  writerThreads: number;
  /** Rows per processing batch. */
  batchRows: number;
  /** Claim timeout and lock ttl, ms. @default 250 */
  claimMs?: number;
  /** How long the competing processors may take, ms. @default 30_000 */
  deadlineMs?: number;
}

/** The CI size: 2 writer processes and 2 worker threads. `npm run stress` runs larger. */
/**
 * The CI size. Leases are 1 s rather than the spec's 250 ms: CI runs four test files at once on two
 * cores, where a PostgreSQL commit can outlive a 250 ms lease; the fence then (correctly) rejects it
 * and the competitors can spend the whole deadline fencing each other off. `npm run stress
 * -- --claim-ms 250` still runs the spec's figure.
 */
export const SMALL: StressSize = { events: 240, writerProcesses: 2, writerThreads: 2, batchRows: 40, claimMs: 1_000 };

export type Pairing = readonly [StreamKind, RollupsKind];

export interface CompetitorTotals {
  processed: number;
  skipped: number;
  malformed: number;
  passes: number;
  locked: number;
  errors: string[];
  done: boolean;
}

export interface StressRun {
  specs: StoreSpec[];
  events: number;
  crashedExit: number | null;
  /** Per pairing, the four competitors' totals. */
  competitors: Map<string, CompetitorTotals[]>;
  writeMs: number;
  processMs: number;
  /** Removes the run's folder, key prefixes and schema. */
  close(): Promise<void>;
}

export const pairingName = (stream: StreamKind, rollups: RollupsKind): string => `${stream} -> ${rollups}`;

/**
 * Runs steps 1–3 for every pairing at once and checks what they must show per pairing (the crashed
 * commit was kept, its rows came back and were skipped). Verify each pairing with `verifyPairing`,
 * then `close()`.
 */
export async function runStress(pairings: readonly Pairing[], size: StressSize): Promise<StressRun> {
  const dir = mkdtempSync(join(tmpdir(), "tally-stress-"));
  const needsRedis = pairings.some(([s, r]) => s === "redis" || r === "redis");
  const needsPostgres = pairings.some(([s, r]) => s === "postgres" || r === "postgres");
  let redis: ScratchRedis | undefined;
  let postgres: ScratchPostgres | undefined;
  const close = async (): Promise<void> => {
    await closeConnections();
    await redis?.close();
    await postgres?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    redis = needsRedis ? await scratchRedis() : undefined;
    postgres = needsPostgres ? await scratchPostgres() : undefined;
    const specs: StoreSpec[] = pairings.map(([stream, rollups], i) => ({
      pairing: pairingName(stream, rollups),
      stream,
      rollups,
      path: join(dir, `stream-${i}`),
      db: join(dir, `tally-${i}.db`),
      redisUrl,
      redisPrefix: `${redis?.prefix ?? ""}p${i}:`,
      postgresUrl: postgres?.urlWithSchema ?? "",
      tablePrefix: `stress_${i}`,
      claimMs: size.claimMs ?? 250,
    }));
    if (postgres !== undefined) {
      // Install up front, as `tally postgres install` would, so processes do not race on it.
      const pool = postgres.pool(2);
      for (const spec of specs) {
        if (spec.stream === "postgres" || spec.rollups === "postgres") {
          await new PostgresRollups({ pool, tablePrefix: spec.tablePrefix }).install();
        }
      }
    }
    const run = await stages(specs, dir, size);
    return { ...run, close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function stages(specs: StoreSpec[], dir: string, size: StressSize): Promise<Omit<StressRun, "close">> {
  const specsJson = JSON.stringify(specs);
  const crashGo = join(dir, "go-crash");
  const raceGo = join(dir, "go-race");
  const rows = String(size.batchRows);
  const deadlineMs = String(size.deadlineMs ?? 30_000);
  // Written aside and renamed: a processor polling for the file must never see it empty (it reads
  // anything but "go" as abort, and a loaded machine can pause the writer between create and write).
  const signal = (file: string, word: "go" | "abort"): void => {
    writeFileSync(`${file}.tmp`, word);
    renameSync(`${file}.tmp`, file);
  };
  // Every child starts now; processors wait for their signal, so all start-ups overlap.
  const crashing = runChild(processor, ["crash", specsJson, crashGo, deadlineMs, rows]);
  const racing = Array.from({ length: 4 }, () => runChild(processor, ["compete", specsJson, raceGo, deadlineMs, rows]));
  const of = size.writerProcesses + size.writerThreads;
  const writeStart = performance.now();
  const writers = Array.from({ length: size.writerProcesses }, (_, p) =>
    // The first process also runs the worker threads, writing the shares after its own.
    runChild(writer, [
      specsJson,
      String(p === 0 ? 0 : p + size.writerThreads),
      String(of),
      String(size.events),
      String(p === 0 ? size.writerThreads : 0),
    ]),
  );
  try {
    const written = await Promise.all(writers);
    for (const w of written) assert.equal(w.code, 0, `writer failed: ${w.stderr}`);
    for (const spec of specs) {
      const total = written.reduce((sum, w) => sum + (parse(w).written as Record<string, number>)[spec.pairing]!, 0);
      assert.equal(total, size.events, `every generated event was recorded in ${spec.pairing}`);
    }
    const writeMs = performance.now() - writeStart;

    const processStart = performance.now();
    signal(crashGo, "go");
    const crashed = await crashing;
    assert.equal(crashed.code, 88, `the crash processor should exit inside ack: ${crashed.stderr}`);

    signal(raceGo, "go");
    const racers = await Promise.all(racing);
    if (racers.some((r) => r.code !== 0)) {
      // Every competitor's report, not only the failing one's: a pairing that did not drain is
      // usually explained by what the others were doing (holding its lease, its claims).
      const reports = racers.map((r, i) => `competitor ${i} exited ${r.code}: ${r.stdout} ${r.stderr}`);
      assert.fail(`a competing processor did not finish by the deadline:\n${reports.join("\n")}`);
    }
    const processMs = performance.now() - processStart;
    const reports = racers.map((r) => parse(r) as Record<string, CompetitorTotals>);
    const competitors = new Map(specs.map((spec) => [spec.pairing, reports.map((r) => r[spec.pairing]!)]));
    for (const [pairing, totals] of competitors) {
      const detail = `${pairing}: ${JSON.stringify(totals)}`;
      const processed = totals.reduce((sum, c) => sum + c.processed, 0);
      const skipped = totals.reduce((sum, c) => sum + c.skipped, 0);
      assert.ok(processed < size.events, `the crashed processor's commit was kept in ${detail}`);
      assert.ok(skipped > 0, `its rows came back and their markers skipped them in ${detail}`);
    }
    return { specs, events: size.events, crashedExit: crashed.code, competitors, writeMs, processMs };
  } finally {
    for (const file of [crashGo, raceGo]) if (!existsSync(file)) signal(file, "abort");
    await Promise.allSettled([crashing, ...racing, ...writers]);
  }
}

function parse(child: ChildResult): Record<string, unknown> {
  try {
    return JSON.parse(child.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`a stress child printed no JSON (exit ${child.code}): ${child.stdout} ${child.stderr}`);
  }
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

/** Step 4 for one pairing of a finished run. */
export async function verifyPairing(spec: StoreSpec, count: number): Promise<void> {
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
