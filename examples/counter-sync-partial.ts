/**
 * Cookbook, "Multi-Device Sync" → "Partial Sync": upload only some events (here the analytics
 * ones) by filtering an export. Snapshots are plain JSON, so the filtered map travels as it is and
 * the server applies it with the idempotent `syncAll`.
 * Run: npx tsx examples/counter-sync-partial.ts
 */

import { EventStore, TestClock } from "../src/index.ts";

export async function main() {
  const clock = new TestClock("2024-01-01T12:00:00Z");
  const phone = await EventStore.builder().withClock(clock).timeZone("UTC").replicaId("phone").build();
  const server = await EventStore.builder().withClock(clock).timeZone("UTC").replicaId("server").build();

  phone.record("analytics:screen");
  phone.recordCount("analytics:tap", 3);
  phone.record("debug:trace");

  const analytics = new Map([...phone.exportAll()].filter(([id]) => id.startsWith("analytics:")));
  server.syncAll(JSON.parse(JSON.stringify(Object.fromEntries(analytics))));
  server.syncAll(JSON.parse(JSON.stringify(Object.fromEntries(analytics)))); // a repeated upload changes nothing

  return {
    uploaded: [...analytics.keys()].sort(),
    serverTaps: server.query("analytics:tap").ever().sum(),
    serverDebug: server.query("debug:trace").ever().sum(),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
