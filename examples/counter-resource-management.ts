/**
 * Cookbook, "Resource Management": connection pool tracking with deltas, capacity limits and an
 * auto-reset at midnight with balanceDelta. Run: npx tsx examples/counter-resource-management.ts
 */

import { EventStore, TestClock } from "../src/index.ts";

export async function main() {
  const clock = new TestClock("2024-01-01T22:00:00Z");
  const store = await EventStore.builder().withClock(clock).timeZone("UTC").build();

  // 7 connections opened, 3 closed.
  store.recordCount("db:open", 7);
  store.recordCount("db:closed", 3);
  const open = store.queryDelta("db:open", "db:closed").ever().sum();

  // Capacity: refuse a new connection once 5 are open.
  const capacity = 5;
  let refused = 0;
  for (let i = 0; i < 3; i++) {
    if (store.queryDelta("db:open", "db:closed").ever().sum() >= capacity) refused++;
    else store.record("db:open");
  }
  const atCapacity = store.queryDelta("db:open", "db:closed").ever().sum();

  // Auto-reset at midnight: a new day balances the counts (the pool restarted empty).
  let lastReset = clock.now();
  clock.advance("3h");
  const today = (t: number) => new Date(t).toISOString().slice(0, 10);
  let balanced = 0;
  if (today(clock.now()) !== today(lastReset)) {
    balanced = store.balanceDelta("db:open", "db:closed");
    lastReset = clock.now();
  }
  const afterReset = store.queryDelta("db:open", "db:closed").ever().sum();
  return { open, refused, atCapacity, balanced, afterReset };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
