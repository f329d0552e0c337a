/**
 * Six processes track 3 000 events for one group (every 5th event of each worker is redelivered
 * by another process with the same eventId). Final progress must equal the distinct matching
 * events, and every stage must be reported by exactly one STAGE_COMPLETED across processes.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { PostgresTrackerStore } from "../../src/postgres.ts";
import { RedisTrackerStore } from "../../src/redis.ts";
import { SqliteTrackerStore } from "../../src/sqlite.ts";
import { CountTracker, KeyValueEQ, type TrackerStore, TrackingManager } from "../../src/tracker.ts";
import { runChild } from "../support/child.ts";
import { usePostgres, useRedis } from "../support/services.ts";

const worker = new URL("./fixtures/track-worker.ts", import.meta.url).pathname;
const WORKERS = 6;
const TOTAL = 3000;
const STAGES = Array.from({ length: 25 }, (_, i) => (i + 1) * 100);
const DISTINCT_MATCHING = Array.from({ length: TOTAL }, (_, i) => i).filter((i) => i % 7 !== 0).length;

async function run(t: TestContext, engine: string, store: TrackerStore, env: Record<string, string>): Promise<void> {
  const manager = new TrackingManager({ store });
  await manager.addTracker(
    "shared",
    new CountTracker({ name: "hits", target: [...STAGES, 1_000_000], conditions: [new KeyValueEQ("kind", "hit")] }),
  );
  const results = await Promise.all(
    Array.from({ length: WORKERS }, (_, w) =>
      runChild(worker, [engine, "shared", String(w), String(WORKERS), String(TOTAL)], { env }),
    ),
  );
  const stages: number[] = [];
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /DONE \d+/);
    for (const m of r.stdout.matchAll(/^STAGE (\d+)$/gm)) stages.push(Number(m[1]));
  }
  const [tracker] = await manager.getTrackers("shared");
  assert.equal(tracker?.progress, DISTINCT_MATCHING);
  assert.deepEqual(
    stages.sort((a, b) => a - b),
    STAGES.map((_, i) => i + 1),
    "each stage completed exactly once across processes",
  );
  await manager.close();
  t.diagnostic(`${engine}: ${DISTINCT_MATCHING} distinct matching events, ${stages.length} stage events`);
}

describe("six processes on one group", { concurrency: 3 }, () => {
  it("PostgreSQL", async (t) => {
    const db = await usePostgres(t);
    if (db === undefined) return;
    const store = new PostgresTrackerStore({ client: db.pool });
    await store.migrate();
    await run(t, "postgres", store, { TRACKER_PG_URL: db.urlWithSchema });
  });

  it("Redis", async (t) => {
    const redis = await useRedis(t);
    if (redis === undefined) return;
    const prefix = `${redis.prefix}c`;
    await run(t, "redis", new RedisTrackerStore({ client: redis.client, prefix }), {
      TRACKER_REDIS_URL: redis.url,
      TRACKER_REDIS_PREFIX: prefix,
    });
  });

  it("SQLite", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "tally-trk-conc-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "trackers.db");
    await run(t, "sqlite", new SqliteTrackerStore({ path }), { TRACKER_SQLITE_PATH: path });
  });
});
