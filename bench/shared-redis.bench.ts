/**
 * Shared limits on Redis (spec §11): tally's `checkAndRecord` enforcing TWO windows (minute and
 * hour) against rate-limiter-flexible's `RateLimiterRedis.consume` enforcing ONE, both on the same
 * ioredis client and Redis, at 1 and 64 calls in flight. Target: tally >= 1x the peer.
 * Both run over 1 000 keys with limits high enough that every call is admitted (the common case).
 *
 * Besides ops/s (which swing with the machine's load), each side's Redis time per operation is
 * read from `INFO commandstats` (EVALSHA usec / operations), a figure the load hardly moves. It
 * counts every EVALSHA on the server: run against a Redis nobody else is using
 * (TALLY_REDIS_URL=redis://127.0.0.1:<port>) for clean figures.
 */

import { Redis } from "ioredis";
import { RateLimiterRedis } from "rate-limiter-flexible";
import { SharedEventStore } from "../src/counter/shared/shared-event-store.ts";
import { redisBackend } from "../src/storage/redis/counter-backend.ts";
import { fromIoRedis } from "../src/storage/redis/redis-client.ts";
import { asyncOpsPerSecond, type BenchRow, benchmark, human } from "./harness.ts";

const url = process.env.TALLY_REDIS_URL ?? "redis://127.0.0.1:6379";
const KEYS = 1_000;
const MS = Number(process.env.TALLY_BENCH_MS ?? 2_000);

/** Total usec spent in EVALSHA/EVAL so far, from INFO commandstats. */
async function scriptUsec(admin: Redis): Promise<number> {
  const info = await admin.info("commandstats");
  let usec = 0;
  for (const match of info.matchAll(/cmdstat_(?:evalsha|eval):calls=\d+,usec=(\d+)/g)) usec += Number(match[1]);
  return usec;
}

/** ops/s of `fn` at `concurrency`, and Redis script µs per operation over the same run. */
async function measure(admin: Redis, fn: (i: number) => Promise<unknown>, concurrency: number) {
  let ops = 0;
  const before = await scriptUsec(admin);
  const perSecond = await asyncOpsPerSecond(
    async (i) => {
      await fn(i);
      ops++;
    },
    { ms: MS, concurrency },
  );
  const usecPerOp = ((await scriptUsec(admin)) - before) / ops;
  return { perSecond, usecPerOp };
}

await benchmark(import.meta.url, async () => {
  const client = new Redis(url);
  const admin = new Redis(url);
  const run = `bench_${Date.now().toString(36)}`;
  const store = await SharedEventStore.builder()
    .forRateLimiting()
    .timeZone("UTC")
    .withBackend(redisBackend(fromIoRedis(client), { prefix: `${run}:tally:` }))
    .build();
  const limiters = Array.from({ length: KEYS }, (_, i) =>
    store.limit().atMost(`k${i}`, 1e12, "minutes").atMost(`k${i}`, 1e12, "hours"),
  );
  const peer = new RateLimiterRedis({ storeClient: client, points: 1e12, duration: 60, keyPrefix: `${run}:rlf` });
  const rows: BenchRow[] = [];
  try {
    for (const concurrency of [1, 64]) {
      const theirs = await measure(admin, (i) => peer.consume(`k${i % KEYS}`), concurrency);
      const ours = await measure(
        admin,
        async (i) => {
          const r = await limiters[i % KEYS]!.checkAndRecord(`k${i % KEYS}`);
          if (!r.ok) throw new Error("denied");
        },
        concurrency,
      );
      const ratio = ours.perSecond / theirs.perSecond;
      rows.push({
        name: `shared Redis checkAndRecord, two windows, ${concurrency} in flight`,
        value: ours.perSecond,
        unit: "ops/s",
        note: `RateLimiterRedis.consume (one window): ${human(theirs.perSecond)} ops/s`,
      });
      rows.push({
        name: `  vs RateLimiterRedis.consume, one window, ${concurrency} in flight`,
        value: ratio,
        unit: "x",
        target: ">= 1x",
        met: ratio >= 1,
      });
      rows.push({
        name: `  Redis script time per operation, ${concurrency} in flight`,
        value: ours.usecPerOp,
        unit: "µs",
        note: `RateLimiterRedis: ${theirs.usecPerOp.toFixed(1)} µs (INFO commandstats; counts every EVALSHA on the server)`,
      });
    }
  } finally {
    let cursor = "0";
    do {
      const [next, keys] = await admin.scan(cursor, "MATCH", `${run}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await admin.del(...keys);
    } while (cursor !== "0");
    client.disconnect();
    admin.disconnect();
  }
  return rows;
});
