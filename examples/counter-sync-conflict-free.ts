/**
 * Cookbook, "Multi-Device Sync / Conflict-Free Sync", written with `syncAll`: two devices count the
 * same event, a server combines them, and both devices end at the server's total. Syncing again
 * changes nothing (sync keeps the maximum per device, so repeated or overlapping uploads never count
 * twice). The crate's `merge_all` would count a device's own events again when it merges the server
 * export back; `mergeAll` in tally keeps those semantics and the example shows the difference.
 * Run: npx tsx examples/counter-sync-conflict-free.ts
 */

import { EventStore, TestClock } from "../src/index.ts";

export async function main() {
  const clock = new TestClock("2024-05-01T09:00:00Z");
  const device = (id: string) => EventStore.builder().withClock(clock).timeZone("UTC").replicaId(id).build();
  const device1 = await device("device-1");
  const device2 = await device("device-2");
  const server = await device("server");

  // Device 1 records 5 events, device 2 records 3.
  device1.recordCount("page_view", 5);
  const dev1Data = device1.exportAll();
  device2.recordCount("page_view", 3);
  const dev2Data = device2.exportAll();

  // The server combines both (5 + 3 = 8).
  server.syncAll(dev1Data);
  server.syncAll(dev2Data);
  const serverTotal = server.query("page_view").ever().sum();

  // Both devices sync with the server and see the total.
  device1.syncAll(server.exportAll());
  device2.syncAll(server.exportAll());
  const device1Total = device1.query("page_view").ever().sum();
  const device2Total = device2.query("page_view").ever().sum();

  // Syncing again, in any order, changes nothing.
  device1.resetDirty();
  server.syncAll(device1.exportAll());
  server.syncAll(dev2Data);
  device1.syncAll(server.exportAll());
  const afterResync = {
    server: server.query("page_view").ever().sum(),
    device1: device1.query("page_view").ever().sum(),
    device1Dirty: device1.isDirty(),
  };

  // The crate's additive merge would count device 1's own 5 again.
  const additive = await device("device-1b");
  additive.recordCount("page_view", 5);
  additive.mergeAll(server.exportAll());
  const mergeAllWouldGive = additive.query("page_view").ever().sum();

  return { serverTotal, device1Total, device2Total, afterResync, mergeAllWouldGive };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
