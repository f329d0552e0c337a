/**
 * Tracker throughput (spec §6): `track` for one group of 10 trackers with 3 conditions each, on
 * the memory store (sequential calls), SQLite (64 calls in flight, batched per group by the
 * manager; synchronous FULL and NORMAL), PostgreSQL (one process, 64 in flight) and Redis.
 * The event mix matches 0–4 of the 10 trackers per event; every event carries an eventId on the
 * durable stores, so each figure includes recording it. On the durable stores one group's
 * commits are serial, so a batch of 64 per commit (fsync or round trips) bounds the figure: the
 * notes add 256 in flight (the same code, bigger batches) and sequential awaits (one per commit).
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import { PostgresTrackerStore } from "../src/postgres.ts";
import { RedisTrackerStore } from "../src/redis.ts";
import { SqliteTrackerStore } from "../src/sqlite.ts";
import {
  CountTracker,
  KeyValueEQ,
  KeyValueGT,
  KeyValueInList,
  MemoryTrackerStore,
  type TrackerStore,
  TrackingManager,
} from "../src/tracker.ts";
import { postgresUnavailable, postgresUrl, redisUnavailable, redisUrl } from "../test/support/services.ts";
import { asyncOpsPerSecond, type BenchRow, benchmark, human } from "./harness.ts";

const TYPES = ["login", "purchase", "comment", "share", "view"];
const EVENTS = Array.from({ length: 1000 }, (_, i) => ({
  type: TYPES[i % 5] as string,
  country: i % 3 === 0 ? "de" : "us",
  amount: (i * 37) % 200,
}));

async function setup(store: TrackerStore): Promise<TrackingManager> {
  const manager = new TrackingManager({ store });
  await manager.addTrackers(
    "bench",
    Array.from(
      { length: 10 },
      (_, i) =>
        new CountTracker({
          name: `t${i}`,
          target: [1e12],
          conditions: [
            new KeyValueInList("type", TYPES.slice(i % 5, (i % 5) + 2)),
            new KeyValueEQ("country", i % 2 === 0 ? "us" : "de"),
            new KeyValueGT("amount", (i % 4) * 40),
          ],
        }),
    ),
  );
  return manager;
}

async function memoryRow(): Promise<BenchRow> {
  const manager = await setup(new MemoryTrackerStore());
  const wall = performance.now();
  const cpu = process.cpuUsage();
  const rate = await asyncOpsPerSecond((i) => manager.track("bench", EVENTS[i % 1000] as Record<string, unknown>), {
    ms: 2000,
  });
  // The loop is CPU-bound on one thread: on a shared machine the share of a core it got says how
  // far the wall figure is from what one free core does.
  const used = process.cpuUsage(cpu);
  const share = (used.user + used.system) / 1000 / (performance.now() - wall);
  return {
    name: "track, memory store, 10 trackers x 3 conditions, sequential awaits",
    value: rate,
    unit: "events/s",
    target: ">= 300 k events/s",
    met: rate >= 300_000,
    note: `the process had ${(share * 100).toFixed(0)}% of a core: ${human(rate / Math.min(1, share))} events/s per free core`,
  };
}

/** Unique across every run of the file: a reused eventId would measure the duplicate path. */
let nextId = 0;

async function durableRate(manager: TrackingManager, concurrency: number, ms = 2000): Promise<number> {
  return asyncOpsPerSecond(
    (i) => manager.track("bench", EVENTS[i % 1000] as Record<string, unknown>, { eventId: `e${nextId++}` }),
    { ms, concurrency },
  );
}

async function sqliteRows(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const synchronous of ["full", "normal"] as const) {
    const dir = mkdtempSync(join(tmpdir(), "tally-bench-trk-"));
    const manager = await setup(new SqliteTrackerStore({ path: join(dir, "t.db"), synchronous }));
    const batched = await durableRate(manager, 64);
    const wide = await durableRate(manager, 256, 1000);
    const sequential = await durableRate(manager, 1, 1000);
    await manager.close();
    rmSync(dir, { recursive: true, force: true });
    rows.push({
      name: `track, SQLite (synchronous ${synchronous.toUpperCase()}), 64 in flight, with eventIds`,
      value: batched,
      unit: "events/s",
      target: ">= 20 k events/s",
      met: batched >= 20_000,
      note: `256 in flight: ${human(wide)} events/s; sequential awaits (one commit per event): ${human(sequential)} events/s`,
    });
  }
  return rows;
}

async function postgresRow(): Promise<BenchRow> {
  const reason = await postgresUnavailable();
  if (reason !== undefined)
    return { name: "track, PostgreSQL", value: 0, unit: "events/s", note: `skipped: ${reason}` };
  const schema = `tally_bench_${Date.now().toString(36)}`;
  const pool = new pg.Pool({ connectionString: postgresUrl, max: 8 });
  const store = new PostgresTrackerStore({ client: pool, schema });
  await store.migrate();
  const manager = await setup(store);
  const batched = await durableRate(manager, 64);
  const wide = await durableRate(manager, 256, 1000);
  const sequential = await durableRate(manager, 1, 1000);
  await manager.close();
  await pool.query(`drop schema "${schema}" cascade`);
  await pool.end();
  return {
    name: "track, PostgreSQL, one process, 64 in flight, with eventIds",
    value: batched,
    unit: "events/s",
    target: ">= 3 k events/s per process",
    met: batched >= 3_000,
    note: `256 in flight: ${human(wide)} events/s; sequential awaits (one transaction per event): ${human(sequential)} events/s`,
  };
}

async function redisRow(): Promise<BenchRow> {
  const reason = await redisUnavailable();
  if (reason !== undefined) return { name: "track, Redis", value: 0, unit: "events/s", note: `skipped: ${reason}` };
  const client = new Redis(redisUrl);
  const prefix = `tally_bench_${Date.now().toString(36)}`;
  const store = new RedisTrackerStore({ client, prefix });
  const manager = await setup(store);
  const batched = await durableRate(manager, 64);
  const sequential = await durableRate(manager, 1, 1000);
  await store.flush();
  await manager.close();
  client.disconnect();
  return {
    name: "track, Redis, one process, 64 in flight, with eventIds",
    value: batched,
    unit: "events/s",
    note: `no target; sequential awaits: ${human(sequential)} events/s`,
  };
}

await benchmark(import.meta.url, async () => [
  await memoryRow(),
  ...(await sqliteRows()),
  await postgresRow(),
  await redisRow(),
]);
process.exit(0);
