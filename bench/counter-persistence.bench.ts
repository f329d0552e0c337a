/**
 * Counter persistence (spec §8): `persist()` of 100 000 unsaved events and `build()` loading them
 * back, per storage (SQLite file in WAL mode, PostgreSQL batched with unnest, Redis MSET, memory as
 * the floor; FilePerEvent with fewer events because it fsyncs every file), plus the formats'
 * encode/decode rates and sizes. Run: npm run bench -- counter-persistence
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import {
  BinaryFormat,
  EventStore,
  FilePerEvent,
  type Format,
  JsonFormat,
  MemoryStorage,
  type Storage,
  TestClock,
} from "../src/index.ts";
import { PostgresStorage } from "../src/postgres.ts";
import { RedisStorage } from "../src/redis.ts";
import { SqliteStorage } from "../src/sqlite.ts";
import { type BenchRow, benchmark, human, opsPerSecond } from "./harness.ts";

const EVENTS = 100_000;
const FILE_EVENTS = 2_000;
const START = "2024-05-06T12:00:00Z";
const redisUrl = process.env.TALLY_REDIS_URL ?? "redis://127.0.0.1:6379";
const postgresUrl = process.env.TALLY_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** A store of `n` events, each recorded now, an hour ago and three days ago (realistic sparse rows). */
async function filled(storage: Storage, n: number): Promise<EventStore> {
  const store = await EventStore.builder().withStorage(storage).withClock(new TestClock(START)).timeZone("UTC").build();
  for (let i = 0; i < n; i++) {
    const id = `user:${i}:login`;
    store.recordCount(id, 1 + (i % 7));
    store.recordAgo(id, "1h");
    store.recordAgo(id, "3d");
  }
  return store;
}

async function persistAndLoad(name: string, storage: Storage, n: number, note: string): Promise<BenchRow[]> {
  const store = await filled(storage, n);
  let started = performance.now();
  const written = await store.persist();
  const persistMs = performance.now() - started;
  if (written !== n) throw new Error(`${name}: persisted ${written} of ${n}`);
  started = performance.now();
  const loaded = await EventStore.builder()
    .withStorage(storage)
    .withClock(new TestClock(START))
    .timeZone("UTC")
    .build();
  const buildMs = performance.now() - started;
  if (loaded.loadReport.loaded !== n) throw new Error(`${name}: loaded ${loaded.loadReport.loaded} of ${n}`);
  return [
    {
      name: `persist() ${human(n)} unsaved events, ${name}`,
      value: (n / persistMs) * 1000,
      unit: "events/s",
      note: `${(persistMs / 1000).toFixed(2)} s; ${note}`,
    },
    {
      name: `build() loading ${human(n)} events, ${name}`,
      value: (n / buildMs) * 1000,
      unit: "events/s",
      note: `${(buildMs / 1000).toFixed(2)} s; ${storage.loadMany === undefined ? "32 loads in flight" : "loadMany of 1 000 keys, 4 in flight"}`,
    },
  ];
}

async function sqliteRows(): Promise<BenchRow[]> {
  const dir = await mkdtemp(join(tmpdir(), "tally-bench-"));
  try {
    const storage = await SqliteStorage.open(join(dir, "tally.db"));
    try {
      return await persistAndLoad(
        "SQLite (WAL, synchronous=NORMAL)",
        storage,
        EVENTS,
        "saveMany in transactions of 10 000",
      );
    } finally {
      await storage.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function postgresRows(): Promise<BenchRow[]> {
  const schema = `tally_bench_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  try {
    await admin.connect();
  } catch (error) {
    return [
      { name: "PostgreSQL persist/build", value: 0, unit: "events/s", note: `skipped: ${(error as Error).message}` },
    ];
  }
  await admin.query(`create schema "${schema}"`);
  const pool = new pg.Pool({ connectionString: postgresUrl, options: `-c search_path="${schema}"`, max: 8 });
  try {
    const storage = new PostgresStorage(pool);
    await storage.migrate();
    return await persistAndLoad(
      "PostgreSQL (batched unnest upsert)",
      storage,
      EVENTS,
      "one INSERT … unnest per 10 000 events",
    );
  } finally {
    await pool.end();
    await admin.query(`drop schema "${schema}" cascade`);
    await admin.end();
  }
}

async function redisRows(): Promise<BenchRow[]> {
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    return [{ name: "Redis persist/build", value: 0, unit: "events/s", note: `skipped: ${(error as Error).message}` }];
  }
  const prefix = `tally_bench_${Date.now().toString(36)}:`;
  try {
    return await persistAndLoad(
      "Redis (MSET)",
      new RedisStorage(client, { prefix }),
      EVENTS,
      "one MSET per 10 000 events",
    );
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

async function fileRows(): Promise<BenchRow[]> {
  const dir = await mkdtemp(join(tmpdir(), "tally-bench-"));
  try {
    return await persistAndLoad(
      "FilePerEvent",
      new FilePerEvent(dir, ".bin"),
      FILE_EVENTS,
      "temp file + fsync + rename per event, 16 in flight, one dir fsync",
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function formatRows(): Promise<BenchRow[]> {
  const store = await filled(new MemoryStorage(), 1);
  const snapshot = store.exportAll().get("user:0:login");
  if (snapshot === undefined) throw new Error("no snapshot");
  const rows: BenchRow[] = [];
  for (const format of [BinaryFormat, JsonFormat] as Format[]) {
    const bytes = format.encode(snapshot);
    rows.push({
      name: `${format.name} encode, default config, 3 non-zero buckets per unit`,
      value: opsPerSecond(() => format.encode(snapshot), { ms: 700, batch: 100 }),
      unit: "ops/s",
      note: `${bytes.length} bytes per event`,
    });
    rows.push({
      name: `${format.name} decode, same snapshot`,
      value: opsPerSecond(() => format.decode(bytes), { ms: 700, batch: 100 }),
      unit: "ops/s",
    });
  }
  return rows;
}

await benchmark(import.meta.url, async () => [
  ...(await formatRows()),
  ...(await persistAndLoad("MemoryStorage", new MemoryStorage(), EVENTS, "the floor: snapshot + encode + copy")),
  ...(await sqliteRows()),
  ...(await postgresRows()),
  ...(await redisRows()),
  ...(await fileRows()),
]);
