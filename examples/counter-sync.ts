/**
 * Cookbook, "Multi-Device Sync": offline-first, conflict-free sync and partial sync, written with
 * `syncAll` (idempotent: the maximum per writer and bucket). With the crate's additive `mergeAll` the
 * same steps would count a device's own events twice when it downloads the server copy.
 * Run: npx tsx examples/counter-sync.ts
 */

import { EventStore, TestClock } from "../src/index.ts";

export async function main() {
  const clock = new TestClock("2024-01-01T12:00:00Z");
  const make = (replicaId: string) =>
    EventStore.builder().withClock(clock).timeZone("UTC").replicaId(replicaId).build();
  const [device1, device2, server, phone] = await Promise.all([
    make("device-1"),
    make("device-2"),
    make("server"),
    make("phone"),
  ]);

  // Conflict-free sync: 5 + 3 page views on two devices; everyone ends with 8, however often they sync.
  device1.recordCount("page_view", 5);
  device2.recordCount("page_view", 3);
  server.syncAll(device1.exportAll());
  server.syncAll(device2.exportAll());
  server.syncAll(device1.exportAll()); // a repeated upload changes nothing
  device1.syncAll(server.exportAll());
  device2.syncAll(server.exportAll());
  const conflictFree = {
    server: server.query("page_view").ever().sum(),
    device1: device1.query("page_view").ever().sum(),
    device2: device2.query("page_view").ever().sum(),
  };

  // Offline-first: record offline, then upload dirty events, download, and reset the dirty marks.
  phone.record("user:purchase");
  phone.record("user:page_view");
  let uploaded = 0;
  if (phone.isDirty()) {
    const local = phone.exportDirty();
    uploaded = local.size;
    server.syncAll(JSON.parse(JSON.stringify(Object.fromEntries(local)))); // what travels is JSON
    phone.syncAll(server.exportAll());
    phone.resetDirty();
  }
  const offline = {
    uploaded,
    phonePurchases: phone.query("user:purchase").ever().sum(),
    phonePageViews: phone.query("page_view").ever().sum(),
    dirtyAfter: phone.isDirty(),
  };

  // Partial sync: only analytics events travel.
  phone.record("analytics:screen");
  phone.record("debug:trace");
  const analytics = new Map([...phone.exportAll()].filter(([id]) => id.startsWith("analytics:")));
  return { conflictFree, offline, partial: [...analytics.keys()] };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
