/**
 * Cookbook, "Multi-Device Sync / Offline-First Mobile App", written with `syncAll`: a phone records
 * offline and persists to its own storage; when online it uploads `exportDirty()` (as JSON, as it
 * would travel over HTTP), downloads the server's state, syncs it in and clears the dirty marks.
 * A laptop does the same. Both end at the server's totals, a restart keeps everything (and the
 * replica id), and a repeated sync changes nothing.
 * Run: npx tsx examples/counter-sync-offline-first.ts
 */

import { EventStore, MemoryStorage, type SnapshotSet, TestClock } from "../src/index.ts";

/** The server side of `api.upload_events` / `api.fetch_events`, with JSON on the wire. */
class Api {
  readonly store: EventStore;
  constructor(store: EventStore) {
    this.store = store;
  }
  upload(body: string): void {
    this.store.syncAll(JSON.parse(body) as SnapshotSet);
  }
  fetch(): string {
    return JSON.stringify(Object.fromEntries(this.store.exportAll()));
  }
}

async function syncWhenOnline(store: EventStore, api: Api): Promise<boolean> {
  if (!store.isDirty()) return false;
  api.upload(JSON.stringify(Object.fromEntries(store.exportDirty())));
  store.syncAll(JSON.parse(api.fetch()) as SnapshotSet);
  store.resetDirty();
  await store.persist();
  return true;
}

export async function main() {
  const clock = new TestClock("2024-05-01T08:00:00Z");
  const open = (storage: MemoryStorage) =>
    EventStore.builder().withStorage(storage).withClock(clock).timeZone("UTC").build();
  const api = new Api(await EventStore.builder().withClock(clock).timeZone("UTC").replicaId("server").build());
  const phoneStorage = new MemoryStorage();
  const phone = await open(phoneStorage);
  const laptop = await open(new MemoryStorage());

  // Offline recording on both devices.
  phone.record("user:purchase");
  phone.recordCount("user:page_view", 4);
  await phone.persist();
  clock.advance("1h");
  laptop.recordCount("user:page_view", 6);

  // Online: each device syncs (the phone twice, once before and once after the laptop).
  await syncWhenOnline(phone, api);
  await syncWhenOnline(laptop, api);
  phone.record("user:page_view");
  await syncWhenOnline(phone, api);
  await syncWhenOnline(laptop, api); // nothing dirty on the laptop: no upload
  laptop.syncAll(JSON.parse(api.fetch()) as SnapshotSet); // a plain download

  const totals = (s: EventStore) => ({
    purchases: s.query("user:purchase").ever().sum(),
    pageViews: s.query("user:page_view").ever().sum(),
  });
  const server = totals(api.store);
  const phoneTotals = totals(phone);
  const laptopTotals = totals(laptop);

  // A repeated sync changes nothing and marks nothing.
  phone.syncAll(JSON.parse(api.fetch()) as SnapshotSet);
  api.upload(JSON.stringify(Object.fromEntries(phone.exportAll())));
  const repeated = { phone: totals(phone), server: totals(api.store), phoneDirty: phone.isDirty() };

  // The phone restarts: its storage holds every event and its replica id.
  const restarted = await open(phoneStorage);
  const afterRestart = { ...totals(restarted), sameReplica: restarted.replicaId === phone.replicaId };

  return { server, phone: phoneTotals, laptop: laptopTotals, repeated, afterRestart };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
