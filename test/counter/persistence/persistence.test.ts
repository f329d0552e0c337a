import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { META_KEY } from "../../../src/counter/persistence.ts";
import {
  BinaryFormat,
  EventStore,
  isTallyError,
  JsonFormat,
  MemoryStorage,
  type Storage,
  type TallyError,
  TestClock,
} from "../../../src/index.ts";

const build = (storage: Storage, clock: TestClock, extra?: (b: ReturnType<typeof EventStore.builder>) => void) => {
  const builder = EventStore.builder().withStorage(storage).withClock(clock).timeZone("UTC");
  extra?.(builder);
  return builder.build();
};

/** MemoryStorage whose saves wait until `release()` (to act while a persist is in flight). */
class GatedStorage extends MemoryStorage {
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  #entered: (() => void) | undefined;
  concurrent = 0;
  maxConcurrent = 0;
  calls = 0;
  /** Resolves when a held saveMany has started (its snapshot is taken). */
  entered: Promise<void> = Promise.resolve();
  hold(): void {
    this.#gate = new Promise((resolve) => {
      this.#open = resolve;
    });
    this.entered = new Promise((resolve) => {
      this.#entered = resolve;
    });
  }
  release(): void {
    this.#open?.();
    this.#gate = undefined;
  }
  override async saveMany(entries: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void> {
    this.calls++;
    this.concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    this.#entered?.();
    await this.#gate;
    await super.saveMany(entries);
    this.concurrent--;
  }
}

