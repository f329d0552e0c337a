/**
 * The meter at scale (spec §10): processing the delivery-report shape into PostgreSQL and Redis
 * rollups, and processors sharing one Redis stream. Needs the local PostgreSQL and Redis
 * (TALLY_POSTGRES_URL / TALLY_REDIS_URL); each run uses its own schema or key prefix and removes it.
 *
 * Events: 250 customers, 2 providers, 2 delivery modes, 3 queues, one event every 6 ms of event
 * time (10 k per minute), durations 20..400 ms. `TALLY_BENCH_EVENTS` sets the count (default 200 k).
 * The same workload first runs with its rollup deltas dropped (the processor's own ceiling), then
 * once more to keep its commits, which are replayed into each store alone: the store's own CPU in
 * this process per event, its commit wall time, and for Redis the server's script time.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis as IoRedis } from "ioredis";
import pg from "pg";
import type { ReportDefiner } from "../src/meter/definition.ts";
import { EventMeter } from "../src/meter/event-meter.ts";
import { buildPayload, type EventPayload } from "../src/meter/payload.ts";
import type { CommitBatch, MeterRollups, ReportRef, StoredDefinition } from "../src/meter/rollups.ts";
import type { MeterStream } from "../src/meter/stream.ts";
import { FileStream } from "../src/storage/file/meter-stream.ts";
import { MemoryRollups } from "../src/storage/memory/meter-rollups.ts";
import { PostgresRollups } from "../src/storage/postgres/meter-rollups.ts";
import { RedisRollups } from "../src/storage/redis/meter-rollups.ts";
import { RedisStream } from "../src/storage/redis/meter-stream.ts";
import { type BenchRow, benchmark } from "./harness.ts";

const EVENTS = Number(process.env.TALLY_BENCH_EVENTS ?? 200_000);
const POSTGRES_URL = process.env.TALLY_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL = process.env.TALLY_REDIS_URL ?? "redis://127.0.0.1:6379";
const BASE = Date.UTC(2031, 0, 6, 10, 0);
const NAME = "delivery";
const AHEAD = { now: () => Date.now() + 120_000 }; // file claim grace passes at once

function delivery(report: ReportDefiner): void {
  report
    .indexBy("customer_id")
    .indexBy("provider")
    .indexBy("provider", "delivery_mode", "queue")
    .measureIntervalBy("customer_id", { groupBy: "provider" })
    .measureIntervalBy("customer_id", { groupBy: ["provider", "delivery_mode", "queue"] });
}

function indexesOnly(report: ReportDefiner): void {
  report.indexBy("customer_id").indexBy("provider").indexBy("provider", "delivery_mode", "queue");
}

function payloads(n: number, name = NAME): EventPayload[] {
  return Array.from({ length: n }, (_, i) =>
    buildPayload(name, i % 17 === 0 ? "failure" : "success", BASE + i * 6, 20 + ((i * 7919) % 380), {
      customer_id: (i * 31) % 250,
      provider: i % 2 === 0 ? "postmark" : "ses",
      delivery_mode: i % 5 === 0 ? "batch" : "single",
      queue: ["mailers", "default", "bulk"][i % 3],
    }),
  );
}

async function fillFiles(path: string, n: number): Promise<void> {
  const stream = new FileStream({ path, durability: "none" });
  const all = payloads(n);
  for (let i = 0; i < all.length; i += 10_000) await stream.append("tally", all.slice(i, i + 10_000));
  await stream.close();
}

/** A processing run: events, rate, and this process's CPU. */
interface RunTimes {
  events: number;
  rate: number;
  cpuMs: number;
}

async function processAll(stream: MeterStream, rollups: MeterRollups, define = delivery): Promise<RunTimes> {
  const times: RunTimes = { events: 0, rate: 0, cpuMs: 0 };
  const meter = new EventMeter({ stream, rollups, clock: AHEAD });
  await meter.processPending(NAME, { version: 1, maxRows: 1 }, define).catch(() => {});
  // Warm: the first call stored the definition (and processed at most one row); time the rest.
  const cpu = process.cpuUsage();
  const start = performance.now();
  let processed = 0;
  for (;;) {
    const r = await meter.processPending(NAME, { version: 1, maxRows: 1_000_000, batchRows: 10_000 }, define);
    processed += r.processed;
    if (!r.hasMore) break;
  }
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  await meter.close();
  times.events = processed;
  times.rate = processed / seconds;
  times.cpuMs = (used.user + used.system) / 1000;
  return times;
}

const perEvent = (ms: number, events: number): number => Number(((ms * 1000) / Math.max(1, events)).toFixed(2));

