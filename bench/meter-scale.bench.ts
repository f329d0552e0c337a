/**
 * The meter at scale (spec §10): processing the delivery-report shape into PostgreSQL and Redis
 * rollups, and processors sharing one Redis stream. Needs the local PostgreSQL and Redis
 * (TALLY_POSTGRES_URL / TALLY_REDIS_URL); each run uses its own schema or key prefix and removes it.
 *
 * Events: 250 customers, 2 providers, 2 delivery modes, 3 queues, one event every 6 ms of event
 * time (10 k per minute), durations 20..400 ms. `TALLY_BENCH_EVENTS` sets the count (default 200 k).
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis as IoRedis } from "ioredis";
import pg from "pg";
import type { ReportDefiner } from "../src/meter/definition.ts";
import { EventMeter } from "../src/meter/event-meter.ts";
import { buildPayload, type EventPayload } from "../src/meter/payload.ts";
import type { MeterRollups } from "../src/meter/rollups.ts";
import type { MeterStream } from "../src/meter/stream.ts";
import { FileStream } from "../src/storage/file/meter-stream.ts";
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

async function processAll(stream: MeterStream, rollups: MeterRollups, define = delivery): Promise<number> {
  const meter = new EventMeter({ stream, rollups, clock: AHEAD });
  await meter.processPending(NAME, { version: 1, maxRows: 1 }, define).catch(() => {});
  // Warm: the first call stored the definition (and processed at most one row); time the rest.
  const start = performance.now();
  let processed = 0;
  for (;;) {
    const r = await meter.processPending(NAME, { version: 1, maxRows: 1_000_000, batchRows: 10_000 }, define);
    processed += r.processed;
    if (!r.hasMore) break;
  }
  const seconds = (performance.now() - start) / 1000;
  await meter.close();
  return processed / seconds;
}

async function intoPostgres(): Promise<BenchRow> {
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
    const rate = await processAll(new FileStream({ path: join(dir, "s"), clock: AHEAD }), rollups);
    return {
      name: `process FileStream -> PostgresRollups, delivery report, ${EVENTS / 1000}k events`,
      value: Math.round(rate),
      unit: "events/s",
      target: ">= 100 k events/s",
      met: rate >= 100_000,
      note: "one <p>_commit call per 10 k-row batch (fence, marker CAS, upserts), histograms summed in JS; one marker per file",
    };
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

async function intoRedis(): Promise<BenchRow> {
  const dir = mkdtempSync(join(tmpdir(), "tally-bench-redis-"));
  try {
    await fillFiles(join(dir, "s"), EVENTS);
    const rate = await withRedis((client, keyPrefix) =>
      processAll(new FileStream({ path: join(dir, "s"), clock: AHEAD }), new RedisRollups({ client, keyPrefix })),
    );
    return {
      name: `process FileStream -> RedisRollups, delivery report, ${EVENTS / 1000}k events`,
      value: Math.round(rate),
      unit: "events/s",
      target: ">= 100 k events/s",
      met: rate >= 100_000,
      note: "one commit script per 10 k-row batch (maxEntriesPerCommit 10 000)",
    };
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
  rows.push(await intoPostgres());
  rows.push(await intoRedis());
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