/** A storage without saveMany that refuses some keys (per-key atomic, like a flaky object store). */
class RefusingStorage implements Storage {
  readonly inner = new MemoryStorage();
  refused = new Set<string>();
  refuseList = false;
  async save(key: string, value: Uint8Array): Promise<void> {
    if (this.refused.has(key)) throw new Error(`disk full writing ${key}`);
    return this.inner.save(key, value);
  }
  load(key: string) {
    return this.inner.load(key);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  async listKeys(): Promise<string[]> {
    if (this.refuseList) throw new Error("listing refused");
    return this.inner.listKeys();
  }
}

describe("EventStore persistence", () => {
  it("persist/build round trip: the rebuilt store answers the same", async () => {
    const storage = new MemoryStorage();
    const clock = new TestClock("2024-03-10T12:00:00Z");
    const store = await build(storage, clock);
    store.recordCount("page_view", 5);
    store.recordAgo("page_view", "3h");
    store.recordCountAgo("signup", 2, "2d");
    assert.equal(await store.persist(), 2);
    clock.advance("10m");
    const again = await build(storage, clock);
    assert.deepEqual(again.loadReport, { loaded: 2, converted: 0, failed: [] });
    assert.equal(again.replicaId, store.replicaId, "the replica id comes back from the meta key");
    for (const id of ["page_view", "signup"]) {
      assert.deepEqual(again.query(id).lastHours(72).buckets(), store.query(id).lastHours(72).buckets());
      assert.equal(again.query(id).ever().sum(), store.query(id).ever().sum());
      assert.equal(again.query(id).lastSeenAt(), store.query(id).lastSeenAt());
      assert.equal(again.query(id).firstSeenAt(), store.query(id).firstSeenAt());
    }
    assert.equal(again.isDirty(), false, "loaded events are not dirty");
    assert.equal(again.hasUnsavedChanges(), false, "nor unsaved");
  });

  it("persist writes only unsaved events; persistAll writes every event; the meta key is not counted", async () => {
    const storage = new MemoryStorage();
    const clock = new TestClock();
    const store = await build(storage, clock);
    store.record("event1");
    store.record("event2");
    assert.equal(await store.persist(), 2);
    assert.deepEqual((await storage.listKeys()).sort(), [META_KEY, "event1", "event2"].sort());
    store.record("event3");
    assert.equal(await store.persist(), 1);
    assert.equal(await store.persist(), 0);
    assert.equal(await store.persistAll(), 3);
  });

  it("writes large persists in saveMany chunks of 10 000", async () => {
    const storage = new GatedStorage();
    const store = await build(storage, new TestClock());
    for (let i = 0; i < 20_001; i++) store.record(`e${i}`);
    assert.equal(await store.persist(), 20_001);
    assert.equal(storage.calls, 3);
    assert.equal((await storage.listKeys()).length, 20_002, "every event and the meta key");
  });

  it("keeps dirty and unsaved apart (8.4)", async () => {
    const store = await build(new MemoryStorage(), new TestClock());
    store.record("a");
    assert.deepEqual([store.isDirty(), store.hasUnsavedChanges()], [true, true]);
    await store.persist();
    assert.deepEqual([store.isDirty(), store.hasUnsavedChanges()], [true, false], "a persist hides nothing from sync");
    assert.deepEqual([...store.exportDirty().keys()], ["a"]);
    store.resetDirty();
    store.record("b");
    store.resetDirty();
    assert.deepEqual([store.isDirty(), store.hasUnsavedChanges()], [false, true], "resetDirty skips no write");
    assert.equal(await store.persist(), 1);
  });

  it("a change made during a persist stays unsaved; persists never overlap", async () => {
    const storage = new GatedStorage();
    const store = await build(storage, new TestClock());
    store.record("a");
    storage.hold();
    const first = store.persist();
    await storage.entered;
    store.record("a"); // while the first write waits
    const second = store.persist();
    storage.release();
    assert.equal(await first, 1);
    assert.equal(await second, 1, "the second persist wrote the change");
    assert.equal(store.hasUnsavedChanges(), false);
    assert.equal(storage.maxConcurrent, 1, "serialised");
    const again = await build(storage, new TestClock());
    assert.equal(again.query("a").ever().sum(), 2);
  });

  it("a change made while the only persist runs is still unsaved afterwards", async () => {
    const storage = new GatedStorage();
    const store = await build(storage, new TestClock());
    store.record("a");
    storage.hold();
    const running = store.persist();
    await storage.entered;
    store.record("a");
    storage.release();
    assert.equal(await running, 1);
    assert.equal(store.hasUnsavedChanges(), true);
    assert.equal(await store.persist(), 1);
  });

  it("a failed save rejects with STORAGE_FAILED naming the keys; they stay unsaved, the others are written", async () => {
    const storage = new RefusingStorage();
    const store = await build(storage, new TestClock());
    store.record("ok");
    store.record("bad");
    storage.refused.add("bad");
    await assert.rejects(store.persist(), (e: unknown) => {
      assert.ok(isTallyError(e) && e.code === "STORAGE_FAILED");
      assert.deepEqual(e.details?.keys, ["bad"]);
      assert.match(e.message, /"bad"/);
      assert.ok(e.cause instanceof Error);
      return true;
    });
    assert.ok(await storage.load("ok"));
    assert.equal(await storage.load("bad"), undefined);
    assert.equal(store.hasUnsavedChanges(), true);
    storage.refused.clear();
    assert.equal(await store.persist(), 1, "only the failed event is written again");
  });

  it("build() loads the rest when one event is corrupt, reports it, and rejects only when listing fails", async () => {
    const storage = new RefusingStorage();
    const clock = new TestClock();
    const store = await build(storage, clock);
    store.record("good1");
    store.record("good2");
    await store.persist();
    const garbage = Uint8Array.of(0x54, 0x4c, 0x59, 0x43, 9, 9, 9);
    await storage.save("broken", garbage);
    const errors: TallyError[] = [];
    const again = await build(storage, clock, (b) => b.onError((e) => errors.push(e)));
    assert.equal(again.loadReport.loaded, 2);
    assert.equal(again.loadReport.failed.length, 1);
    const [failure] = again.loadReport.failed;
    assert.equal(failure?.key, "broken");
    assert.equal(failure?.error.code, "CORRUPT_DATA");
    assert.deepEqual(failure?.bytes, garbage, "the bytes are handed over so callers can archive them");
    assert.deepEqual(errors, [failure?.error]);
    assert.equal(again.query("broken").ever().sum(), undefined);
    // A later record starts a fresh counter whose persist overwrites the unreadable bytes.
    again.record("broken");
    await again.persist();
    const third = await build(storage, clock);
    assert.deepEqual(third.loadReport.failed, []);
    assert.equal(third.query("broken").ever().sum(), 1);
    storage.refuseList = true;
    await assert.rejects(build(storage, clock), (e) => isTallyError(e) && e.code === "STORAGE_FAILED");
  });

  it("loads through loadMany in chunks, and key by key when a chunk fails, reporting STORAGE_FAILED per key", async () => {
    class FlakyReads extends MemoryStorage {
      loadManyCalls = 0;
      override async loadMany(keys: readonly string[]) {
        this.loadManyCalls++;
        if (keys.includes("unreadable")) throw new Error("chunk read failed");
        return super.loadMany(keys);
      }
      override async load(key: string) {
        if (key === "unreadable") throw new Error("sector error");
        return super.load(key);
      }
    }
    const storage = new FlakyReads();
    const clock = new TestClock();
    const store = await build(storage, clock);
    for (let i = 0; i < 2500; i++) store.record(`e${i}`);
    store.record("unreadable");
    await store.persist();
    storage.loadManyCalls = 0;
    const errors: TallyError[] = [];
    const again = await build(storage, clock, (b) => b.onError((e) => errors.push(e)));
    assert.equal(again.loadReport.loaded, 2500);
    assert.ok(storage.loadManyCalls >= 3 && storage.loadManyCalls <= 4, `${storage.loadManyCalls} loadMany calls`);
    assert.deepEqual(
      again.loadReport.failed.map((f) => [f.key, f.error.code, f.bytes]),
      [["unreadable", "STORAGE_FAILED", undefined]],
    );
    assert.equal(errors.length, 1);
  });

  it("reports a key that is not an event id as CORRUPT_DATA and ignores reserved keys", async () => {
    const storage = new MemoryStorage();
    const clock = new TestClock();
    const store = await build(storage, clock);
    store.record("x");
    await store.persist();
    await storage.save("   ", (await storage.load("x")) as Uint8Array);
    await storage.save("\u0001tally:future", Uint8Array.of(1));
    const again = await build(storage, clock, (b) => b.onError(() => {}));
    assert.equal(again.loadReport.loaded, 1);
    assert.deepEqual(
      again.loadReport.failed.map((f) => [f.key, f.error.code]),
      [["   ", "CORRUPT_DATA"]],
    );
  });

  it("keeps the replica id: option first, then the stored id, else a new one saved at the next persist", async () => {
    const storage = new MemoryStorage();
    const clock = new TestClock();
    const fresh = await build(storage, clock);
    assert.equal(await storage.load(META_KEY), undefined, "nothing is written before a persist");
    assert.equal(await fresh.persist(), 0, "the meta key is written but not counted");
    const meta = JSON.parse(new TextDecoder().decode(await storage.load(META_KEY))) as { replicaId: string };
    assert.equal(meta.replicaId, fresh.replicaId);
    assert.equal((await build(storage, clock)).replicaId, fresh.replicaId);
    const renamed = await build(storage, clock, (b) => b.replicaId("phone-1"));
    assert.equal(renamed.replicaId, "phone-1");
    await renamed.persist();
    assert.equal((await build(storage, clock)).replicaId, "phone-1");
  });

  it("reports an unreadable meta key, starts with a new replica id and rewrites it at the next persist", async () => {
    const storage = new MemoryStorage();
    await storage.save(META_KEY, new TextEncoder().encode("{not json"));
    const store = await build(storage, new TestClock(), (b) => b.onError(() => {}));
    assert.deepEqual(
      store.loadReport.failed.map((f) => [f.key, f.error.code]),
      [[META_KEY, "CORRUPT_DATA"]],
    );
    await store.persist();
    assert.equal((await build(storage, new TestClock())).replicaId, store.replicaId);
  });

  it("converts events saved under another geometry: converted, unsaved, not dirty", async () => {
    const storage = new MemoryStorage();
    const clock = new TestClock("2024-06-12T10:45:30Z");
    const old = await build(storage, clock, (b) => b.trackMinutes(30));
    old.recordAgo("api_call", "25m");
    old.recordAgo("api_call", "1m");
    await old.persist();
    const wider = await build(storage, clock, (b) => b.trackMinutes(60).trackHours(24));
    assert.deepEqual(wider.loadReport, { loaded: 1, converted: 1, failed: [] });
    assert.equal(wider.query("api_call").lastMinutes(60).sum(), 2);
    assert.equal(wider.query("api_call").minutes(25, 26).sum(), 1, "25 minutes ago is bucket 25");
    assert.equal(wider.query("api_call").lastHours(24).sum(), 2, "hours populate from the minutes");
    assert.equal(wider.isDirty(), false);
    assert.equal(wider.hasUnsavedChanges(), true);
    assert.equal(await wider.persist(), 1);
    const reloaded = await build(storage, clock, (b) => b.trackMinutes(60).trackHours(24));
    assert.deepEqual(reloaded.loadReport, { loaded: 1, converted: 0, failed: [] });
  });

  it("loads values written in either built-in format whatever format is configured", async () => {
    const storage = new MemoryStorage();
    const clock = new TestClock();
    const json = await build(storage, clock, (b) => b.withFormat(JsonFormat));
    json.recordCount("a", 3);
    await json.persist();
    assert.equal(new TextDecoder().decode((await storage.load("a"))?.subarray(0, 10)), '{"format":');
    const binary = await build(storage, clock, (b) => b.withFormat(BinaryFormat));
    assert.equal(binary.query("a").ever().sum(), 3);
    binary.record("a");
    await binary.persist();
    assert.equal(new TextDecoder().decode((await storage.load("a"))?.subarray(0, 4)), "TLYC");
    assert.equal((await build(storage, clock, (b) => b.withFormat(JsonFormat))).query("a").ever().sum(), 4);
  });

  it("close() persists, then every call but close() throws STORE_CLOSED; await using closes too", async () => {
    const storage = new MemoryStorage();
    const clock = new TestClock();
    const store = await build(storage, clock);
    store.recordCount("a", 2);
    await store.close();
    await store.close();
    const closed = (e: unknown) => isTallyError(e) && e.code === "STORE_CLOSED";
    assert.throws(() => store.record("a"), closed);
    await assert.rejects(store.persist(), closed);
    assert.equal((await build(storage, clock)).query("a").ever().sum(), 2);
    {
      await using scoped = await build(storage, clock);
      scoped.record("a");
    }
    assert.equal((await build(storage, clock)).query("a").ever().sum(), 3);
  });

  it("autoPersist persists on its interval, skips idle ticks, reports failures, and stops on close", async (t) => {
    t.mock.timers.enable({ apis: ["setInterval"] });
    const storage = new RefusingStorage();
    const errors: TallyError[] = [];
    const store = await build(storage, new TestClock(), (b) => b.autoPersist("30s").onError((e) => errors.push(e)));
    store.record("a");
    t.mock.timers.tick(30_000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(await storage.load("a"), "the tick persisted");
    assert.equal(store.hasUnsavedChanges(), false);
    storage.refused.add("b");
    store.record("b");
    t.mock.timers.tick(30_000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.code, "STORAGE_FAILED");
    storage.refused.clear();
    await store.close();
    assert.ok(await storage.load("b"), "close persisted what was left");
    // The interval is gone: further ticks do nothing.
    t.mock.timers.tick(60_000);
    assert.equal(errors.length, 1);
  });

  it("autoPersist skips a tick while a persist runs and ticks with nothing unsaved", async (t) => {
    t.mock.timers.enable({ apis: ["setInterval"] });
    const storage = new GatedStorage();
    const store = await build(storage, new TestClock(), (b) => b.autoPersist("1s"));
    t.mock.timers.tick(1000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(storage.calls, 1, "the first tick saves the new replica id");
    t.mock.timers.tick(1000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(storage.calls, 1, "nothing unsaved: no write");
    storage.hold();
    store.record("a");
    t.mock.timers.tick(1000);
    await storage.entered;
    store.record("a");
    t.mock.timers.tick(1000);
    t.mock.timers.tick(1000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(storage.calls, 2, "ticks during the running persist were skipped");
    storage.release();
    await new Promise((resolve) => setImmediate(resolve));
    t.mock.timers.tick(1000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(storage.calls, 3, "the next tick wrote the change made meanwhile");
    assert.equal(store.hasUnsavedChanges(), false);
    await store.close();
  });

  it("rejects autoPersist without storage or with a non-positive interval (INVALID_CONFIG)", async () => {
    const invalid = (e: unknown) => isTallyError(e) && e.code === "INVALID_CONFIG";
    await assert.rejects(EventStore.builder().autoPersist("1s").build(), invalid);
    assert.throws(() => EventStore.builder().autoPersist(0), invalid);
  });
});
