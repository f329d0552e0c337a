import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { EventStore } from "../../src/counter/event-store.ts";
import type { EventSnapshot } from "../../src/counter/snapshot.ts";
import { isTallyError } from "../../src/errors.ts";
import { TestClock } from "../../src/time/clock.ts";

const UNITS = { minutes: 10, hours: 6, days: 4 };
const IDS = ["page_view", "purchase"];

function device(clock: TestClock, replicaId: string, units: Record<string, number> = UNITS): EventStore {
  return new EventStore({ clock, timeZone: "Europe/Berlin", replicaId, units });
}

/** Everything a query can see, for comparing stores. */
function view(store: EventStore): unknown {
  return IDS.map((id) => [
    store.query(id).lastMinutes(10).buckets(),
    store.query(id).lastHours(6).buckets(),
    store.query(id).lastDays(4).buckets(),
    store.query(id).firstSeenAt(),
    store.query(id).lastSeenAt(),
  ]);
}

const writesArb = fc.array(
  fc.tuple(fc.constantFrom(...IDS), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 3 * 86_400_000 })),
  { maxLength: 8 },
);

function recorded(clock: TestClock, replicaId: string, writes: Array<[string, number, number]>): EventStore {
  const store = device(clock, replicaId);
  for (const [id, count, ago] of writes) store.recordCountAgo(id, count, ago);
  return store;
}

describe("export and import", () => {
  it("round-trips through JSON and replaces only the given ids", () => {
    const clock = new TestClock("2024-03-30T20:00:00Z");
    const a = device(clock, "a");
    a.recordCount("page_view", 3);
    a.recordAgo("purchase", "2h");
    const json = JSON.stringify(Object.fromEntries(a.exportAll()));
    clock.advance("1h");
    const b = device(clock, "b");
    b.recordCount("purchase", 7);
    b.recordCount("other", 1);
    b.importAll(JSON.parse(json) as Record<string, EventSnapshot>);
    assert.equal(b.query("page_view").lastHours(2).sum(), 3);
    assert.equal(b.query("purchase").lastHours(6).sum(), 1, "replaced, not added");
    assert.equal(b.query("other").lastHours(1).sum(), 1, "untouched");
    assert.deepEqual(b.query("page_view").lastHours(2).buckets(), [0, 3]);
    const exported = a.exportAll().get("page_view")!;
    assert.equal(exported.format, "tally.counter");
    assert.deepEqual(
      exported.units.map((u) => u.unit),
      ["minutes", "hours", "days"],
    );
    assert.equal(exported.replicas[0]!.replicaId, "a");
  });

  it("rejects a set with one invalid snapshot before applying any of it", () => {
    const clock = new TestClock();
    const a = device(clock, "a");
    a.record("page_view");
    const good = a.exportAll().get("page_view")!;
    const b = device(clock, "b");
    const bad = { ...good, replicas: [{ replicaId: "x", counts: [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]] }] };
    for (const apply of [b.importAll, b.mergeAll, b.syncAll]) {
      assert.throws(
        () =>
          apply.call(
            b,
            new Map([
              ["page_view", good],
              ["purchase", bad],
            ]),
          ),
        (e: unknown) => isTallyError(e) && e.code === "CORRUPT_DATA",
      );
    }
    assert.equal(b.query("page_view").lastDays(1).sum(), undefined, "nothing applied");
    for (const broken of [null, {}, { ...good, version: 2 }, { ...good, units: [] }, { ...good, firstSeenAt: "x" }]) {
      assert.throws(
        () => b.syncEvent("page_view", broken as EventSnapshot),
        (e: unknown) => isTallyError(e) && e.code === "CORRUPT_DATA",
      );
    }
    assert.throws(
      () => b.syncAll({ "": good }),
      (e: unknown) => isTallyError(e) && e.code === "INVALID_EVENT_ID",
    );
  });

  it("converts a snapshot of another geometry on import", () => {
    const clock = new TestClock("2024-01-10T12:00:00Z");
    const small = device(clock, "a", { days: 7 });
    small.recordCountAgo("page_view", 4, "2d");
    const big = device(clock, "b");
    big.importAll(small.exportAll());
    assert.equal(big.query("page_view").lastDays(4).sum(), 4);
  });
});

