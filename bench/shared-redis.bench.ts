/**
 * Shared limits on Redis (spec §11): tally's `checkAndRecord` enforcing TWO windows (minute and
 * hour) against rate-limiter-flexible's `RateLimiterRedis.consume` enforcing ONE, both on the same
 * ioredis client and Redis, at 1 and 64 calls in flight. Target: tally >= 1x the peer.
 * Both run over 1 000 keys with limits high enough that every call is admitted (the common case).
 * tally's limiters are built once per key (spec §6: the benchmark reuses them); a last, untargeted
 * case builds one for every call, as a request handler naming its user's event does.
 *
 * The two sides alternate in short rounds (which one goes first alternates too) and the ratio is the
 * median of the rounds' ratios, so a change in the machine's load during the run moves both sides
 * alike instead of favouring whichever ran in the quieter second.
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
const MS = Number(process.env.TALLY_BENCH_MS ?? 3_000);
const ROUNDS = 6;

/** Total usec spent in EVALSHA/EVAL so far, from INFO commandstats. */
async function scriptUsec(admin: Redis): Promise<number> {
  const info = await admin.info("commandstats");
  let usec = 0;
  for (const match of info.matchAll(/cmdstat_(?:evalsha|eval):calls=\d+,usec=(\d+)/g)) usec += Number(match[1]);
  return usec;
}

/** One side of the comparison: its calls, and what its rounds have measured so far. */
interface Side {
  readonly fn: (i: number) => Promise<unknown>;
  readonly rates: number[];
  ops: number;
  usec: number;
}

/** Runs one round of `side` at `concurrency`: ops/s, and Redis script µs and operations counted. */
async function round(admin: Redis, side: Side, concurrency: number): Promise<number> {
  let ops = 0;
  const before = await scriptUsec(admin);
  const perSecond = await asyncOpsPerSecond(
    async (i) => {
      await side.fn(i);
      ops++;
    },
    { ms: MS / ROUNDS, concurrency },
  );
  side.usec += (await scriptUsec(admin)) - before;
  side.ops += ops;
  side.rates.push(perSecond);
  return perSecond;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

await benchmark(import.meta.url, async () => {
  const client = new Redis(url);
  const admin = new Redis(url);
  const run = `bench_${Date.now().toString(36)}`;
  const store = await SharedEventStore.builder()
    .forRateLimiting()
    .timeZone("UTC")
    .withBackend(redisBackend(fromIoRedis(client), { prefix: `${run}:tally:` }))
    .build();
  const twoWindows = (id: string) => store.limit().atMost(id, 1e12, "minutes").atMost(id, 1e12, "hours");
  const limiters = Array.from({ length: KEYS }, (_, i) => twoWindows(`k${i}`));
  const peer = new RateLimiterRedis({ storeClient: client, points: 1e12, duration: 60, keyPrefix: `${run}:rlf` });
  const rows: BenchRow[] = [];
  // The target's cases (reused limiters, as the spec's benchmark has them), then a limiter built for
  // every call, as a handler that names the user's event does (no target: how much building costs).
  const cases = [
    { concurrency: 1, perCall: false },
    { concurrency: 64, perCall: false },
    { concurrency: 1, perCall: true },
  ];
  try {
    for (const { concurrency, perCall } of cases) {
      const theirs: Side = { fn: (i) => peer.consume(`k${i % KEYS}`), rates: [], ops: 0, usec: 0 };
      const ours: Side = {
        fn: async (i) => {
          const id = `k${i % KEYS}`;
          const limiter = perCall ? twoWindows(id) : limiters[i % KEYS]!;
          const r = await limiter.checkAndRecord(id);
          if (!r.ok) throw new Error("denied");
        },
        rates: [],
        ops: 0,
        usec: 0,
      };
      const ratios: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const [first, second] = r % 2 === 0 ? [theirs, ours] : [ours, theirs];
        await round(admin, first, concurrency);
        await round(admin, second, concurrency);
        ratios.push(ours.rates[r]! / theirs.rates[r]!);
      }
      const ratio = median(ratios);
      const built = perCall ? ", limiter built per call" : "";
      rows.push({
        name: `shared Redis checkAndRecord, two windows${built}, ${concurrency} in flight`,
        value: median(ours.rates),
        unit: "ops/s",
        note: `RateLimiterRedis.consume (one window): ${human(median(theirs.rates))} ops/s (medians of ${ROUNDS} alternating rounds)`,
      });
      rows.push({
        name: `  vs RateLimiterRedis.consume, one window${built}, ${concurrency} in flight`,
        value: ratio,
        unit: "x",
        ...(perCall ? {} : { target: ">= 1x", met: ratio >= 1 }),
      });
      if (perCall) continue;
      rows.push({
        name: `  Redis script time per operation, ${concurrency} in flight`,
        value: ours.usec / ours.ops,
        unit: "µs",
        note: `RateLimiterRedis: ${(theirs.usec / theirs.ops).toFixed(1)} µs (INFO commandstats; counts every EVALSHA on the server)`,
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