/** The commits of one processing run, kept to be replayed into each store alone. */
interface Captured {
  ref: ReportRef;
  definition: StoredDefinition;
  batches: CommitBatch[];
}

/** Processes the workload into MemoryRollups once (untimed), keeping a copy of every commit. */
async function captureCommits(path: string): Promise<Captured> {
  const inner = new MemoryRollups();
  const captured: Captured = { ref: { namespace: "", name: "", version: 0 }, definition: null as never, batches: [] };
  const capturing = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === "commit") {
        return (ref: ReportRef, batch: CommitBatch) => {
          captured.ref = ref;
          captured.batches.push(structuredClone(batch));
          return target.commit(ref, batch);
        };
      }
      if (prop === "ensureDefinition") {
        return (ref: ReportRef, def: StoredDefinition) => {
          captured.definition = def;
          return target.ensureDefinition(ref, def);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  await processAll(new FileStream({ path, clock: AHEAD }), capturing);
  return captured;
}

/**
 * The captured commits replayed into `store`, one after another with nothing else running: this
 * process's CPU is the store's own (building arguments, the driver, reading replies), and the
 * rest of the wall time the server and the round trip.
 */
async function replayRow(
  store: MeterRollups,
  label: string,
  run: Captured,
  server?: () => Promise<number>,
): Promise<BenchRow> {
  const { ref, definition, batches } = run;
  await store.ensureDefinition(ref, definition);
  const lease = await store.acquireLease(`${ref.namespace}:report:${ref.name}:v${ref.version}`, 600_000, Date.now());
  const events = batches.reduce((sum, b) => sum + b.markers.reduce((n, m) => n + m.high - m.expected, 0), 0);
  const before = server === undefined ? 0 : await server();
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (const batch of batches) {
    const result = await store.commit(ref, { ...batch, fence: lease });
    if (!result.ok) throw new Error(`${label}: a replayed commit conflicted`);
  }
  const wall = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const serverNote =
    server === undefined
      ? ""
      : `; Redis ran the scripts ${perEvent(((await server()) - before) / 1000, events)} µs/event (INFO commandstats)`;
  return {
    name: `${label}.commit alone: this process's CPU per event (the run's ${batches.length} commits replayed)`,
    value: perEvent((used.user + used.system) / 1000, events),
    unit: "µs/event",
    note: `building arguments, driver and replies; commit wall ${perEvent(wall, events)} µs/event, the rest being the server and the round trip${serverNote}`,
  };
}

/**
 * MemoryRollups that drops every rollup delta (markers, state and leases still work): the
 * processor alone. `rollups` is never read, so a processor that makes delta objects only on demand
 * makes none.
 */
function discarding(): MeterRollups {
  const inner = new MemoryRollups();
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === "commit") {
        return (ref: ReportRef, batch: CommitBatch) =>
          target.commit(ref, {
            rollups: [],
            intervalState: batch.intervalState,
            markers: batch.markers,
            fence: batch.fence,
            now: batch.now,
          });
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function processorAlone(): Promise<{ row: BenchRow; run: Captured }> {
  const dir = mkdtempSync(join(tmpdir(), "tally-bench-alone-"));
  try {
    await fillFiles(join(dir, "s"), EVENTS);
    // The first run warms the JIT (it would otherwise be charged to the baseline); the second counts.
    await processAll(new FileStream({ path: join(dir, "s"), clock: AHEAD }), discarding());
    await fillFiles(join(dir, "t"), EVENTS);
    const times = await processAll(new FileStream({ path: join(dir, "t"), clock: AHEAD }), discarding());
    await fillFiles(join(dir, "u"), EVENTS);
    const run = await captureCommits(join(dir, "u"));
    const row: BenchRow = {
      name: `process FileStream -> rollups discarded, delivery report, ${EVENTS / 1000}k events (processor alone)`,
      value: Math.round(times.rate),
      unit: "events/s",
      note: `the same workload with every rollup delta dropped: the ceiling of the PostgreSQL and Redis rows; process CPU ${perEvent(times.cpuMs, times.events)} µs/event`,
    };
    return { row, run };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function intoPostgres(run: Captured): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "tally-bench-pg-"));
  const schema = `tally_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`create schema "${schema}"`);
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, options: `-c search_path="${schema}"`, max: 4 });
  try {
    await fillFiles(join(dir, "s"), EVENTS);
    const rollups = new PostgresRollups({ pool });
    await rollups.install();
    const times = await processAll(new FileStream({ path: join(dir, "s"), clock: AHEAD }), rollups);
    return [
      {
        name: `process FileStream -> PostgresRollups, delivery report, ${EVENTS / 1000}k events`,
        value: Math.round(times.rate),
        unit: "events/s",
        target: ">= 100 k events/s",
        met: times.rate >= 100_000,
        note: "one <p>_commit call per 10 k-row batch (fence, marker CAS, one unnest upsert per table and kind of row); histograms of rows the store wrote summed in JS; one marker per file",
      },
      await replayRow(new PostgresRollups({ pool, tablePrefix: "replay" }), "PostgresRollups", run),
    ];
  } finally {
    await pool.end();
    await admin.query(`drop schema "${schema}" cascade`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withRedis<T>(body: (client: IoRedis, prefix: string) => Promise<T>): Promise<T> {
  const client = new IoRedis(REDIS_URL);
  const prefix = `tally_bench_${process.pid}:`;
  try {
    return await body(client, prefix);
  } finally {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== "0");
    await client.quit();
  }
}

/** Calls and µs of EVALSHA so far, from INFO commandstats. */
async function evalshaStats(client: IoRedis): Promise<{ calls: number; usec: number }> {
  const info = String(await client.info("commandstats"));
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(info);
  return { calls: Number(m?.[1] ?? 0), usec: Number(m?.[2] ?? 0) };
}

async function intoRedis(run: Captured): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "tally-bench-redis-"));
  try {
    await fillFiles(join(dir, "s"), EVENTS);
    const { times, replay } = await withRedis(async (client, keyPrefix) => {
      const times = await processAll(
        new FileStream({ path: join(dir, "s"), clock: AHEAD }),
        new RedisRollups({ client, keyPrefix }),
      );
      const stats = async (): Promise<number> => (await evalshaStats(client)).usec;
      const replay = await replayRow(
        new RedisRollups({ client, keyPrefix: `${keyPrefix}replay:` }),
        "RedisRollups",
        run,
        stats,
      );
      return { times, replay };
    });
    return [
      {
        name: `process FileStream -> RedisRollups, delivery report, ${EVENTS / 1000}k events`,
        value: Math.round(times.rate),
        unit: "events/s",
        target: ">= 100 k events/s",
        met: times.rate >= 100_000,
        note: "one commit script per 10 k-row batch (maxEntriesPerCommit 10 000)",
      },
      replay,
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Events/s of `processors` meters draining one Redis stream into shared Redis rollups. */
async function redisStreamRate(processors: number, n: number): Promise<number> {
  return withRedis(async (client, keyPrefix) => {
    const writer = new RedisStream({ client, keyPrefix });
    const all = payloads(n);
    for (let i = 0; i < all.length; i += 5000) await writer.append("tally", all.slice(i, i + 5000));
    const connections = Array.from({ length: processors }, () => new IoRedis(REDIS_URL));
    const meters = connections.map(
      (c) =>
        new EventMeter({
          stream: new RedisStream({ client: c, keyPrefix }),
          rollups: new RedisRollups({ client: c, keyPrefix }),
        }),
    );
    await meters[0]?.processPending(NAME, { version: 1, maxRows: 1 }, indexesOnly);
    const start = performance.now();
    const counts = await Promise.all(
      meters.map(async (meter) => {
        let processed = 0;
        for (;;) {
          const r = await meter.processPending(NAME, { version: 1, batchRows: 2000, maxRows: 1_000_000 }, indexesOnly);
          processed += r.processed;
          if (r.processed === 0 && !r.hasMore) return processed;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    for (const meter of meters) await meter.close();
    for (const c of connections) await c.quit();
    return counts.reduce((a, b) => a + b, 0) / seconds;
  });
}

await benchmark(import.meta.url, async () => {
  const rows: BenchRow[] = [];
  const alone = await processorAlone();
  rows.push(alone.row);
  rows.push(...(await intoPostgres(alone.run)));
  rows.push(...(await intoRedis(alone.run)));
  const n = Math.min(EVENTS, 100_000);
  const one = await redisStreamRate(1, n);
  const four = await redisStreamRate(4, n);
  rows.push({
    name: `RedisStream -> RedisRollups, 1 processor, ${n / 1000}k events (indexes only)`,
    value: Math.round(one),
    unit: "events/s",
  });
  rows.push({
    name: `RedisStream -> RedisRollups, 4 processors in parallel`,
    value: Math.round(four),
    unit: "events/s",
  });
  rows.push({
    name: "4 processors vs 1 on one Redis stream",
    value: Number((four / one).toFixed(2)),
    unit: "x",
    target: "> 1x",
    met: four > one,
    note: "4 meters in one Node process (async overlap); no interval rules, so no report lease serialises them",
  });
  return rows;
});
