/**
 * Six processes track 3 000 events for one group on each store (every 5th event of each worker is
 * redelivered by another process with the same eventId). Final progress must equal the distinct
 * matching events, and every stage must be reported by exactly one STAGE_COMPLETED across
 * processes. The six processes serve PostgreSQL, Redis and SQLite at once (one store and manager
 * per engine in each), so the test pays six tsx start-ups rather than eighteen; each engine is
 * still six processes on one group, and each is checked in its own subtest.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it, type TestContext } from "node:test";
import { PostgresTrackerStore } from "../../src/postgres.ts";
import { RedisTrackerStore } from "../../src/redis.ts";
import { SqliteTrackerStore } from "../../src/sqlite.ts";
import { CountTracker, KeyValueEQ, type TrackerStore, TrackingManager } from "../../src/tracker.ts";
import { runChild } from "../support/child.ts";
import { postgresUnavailable, redisUnavailable, servicesRequired, usePostgres, useRedis } from "../support/services.ts";

const worker = new URL("./fixtures/track-worker.ts", import.meta.url).pathname;
const WORKERS = 6;
const TOTAL = 3000;
const GROUP = "shared";
const STAGES = Array.from({ length: 25 }, (_, i) => (i + 1) * 100);
const DISTINCT_MATCHING = Array.from({ length: TOTAL }, (_, i) => i).filter((i) => i % 7 !== 0).length;

interface Engine {
  engine: string;
  label: string;
  store: TrackerStore;
  env: Record<string, string>;
}

/** The engines whose servers answer; an absent server is reported (or fails under TALLY_REQUIRE_SERVICES). */
async function engines(t: TestContext): Promise<Engine[]> {
  const found: Engine[] = [];
  const pgReason = await postgresUnavailable();
  if (pgReason === undefined || servicesRequired) {
    const db = await usePostgres(t);
    if (db !== undefined) {
      const store = new PostgresTrackerStore({ client: db.pool });
      await store.migrate();
      found.push({ engine: "postgres", label: "PostgreSQL", store, env: { TRACKER_PG_URL: db.urlWithSchema } });
    }
  } else t.diagnostic(`PostgreSQL skipped: ${pgReason}`);
  const redisReason = await redisUnavailable();
  if (redisReason === undefined || servicesRequired) {
    const redis = await useRedis(t);
    if (redis !== undefined) {
      const prefix = `${redis.prefix}c`;
      found.push({
        engine: "redis",
        label: "Redis",
        store: new RedisTrackerStore({ client: redis.client, prefix }),
        env: { TRACKER_REDIS_URL: redis.url, TRACKER_REDIS_PREFIX: prefix },
      });
    }
  } else t.diagnostic(`Redis skipped: ${redisReason}`);
  const dir = mkdtempSync(join(tmpdir(), "tally-trk-conc-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "trackers.db");
  found.push({
    engine: "sqlite",
    label: "SQLite",
    store: new SqliteTrackerStore({ path }),
    env: { TRACKER_SQLITE_PATH: path },
  });
  return found;
}

it("six processes on one group, per store (PostgreSQL, Redis, SQLite)", async (t) => {
  const used = await engines(t);
  const managers = new Map<string, TrackingManager>();
  for (const e of used) {
    const manager = new TrackingManager({ store: e.store });
    await manager.addTracker(
      GROUP,
      new CountTracker({ name: "hits", target: [...STAGES, 1_000_000], conditions: [new KeyValueEQ("kind", "hit")] }),
    );
    managers.set(e.engine, manager);
  }
  const env = Object.assign({}, ...used.map((e) => e.env)) as Record<string, string>;
  const names = used.map((e) => e.engine).join(",");
  const results = await Promise.all(
    Array.from({ length: WORKERS }, (_, w) =>
      runChild(worker, [names, GROUP, String(w), String(WORKERS), String(TOTAL)], { env }),
    ),
  );
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  for (const e of used) {
    await t.test(e.label, async (st) => {
      const stages: number[] = [];
      for (const r of results) {
        assert.match(r.stdout, new RegExp(`^DONE ${e.engine} \\d+$`, "m"));
        for (const m of r.stdout.matchAll(new RegExp(`^STAGE ${e.engine} (\\d+)$`, "gm"))) stages.push(Number(m[1]));
      }
      const manager = managers.get(e.engine) as TrackingManager;
      const [tracker] = await manager.getTrackers(GROUP);
      assert.equal(tracker?.progress, DISTINCT_MATCHING);
      assert.deepEqual(
        stages.sort((a, b) => a - b),
        STAGES.map((_, i) => i + 1),
        "each stage completed exactly once across processes",
      );
      await manager.close();
      st.diagnostic(`${e.engine}: ${DISTINCT_MATCHING} distinct matching events, ${stages.length} stage events`);
    });
  }
});
