/**
 * The concurrency guarantee of spec §10 on a real Redis: 8 child processes (half on ioredis, half on
 * node-redis) race for slots of one shared limit; exactly the limit is admitted.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { SharedEventStore } from "../../../src/counter/shared/shared-event-store.ts";
import { redisBackend } from "../../../src/storage/redis/counter-backend.ts";
import { fromIoRedis } from "../../../src/storage/redis/redis-client.ts";
import { runChild, startChild } from "../../support/child.ts";
import { useRedis } from "../../support/services.ts";

const worker = fileURLToPath(new URL("./fixtures/limit-worker.ts", import.meta.url));
const CHILDREN = 8;
const CALLS = 250; // 8 x 250 = 2 000 attempts
const T0 = Date.UTC(2024, 0, 1, 10, 0, 30);
const clientOf = (i: number): string => (i % 2 === 0 ? "ioredis" : "node-redis");

async function storeAt(prefix: string, client: Parameters<typeof fromIoRedis>[0], now: number) {
  return SharedEventStore.builder()
    .withClock({ now: () => now })
    .timeZone("UTC")
    .forRateLimiting()
    .withBackend(redisBackend(fromIoRedis(client), { prefix }))
    .backendTimeout("30s")
    .build();
}

describe("shared limits across processes", { timeout: 240_000 }, () => {
  it("admits exactly the limit with checkAndRecord, in one window and then under a second window", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const run = async (now: number): Promise<number> => {
      const results = await Promise.all(
        Array.from({ length: CHILDREN }, (_, i) =>
          runChild(worker, ["check", redis.prefix, String(CALLS), String(now), clientOf(i)]),
        ),
      );
      let total = 0;
      for (const r of results) {
        assert.equal(r.code, 0, r.stderr);
        const match = /done (\d+)/.exec(r.stdout);
        assert.ok(match, r.stdout);
        total += Number(match[1]);
      }
      return total;
    };
    // Minute 1: the minute limit (500) binds.
    assert.equal(await run(T0), 500);
    const store = await storeAt(redis.prefix, redis.client, T0);
    const limiter = store.limit().atMost("api", 500, "minutes").atMost("api", 700, "hours");
    assert.deepEqual(await limiter.usage("api"), { count: 500, limit: 500, remaining: 0 });
    assert.equal(await store.query("api").lastMinutes(1).sum(), 500);
    // Minute 2 of the same hour: the minute has room for 500, the hour only for 200 more.
    const later = T0 + 60_000;
    assert.equal(await run(later), 200);
    const after = await storeAt(redis.prefix, redis.client, later);
    const again = after.limit().atMost("api", 500, "minutes").atMost("api", 700, "hours");
    assert.deepEqual(await again.usage("api"), { count: 700, limit: 700, remaining: 0 });
    assert.equal(await after.query("api").lastHours(1).sum(), 700);
    assert.equal(await after.query("api").lastMinutes(1).sum(), 200);
  });

  it("hands out exactly the limit in reservations; commits count, cancels release", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const children = Array.from({ length: CHILDREN }, (_, i) =>
      startChild(worker, ["reserve", redis.prefix, String(CALLS), String(T0), clientOf(i)]),
    );
    const outputs = children.map((child) => {
      let out = "";
      let err = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.stderr?.on("data", (chunk: Buffer) => {
        err += chunk.toString();
      });
      const reserved = new Promise<number>((resolve, reject) => {
        const poll = (): void => {
          const match = /reserved (\d+)/.exec(out);
          if (match) resolve(Number(match[1]));
        };
        child.stdout?.on("data", poll);
        child.on("close", (code) => {
          poll();
          if (!/reserved/.test(out)) reject(new Error(`child exited ${code} before reserving: ${err}`));
        });
      });
      const closed = new Promise<string>((resolve) => child.on("close", (code) => resolve(`${code}|${out}|${err}`)));
      return { reserved, closed };
    });
    const reserved = await Promise.all(outputs.map((o) => o.reserved));
    const held = reserved.reduce((a, b) => a + b, 0);
    assert.equal(held, 500);
    const store = await storeAt(redis.prefix, redis.client, T0);
    const limiter = store.limit().atMost("api", 500, "minutes").atMost("api", 700, "hours");
    assert.deepEqual(await limiter.usage("api"), { count: 500, limit: 500, remaining: 0 });
    assert.equal((await limiter.check("api")).ok, false);
    assert.equal(await store.query("api").lastMinutes(1).sum(), 0); // pending, not recorded
    await redis.client.rpush(`${redis.prefix}go`, ...Array.from({ length: CHILDREN }, () => "go"));
    let committed = 0;
    let cancelled = 0;
    for (const o of outputs) {
      const [code, out] = (await o.closed).split("|");
      assert.equal(code, "0", out);
      const match = /settled (\d+) (\d+)/.exec(out ?? "");
      assert.ok(match, out);
      committed += Number(match[1]);
      cancelled += Number(match[2]);
    }
    assert.equal(committed + cancelled, 500);
    assert.equal(await store.query("api").lastMinutes(1).sum(), committed);
    assert.deepEqual(await limiter.usage("api"), { count: committed, limit: 500, remaining: 500 - committed });
  });
});