describe("merge (additive) and sync (idempotent)", () => {
  it("merge adds: twice counts twice, and the order does not matter (property)", () => {
    fc.assert(
      fc.property(writesArb, writesArb, (w1, w2) => {
        const clock = new TestClock("2024-10-25T12:00:00Z");
        const d1 = recorded(clock, "d1", w1).exportAll();
        const d2 = recorded(clock, "d2", w2).exportAll();
        const x = device(clock, "x");
        x.mergeAll(d1);
        x.mergeAll(d2);
        const y = device(clock, "y");
        y.mergeAll(d2);
        y.mergeAll(d1);
        assert.deepEqual(view(x), view(y));
        const once = device(clock, "z");
        once.mergeAll(d1);
        const before = once.query("page_view").lastDays(4).sum() ?? 0;
        once.mergeAll(d1);
        assert.equal(once.query("page_view").lastDays(4).sum() ?? 0, 2 * before);
      }),
      { numRuns: 60 },
    );
  });

  it("sync is commutative, associative, idempotent and round-trips own data (property)", () => {
    fc.assert(
      fc.property(writesArb, writesArb, writesArb, fc.integer({ min: 0, max: 86_400_000 }), (w1, w2, w3, later) => {
        const clock = new TestClock("2024-10-25T12:00:00Z");
        const d1 = recorded(clock, "d1", w1);
        const d2 = recorded(clock, "d2", w2);
        const d3 = recorded(clock, "d3", w3);
        const e1 = d1.exportAll();
        const e2 = d2.exportAll();
        const e3 = d3.exportAll();
        clock.advance(later);
        const a = device(clock, "a");
        a.syncAll(e1);
        a.syncAll(e2);
        a.syncAll(e3);
        const b = device(clock, "b");
        b.syncAll(e3);
        b.syncAll(e1);
        b.syncAll(e2);
        b.syncAll(e1);
        assert.deepEqual(view(a), view(b));
        const c = device(clock, "c");
        const mid = device(clock, "m");
        mid.syncAll(e2);
        mid.syncAll(e3);
        c.syncAll(e1);
        c.sync(mid);
        assert.deepEqual(view(a), view(c));
        // Own data back from the server changes nothing, and marks nothing.
        const own = view(d1);
        d1.resetDirty();
        d1.syncAll(a.exportAll());
        const mine = IDS.map((id) => d1.query(id).lastDays(4).sum() ?? 0);
        const all = IDS.map((id) => a.query(id).lastDays(4).sum() ?? 0);
        assert.deepEqual(mine, all);
        d1.resetDirty();
        d1.syncAll(a.exportAll());
        assert.equal(d1.isDirty(), false);
        void own;
      }),
      { numRuns: 60 },
    );
  });

  it("Conflict-Free Sync recipe holds with syncAll (with mergeAll it would double count)", () => {
    const clock = new TestClock();
    const device1 = device(clock, "device-1");
    const device2 = device(clock, "device-2");
    const server = device(clock, "server");
    device1.recordCount("page_view", 5);
    device2.recordCount("page_view", 3);
    server.syncAll(device1.exportAll());
    server.syncAll(device2.exportAll());
    assert.equal(server.query("page_view").ever().sum(), 8);
    device1.syncAll(server.exportAll());
    device2.syncAll(server.exportAll());
    assert.equal(device1.query("page_view").ever().sum(), 8);
    assert.equal(device2.query("page_view").ever().sum(), 8);
    device1.syncAll(server.exportAll());
    assert.equal(device1.query("page_view").ever().sum(), 8, "syncing again changes nothing");
    const crate = device(clock, "crate");
    crate.recordCount("page_view", 5);
    const srv = device(clock, "srv");
    srv.mergeAll(crate.exportAll());
    crate.mergeAll(srv.exportAll());
    assert.equal(crate.query("page_view").ever().sum(), 10, "mergeAll counts our own events again");
  });

  it("aligns by period: an export from yesterday lands in yesterday's bucket", () => {
    const clock = new TestClock("2024-01-10T12:00:00Z");
    const phone = device(clock, "phone");
    phone.recordCount("purchase", 2);
    const upload = phone.exportAll();
    clock.advance("1d");
    const server = device(clock, "server");
    server.syncAll(upload);
    assert.deepEqual(server.query("purchase").lastDays(3).buckets(), [0, 2, 0]);
    assert.equal(server.query("purchase").lastSeen(), 86_400_000);
  });
});
