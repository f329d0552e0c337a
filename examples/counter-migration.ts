/**
 * Cookbook, "Configuration Migration": a store saved with 30 minute buckets is rebuilt with 60
 * minutes and 24 hours. build() converts the stored events: the minutes are copied (25 minutes ago
 * is bucket 25), the new hours are filled from the same data, and `loadReport` says how many events
 * were converted. Run: npx tsx examples/counter-migration.ts
 */

import { EventStore, MemoryStorage, TestClock } from "../src/index.ts";

export async function main() {
  const storage = new MemoryStorage();
  const clock = new TestClock("2024-06-12T10:45:30Z");

  const oldStore = await EventStore.builder().trackMinutes(30).withStorage(storage).withClock(clock).build();
  oldStore.recordAgo("api_call", "25m");
  oldStore.recordCountAgo("api_call", 2, "5m");
  await oldStore.close();

  const newStore = await EventStore.builder()
    .trackMinutes(60)
    .trackHours(24)
    .withStorage(storage)
    .withClock(clock)
    .build();
  return {
    converted: newStore.loadReport.converted,
    lastMinutes60: newStore.query("api_call").lastMinutes(60).sum(),
    bucket25: newStore.query("api_call").minutes(25, 26).sum(),
    lastHours24: newStore.query("api_call").lastHours(24).sum(),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
