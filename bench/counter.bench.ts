/**
 * Counter benchmarks (spec §11), side by side with rate-limiter-flexible in the same process:
 * record and query throughput, memory per event, and reused limiters against
 * `RateLimiterMemory.consume`. Run: npm run bench -- counter
 */

import { RateLimiterMemory } from "rate-limiter-flexible";
import { EventStore } from "../src/counter/event-store.ts";
import { TestClock } from "../src/time/clock.ts";
import { type BenchRow, benchmark, human, opsPerSecond } from "./harness.ts";

const IDS = 10_000;
const ids = Array.from({ length: IDS }, (_, i) => `event:${i}`);

function heap(): number {
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function memoryRows(): BenchRow[] {
  const n = 100_000;
  const names = Array.from({ length: n }, (_, i) => `user:${i}:login`);
  const before = heap();
  const store = new EventStore({ timeZone: "UTC" });
  for (const id of names) store.record(id);
  const measured = (heap() - before) / n;
  const estimated = store.memoryUsage() / n;
  return [
    {
      name: "memory per event, default config (heap + arrayBuffers growth, 100 000 events)",
      value: measured,
      unit: "bytes/event",
      target: "<= 1.2 KB (1200 bytes)",
      met: measured <= 1200,
      note: `memoryUsage() estimates ${estimated.toFixed(0)} bytes/event; 256 buckets x 4 bytes are 1024 of them; ids created before the baseline`,
    },
  ];
}

/** The peer's best case: 1000 consume() calls in flight per batch, never rejected. */
function peerRound(limiter: RateLimiterMemory, budget: number, state: { i: number }): Promise<number> {
  const batch = 1000;
  return (async () => {
    let calls = 0;
    const start = performance.now();
    while (performance.now() - start < budget) {
      const pending = new Array<Promise<unknown>>(batch);
      for (let k = 0; k < batch; k++) pending[k] = limiter.consume(ids[state.i++ % IDS]!);
      await Promise.all(pending);
      calls += batch;
    }
    return (calls / (performance.now() - start)) * 1000;
  })();
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

await benchmark(import.meta.url, async () => {
  const rows = memoryRows();

  const store = new EventStore({ timeZone: "Europe/Berlin" });
  for (const id of ids) store.record(id);
  const record = opsPerSecond((i) => store.record(ids[i % IDS]!), { ms: 1500 });
  rows.push({
    name: "record(id), default config, 10 000 ids",
    value: record,
    unit: "ops/s",
    target: ">= 5 M ops/s",
    met: record >= 5e6,
    note: "calendar alignment in Europe/Berlin, system clock",
  });
  const query = opsPerSecond(
    (i) =>
      store
        .query(ids[i % IDS]!)
        .lastDays(7)
        .sum(),
    { ms: 1500 },
  );
  rows.push({
    name: "query(id).lastDays(7).sum(), default config, 10 000 ids",
    value: query,
    unit: "ops/s",
    target: ">= 5 M ops/s",
    met: query >= 5e6,
  });

  // The machine is shared: peer and tally run in alternating short rounds and each ratio is the
  // median of the per-round ratios, so load drifting during the run hits both sides alike.
  // Every public call reads the clock once; on this VM (kvm-clock) Date.now() is a large share.
  const clockNs = 1e9 / opsPerSecond(() => Date.now(), { ms: 500 });
  rows.push({
    name: "Date.now() itself (the one clock read per call)",
    value: clockNs,
    unit: "ns/call",
    note: "the system clock source decides this; both tally and the peer pay it once per call",
  });
  const testClock = new TestClock();
  const fixed = new EventStore({ timeZone: "Europe/Berlin", clock: testClock });
  for (const id of ids) fixed.record(id);
  const recordFixed = opsPerSecond((i) => fixed.record(ids[i % IDS]!), { ms: 1000 });
  const queryFixed = opsPerSecond(
    (i) =>
      fixed
        .query(ids[i % IDS]!)
        .lastDays(7)
        .sum(),
    { ms: 1000 },
  );
  rows.push({
    name: "record(id), default config, 10 000 ids, TestClock (clock cost excluded)",
    value: recordFixed,
    unit: "ops/s",
    target: ">= 5 M ops/s",
    met: recordFixed >= 5e6,
    note: "the library's own cost per record",
  });
  rows.push({
    name: "query(id).lastDays(7).sum(), 10 000 ids, TestClock (clock cost excluded)",
    value: queryFixed,
    unit: "ops/s",
    target: ">= 5 M ops/s",
    met: queryFixed >= 5e6,
  });

  const peerLimiter = new RateLimiterMemory({ points: 1e12, duration: 60 });
  const limits = new EventStore({ timeZone: "UTC", units: { seconds: 60, minutes: 60, hours: 24 } });
  const one = ids.map((id) => limits.limit().atMost(id, 1e12, "minutes"));
  const two = ids.map((id) => limits.limit().atMost(id, 1e12, "minutes").atMost(id, 1e12, "hours"));
  const state = { i: 0 };
  await peerRound(peerLimiter, 300, state);
  const peers: number[] = [];
  const ones: number[] = [];
  const twos: number[] = [];
  for (let round = 0; round < 7; round++) {
    const peerRate = await peerRound(peerLimiter, 300, state);
    const oneRate = opsPerSecond((i) => one[i % IDS]!.checkAndRecord(ids[i % IDS]!), { ms: 300 });
    const twoRate = opsPerSecond((i) => two[i % IDS]!.checkAndRecord(ids[i % IDS]!), { ms: 300 });
    peers.push(peerRate);
    ones.push(oneRate / peerRate);
    twos.push(twoRate / peerRate);
  }
  const peer = median(peers);
  const oneRate = median(ones) * peer;
  const twoRate = median(twos) * peer;
  const fairness =
    "10 000 keys round-robin on both sides, limits never reached; tally: one reused limiter per key (forRateLimiting units), synchronous; " +
    `RateLimiterMemory: points 1e12 per 60 s, 1000 consume() promises in flight per batch (its best case), ${human(peer)} ops/s; median of 7 alternating 300 ms rounds`;
  rows.push({
    name: "RateLimiterMemory.consume (peer), 10 000 keys",
    value: peer,
    unit: "ops/s",
    note: "measured in this run; the ratios below divide by it",
  });
  rows.push({
    name: "reused limiter checkAndRecord, one atMost, vs RateLimiterMemory.consume",
    value: median(ones),
    unit: "x",
    target: ">= 2x",
    met: median(ones) >= 2,
    note: `${human(oneRate)} ops/s; ${fairness}`,
  });
  rows.push({
    name: "reused limiter checkAndRecord, two atMost, vs RateLimiterMemory.consume",
    value: median(twos),
    unit: "x",
    target: ">= 1.5x",
    met: median(twos) >= 1.5,
    note: `${human(twoRate)} ops/s (minutes and hours windows); same peer figure`,
  });
  return rows;
});
