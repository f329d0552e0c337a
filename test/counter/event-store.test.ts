import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EventStore } from "../../src/counter/event-store.ts";
import { isTallyError } from "../../src/errors.ts";
import { TestClock } from "../../src/time/clock.ts";

const DAY = 86_400_000;

function code(fn: () => unknown, expected: string): void {
  assert.throws(fn, (e: unknown) => isTallyError(e) && e.code === expected, `expected ${expected}`);
}

async function utcStore(clock = new TestClock()) {
  return { clock, store: await EventStore.builder().withClock(clock).timeZone("UTC").build() };
}

describe("EventStore configuration", () => {
  it("tracks the spec's default units (256 buckets) and the presets", async () => {
    assert.deepEqual(new EventStore().trackedIntervals(), [
      ["minutes", 60],
      ["hours", 72],
      ["days", 56],
      ["weeks", 52],
      ["months", 12],
      ["years", 4],
    ]);
    const rate = await EventStore.builder().forRateLimiting().build();
    assert.deepEqual(rate.trackedIntervals(), [
      ["seconds", 60],
      ["minutes", 60],
      ["hours", 24],
    ]);
    const analytics = await EventStore.builder().forAnalytics().trackDays(30).build();
    assert.deepEqual(analytics.trackedIntervals(), [
      ["days", 30],
      ["weeks", 52],
      ["months", 24],
    ]);
    const custom = await EventStore.builder().trackHours(5).trackMinutes(10).trackHours(6).build();
    assert.deepEqual(custom.trackedIntervals(), [
      ["minutes", 10],
      ["hours", 6],
    ]);
  });

  it("exposes zone, alignment and a valid random replica id", async () => {
    const store = await EventStore.builder().timeZone("Europe/Berlin").alignment("uniform").replicaId("dev-1").build();
    assert.equal(store.timeZone, "Europe/Berlin");
    assert.equal(store.alignment, "uniform");
    assert.equal(store.replicaId, "dev-1");
    assert.match(new EventStore().replicaId, /^[A-Za-z0-9._:-]{1,128}$/);
    assert.notEqual(new EventStore().replicaId, new EventStore().replicaId);
    assert.deepEqual(store.loadReport, { loaded: 0, converted: 0, failed: [] });
  });

  it("rejects bad configuration", async () => {
    code(() => EventStore.builder().trackDays(0), "INVALID_CONFIG");
    code(() => EventStore.builder().trackDays(1.5), "INVALID_CONFIG");
    code(() => EventStore.builder().trackDays(1_000_001), "INVALID_CONFIG");
    code(() => EventStore.builder().timeZone("Mars/Olympus"), "INVALID_CONFIG");
    code(() => EventStore.builder().alignment("lunar" as "uniform"), "INVALID_CONFIG");
    code(() => EventStore.builder().autoPersist(0), "INVALID_CONFIG");
    code(() => EventStore.builder().autoPersist("soon" as "1s"), "INVALID_DURATION");
    code(() => EventStore.builder().withClock({} as TestClock), "INVALID_CONFIG");
    code(() => EventStore.builder().replicaId("has space"), "INVALID_REPLICA_ID");
    code(() => EventStore.builder().replicaId("x".repeat(129)), "INVALID_REPLICA_ID");
    await assert.rejects(
      EventStore.builder().autoPersist("30s").build(),
      (e: unknown) => isTallyError(e) && e.code === "INVALID_CONFIG",
    );
  });
});

