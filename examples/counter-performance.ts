/**
 * Cookbook, "Performance Optimization": batch recording and a memory-constrained configuration.
 * Run: npx tsx examples/counter-performance.ts
 */

import { EventStore, TestClock } from "../src/index.ts";

export async function main() {
  const clock = new TestClock("2024-01-01T12:00:00Z");
  const store = await EventStore.builder().withClock(clock).timeZone("UTC").build();

  // Batch recording: count in a Map first, then one recordCount per distinct event.
  const events = ["view", "click", "view", "view", "purchase", "click"];
  const counts = new Map<string, number>();
  for (const name of events) counts.set(name, (counts.get(name) ?? 0) + 1);
  for (const [name, count] of counts) store.recordCount(name, count);
  const views = store.query("view").lastMinutes(1).sum();

  // Memory-constrained: 60 minutes + 24 hours = 84 buckets instead of the default 256.
  const small = await EventStore.builder().withClock(clock).trackMinutes(60).trackHours(24).build();
  const big = await EventStore.builder().withClock(clock).build();
  for (let i = 0; i < 1000; i++) {
    small.record(`e${i}`);
    big.record(`e${i}`);
  }
  const buckets = small.trackedIntervals().reduce((sum, [, n]) => sum + n, 0);
  return {
    recordCalls: counts.size,
    views,
    buckets,
    smallBytesPerEvent: Math.round(small.memoryUsage() / 1000),
    defaultBytesPerEvent: Math.round(big.memoryUsage() / 1000),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
