/**
 * Shared limits on Redis (spec §11): tally's `checkAndRecord` enforcing TWO windows (minute and
 * hour) against rate-limiter-flexible's `RateLimiterRedis.consume` enforcing ONE, both on the same
 * ioredis client and Redis, at 1 and 64 calls in flight. Target: tally >= 1x the peer.
 * Both run over 1 000 keys with limits high enough that every call is admitted (the common case).
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

await benchmark(import.meta.url, async () => {
  const client = new Redis(url);
  const run = `bench_${Date.now().toString(36)}`;
  const store = await SharedEventStore.builder()
    .forRateLimiting()
    .timeZone("UTC")
    .withBackend(redisBackend(fromIoRedis(client), { prefix: `${run}:tally:` }))
    .build();
  const limiter = store.limit().atMost("k", 1e12, "minutes").atMost("k", 1e12, "hours");
  const limiters = Array.from({ length: KEYS }, (_, i) =>
    store.limit().atMost(`k${i}`, 1e12, "minutes").atMost(`k${i}`, 1e12, "hours"),
  );
  const peer = new RateLimiterRedis({ storeClient: client, points: 1e12, duration: 60, keyPrefix: `${run}:rlf` });
  const rows: BenchRow[] = [];
  try {
    for (const concurrency of [1, 64]) {
      const peerOps = await asyncOpsPerSecond((i) => peer.consume(`k${i % KEYS}`), { ms: MS, concurrency });
      const tallyOps = await asyncOpsPerSecond(
        async (i) => {
          const r = await limiters[i % KEYS]!.checkAndRecord(`k${i % KEYS}`);
          if (!r.ok) throw new Error("denied");
        },
        { ms: MS, concurrency },
      );
      const ratio = tallyOps / peerOps;
      rows.push({
        name: `shared Redis checkAndRecord, two windows, ${concurrency} in flight`,
        value: tallyOps,
        unit: "ops/s",
        note: `RateLimiterRedis.consume (one window): ${human(peerOps)} ops/s`,
      });
      rows.push({
        name: `  vs RateLimiterRedis.consume, one window, ${concurrency} in flight`,
        value: ratio,
        unit: "x",
        target: ">= 1x",
        met: ratio >= 1,
      });
    }
    void limiter;
  } finally {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${run}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== "0");
    client.disconnect();
  }
  return rows;
});