describe("recording and queries", () => {
  it("counts into every unit and rotates lazily", async () => {
    const { clock, store } = await utcStore();
    store.record("launch");
    store.recordCount("launch", 4);
    assert.equal(store.query("launch").lastDays(7).sum(), 5);
    assert.equal(store.query("launch").lastMinutes(1).sum(), 5);
    clock.advance("1d");
    assert.equal(store.query("launch").lastDays(1).sum(), 0);
    assert.equal(store.query("launch").lastDays(2).sum(), 5);
    assert.deepEqual(store.query("launch").lastDays(3).buckets(), [0, 5, 0]);
    assert.equal(store.query("launch").lastMinutes(60).sum(), 0);
    clock.advance(`${56 * 24}h`);
    assert.equal(store.query("launch").lastDays(56).sum(), 0);
    assert.equal(store.query("launch").ever().sum(), 5); // 4 calendar years
  });

  it("distinguishes a missing event (undefined) from an empty one (0)", async () => {
    const { store } = await utcStore();
    const missing = store.query("nope").lastDays(7);
    assert.equal(missing.sum(), undefined);
    assert.equal(missing.average(), undefined);
    assert.equal(missing.countNonzero(), undefined);
    assert.equal(missing.buckets(), undefined);
    assert.equal(store.query("nope").lastSeen(), undefined);
    store.recordCount("empty", 0);
    const empty = store.query("empty").lastDays(7);
    assert.equal(empty.sum(), 0);
    assert.equal(empty.average(), 0);
    assert.equal(empty.countNonzero(), 0);
    assert.equal(empty.averageNonzero(), undefined);
    assert.equal(store.query("empty").lastSeen(), undefined);
    assert.equal(store.query("empty").lastSeconds(5).sum(), undefined, "seconds are not tracked");
    // A range clamped to nothing.
    const clamped = store.query("empty").daysFrom(100);
    assert.equal(clamped.sum(), 0);
    assert.deepEqual(clamped.buckets(), []);
    assert.equal(clamped.average(), undefined);
    assert.equal(clamped.countNonzero(), 0);
  });

  it("reads ranges, take and averages", async () => {
    const { clock, store } = await utcStore();
    for (let day = 0; day < 10; day++) {
      store.recordCount("e", day % 3 === 0 ? 0 : day);
      clock.advance("1d");
    }
    // buckets newest first: day 9 is bucket 1 (today is empty)
    assert.deepEqual(store.query("e").lastDays(5).buckets(), [0, 0, 8, 7, 0]);
    assert.equal(store.query("e").days(1, 4).sum(), 15);
    assert.equal(store.query("e").daysFrom(2).take(2).sum(), 15);
    assert.equal(store.query("e").lastDays(5).average(), 3);
    assert.equal(store.query("e").lastDays(5).averageNonzero(), 7.5);
    assert.equal(store.query("e").lastDays(5).countNonzero(), 2);
    assert.equal(store.query("e").lastDays(1000).sum(), 1 + 2 + 4 + 5 + 7 + 8);
  });

  it("records in the past per unit, drops what a unit cannot hold, refuses the future", async () => {
    const { clock, store } = await EventStore.builder()
      .withClock(new TestClock("2024-01-10T12:00:00Z"))
      .timeZone("UTC")
      .trackMinutes(60)
      .trackDays(7)
      .build()
      .then((s) => ({ store: s, clock: undefined }));
    void clock;
    store.recordAgo("sync", "3h");
    assert.equal(store.query("sync").lastMinutes(60).sum(), 0);
    assert.equal(store.query("sync").lastDays(1).sum(), 1);
    store.recordCountAt("sync", 2, Date.parse("2024-01-08T00:00:00Z"));
    assert.deepEqual(store.query("sync").lastDays(3).buckets(), [1, 0, 2]);
    store.recordAgo("old", "30d"); // no unit reaches it: nothing happens, not even creation
    assert.equal(store.query("old").ever().sum(), undefined);
    code(() => store.recordAt("sync", Date.parse("2024-01-10T12:00:00.001Z")), "FUTURE_EVENT");
    assert.equal(store.query("sync").lastDays(7).sum(), 3, "a refused record changes nothing");
    code(() => store.recordAt("sync", Number.NaN), "INVALID_TIMESTAMP");
    code(() => store.recordAt("sync", new Date("nope")), "INVALID_TIMESTAMP");
    code(() => store.recordAgo("sync", "-5s" as "5s"), "INVALID_DURATION");
    store.recordAt("sync", new Date("2024-01-10T11:59:00Z"));
    assert.equal(store.query("sync").lastMinutes(2).sum(), 1);
  });

  it("keeps counting into bucket 0 when the clock goes back", async () => {
    const { clock, store } = await utcStore(new TestClock("2024-01-10T12:00:00Z"));
    store.record("e");
    clock.set("2024-01-09T12:00:00Z");
    store.record("e");
    assert.equal(store.query("e").lastDays(1).sum(), 2);
    assert.equal(store.query("e").lastSeen(), 0, "elapsed time is floored at 0");
    store.recordAt("e", Date.parse("2024-01-08T12:00:00Z"));
    assert.deepEqual(store.query("e").lastDays(3).buckets(), [2, 0, 1]);
    clock.set("2024-01-10T13:00:00Z");
    assert.deepEqual(store.query("e").lastDays(3).buckets(), [2, 0, 1]);
  });

  it("saturates buckets at 2^32-1 and sums exactly", async () => {
    const { store } = await utcStore();
    store.recordCount("big", 4_294_967_295);
    store.recordCount("big", 10);
    assert.equal(store.query("big").lastDays(1).sum(), 4_294_967_295);
    store.recordCount("big2", 4_294_967_295);
    assert.equal(store.queryMany(["big", "big2"]).lastDays(1).sum(), 2 * 4_294_967_295);
  });

  it("keeps exact first and last seen instants through rotation", async () => {
    const { clock, store } = await utcStore(new TestClock("2024-01-01T00:00:00Z"));
    store.record("signup");
    clock.advance("260w");
    assert.equal(store.query("signup").ever().sum(), 0);
    assert.equal(store.query("signup").firstSeen(), 260 * 7 * DAY);
    assert.equal(store.query("signup").firstSeenAt(), Date.parse("2024-01-01T00:00:00Z"));
    assert.equal(store.query("signup").firstSeenIn("days"), undefined, "all zero");
  });

  it("firstSeenIn is exact in the first bucket, else the bucket midpoint", async () => {
    const { clock, store } = await utcStore(new TestClock("2024-01-10T06:00:00Z"));
    store.recordAgo("e", "1h");
    clock.advance("2d");
    assert.equal(store.query("e").firstSeenIn("days"), 2 * DAY + 3_600_000);
    store.importEvent("f", { ...store.exportAll().get("e")!, firstSeenAt: Date.parse("2023-01-01T00:00:00Z") });
    // the oldest non-zero day bucket is 2024-01-10, and the first instant is elsewhere: midpoint
    assert.equal(store.query("f").firstSeenIn("days"), clock.now() - Date.parse("2024-01-10T12:00:00Z"));
    assert.equal(store.query("e").firstSeenIn("seconds"), undefined, "untracked");
    code(() => store.query("e").firstSeenIn("fortnights" as "days"), "INVALID_UNIT");
  });

  it("combines events: queryMany, queryRatio, queryDelta, balanceDelta", async () => {
    const { store } = await utcStore();
    store.recordCount("launch", 3);
    store.recordCount("resume", 2);
    assert.equal(store.queryMany(["launch", "resume", "launch", "missing"]).lastDays(7).sum(), 5);
    assert.equal(store.queryMany(["missing", "gone"]).lastDays(7).sum(), undefined);
    assert.equal(store.queryRatio("resume", "launch").lastDays(7), 2 / 3);
    assert.equal(store.queryRatio("missing", "launch").lastDays(7), 0, "deviation: den > 0, num missing -> 0");
    assert.equal(store.queryRatio("launch", "missing").lastDays(7), undefined);
    store.recordCount("zero", 0);
    assert.equal(store.queryRatio("launch", "zero").lastDays(7), undefined);
    assert.equal(store.queryRatio("launch", "resume").lastSeconds(7), undefined, "untracked");
    store.recordCount("credits", 100);
    store.recordCount("debits", 30);
    assert.equal(store.queryDelta("credits", "debits").ever().sum(), 70);
    assert.equal(store.queryDelta("debits", "credits").lastDays(7).sum(), -70);
    assert.equal(store.queryDelta("debits", "credits").lastDays(7).average(), -10);
    assert.equal(store.queryDelta("missing", "gone").lastSeconds(3).sum(), 0);
    assert.equal(store.balanceDelta("credits", "debits"), 70);
    assert.equal(store.queryDelta("credits", "debits").ever().sum(), 0);
    assert.equal(store.query("debits").ever().sum(), 100);
    assert.equal(store.balanceDelta("credits", "debits"), 0);
    store.recordCount("debits", 5);
    assert.equal(store.balanceDelta("credits", "debits"), 5);
    assert.equal(store.query("credits").ever().sum(), 105);
  });

  it("validates ids, counts and ranges", async () => {
    const { store } = await utcStore();
    for (const bad of [
      "",
      "   ",
      "a\u0000b",
      "tab\there",
      "del\u007f",
      "x".repeat(513),
      "\ud800lone",
      42,
      null,
      undefined,
    ]) {
      code(() => store.record(bad as string), "INVALID_EVENT_ID");
      code(() => store.query(bad as string), "INVALID_EVENT_ID");
    }
    store.record("x".repeat(512));
    store.record("emoji 🎉 and ümlauts");
    for (const bad of [-1, Number.NaN, 1.5, 4_294_967_296, "3"])
      code(() => store.recordCount("e", bad as number), "INVALID_COUNT");
    const q = store.query("e");
    code(() => q.lastDays(0), "INVALID_RANGE");
    code(() => q.lastDays(-2), "INVALID_RANGE");
    code(() => q.lastDays(1.5), "INVALID_RANGE");
    code(() => q.days(3, 3), "INVALID_RANGE");
    code(() => q.days(-1, 3), "INVALID_RANGE");
    code(() => q.daysFrom(-1), "INVALID_RANGE");
    code(() => q.lastDays(3).take(0), "INVALID_RANGE");
    assert.equal(store.query("e").lastSeconds(3).sum(), undefined);
  });

  it("tracks dirty and unsaved marks separately", async () => {
    const { store } = await utcStore();
    assert.equal(store.isDirty(), false);
    assert.equal(store.hasUnsavedChanges(), false);
    store.record("a");
    store.record("b");
    assert.equal(store.isDirty(), true);
    assert.deepEqual(
      store.unsavedEntries().map((e) => e.id),
      ["a", "b"],
    );
    for (const e of store.unsavedEntries()) store.markSaved(e.id, e.change);
    assert.equal(store.hasUnsavedChanges(), false);
    assert.equal(store.isDirty(), true, "a save does not hide changes from the next sync upload");
    assert.deepEqual([...store.exportDirty().keys()], ["a", "b"]);
    const stale = store.unsavedEntries();
    store.resetDirty();
    assert.equal(store.isDirty(), false);
    assert.deepEqual(stale, []);
    store.record("a");
    const entry = store.unsavedEntries()[0]!;
    store.record("a"); // a change during a persist stays unsaved
    store.markSaved(entry.id, entry.change);
    assert.equal(store.hasUnsavedChanges(), true);
    assert.deepEqual([...store.exportDirty().keys()], ["a"]);
    // queries change nothing
    store.resetDirty();
    store.query("a").lastDays(3).sum();
    store.limit().atMost("a", 1, "days").check("a");
    assert.equal(store.isDirty(), false);
  });

  it("closes: persist resolves 0 without storage, then calls throw STORE_CLOSED", async () => {
    const { store } = await utcStore();
    store.record("a");
    assert.equal(await store.persist(), 0);
    assert.equal(await store.persistAll(), 0);
    await store[Symbol.asyncDispose]();
    code(() => store.record("a"), "STORE_CLOSED");
    code(() => store.query("a"), "STORE_CLOSED");
    code(() => store.limit(), "STORE_CLOSED");
    code(() => store.exportAll(), "STORE_CLOSED");
    await assert.rejects(store.persist(), (e: unknown) => isTallyError(e) && e.code === "STORE_CLOSED");
    await store.close();
  });

  it("reports memory per event near its slab size", async () => {
    const store = new EventStore({ timeZone: "UTC" });
    const before = store.memoryUsage();
    for (let i = 0; i < 1000; i++) store.record(`event:${i}`);
    const perEvent = (store.memoryUsage() - before) / 1000;
    assert.ok(perEvent >= 256 * 4 && perEvent <= 1.2 * 1024, `${perEvent} bytes per event`);
  });
});
