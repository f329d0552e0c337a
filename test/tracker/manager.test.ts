import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TestClock } from "../../src/time/clock.ts";
import type { Duration } from "../../src/time/duration.ts";
import {
  AccumulationTracker,
  CountLimiter,
  CountTracker,
  EVENT_ALL,
  EVENT_TRACKER_STAGE_COMPLETED,
  KeyValueEQ,
  MemoryTrackerStore,
  type TrackerEvent,
  TrackingManager,
  toTuple,
} from "../../src/tracker.ts";

const quiet = { warn() {}, error() {} };

function setup(opts: { eventIdTtl?: Duration } = {}) {
  const clock = new TestClock(Date.UTC(2025, 0, 6, 12));
  const store = new MemoryTrackerStore();
  const ttl = opts.eventIdTtl === undefined ? {} : { eventIdTtl: opts.eventIdTtl };
  const manager = new TrackingManager({ store, clock, logger: quiet, ...ttl });
  return { clock, store, manager };
}

describe("TrackingManager: results and events", () => {
  it("every result list, in group order, with error isolation and dictrack's tuple", async () => {
    const { manager } = setup();
    await manager.addTrackers("g", [
      new CountTracker({ name: "a", target: 1, conditions: [new KeyValueEQ("k", 1)] }),
      new AccumulationTracker({ name: "bad", key: "v", target: 10, conditions: [] }),
      new CountTracker({ name: "lim", target: 10, conditions: [], limiters: [new CountLimiter(1)] }),
      new CountTracker({ name: "miss", target: 10, conditions: [new KeyValueEQ("k", 2)] }),
    ]);
    const r = await manager.track("g", { k: 1, v: "x" });
    const [ok, dirtied, completed, limited] = toTuple(r);
    assert.equal(ok, false);
    assert.deepEqual(
      dirtied.map((t) => t.name),
      ["a", "lim"],
    );
    assert.deepEqual(
      completed.map((t) => t.name),
      ["a"],
    );
    assert.deepEqual(
      limited.map((t) => t.name),
      ["lim"],
    );
    assert.deepEqual(
      r.errors.map((e) => [e.name, e.error.code, e.tracker.progress]),
      [["bad", "INVALID_VALUE", 0]],
    );
    const r2 = await manager.track("g", { k: 3, v: 1 });
    assert.deepEqual(
      [r2.ok, r2.dirtied.map((t) => t.name), r2.limited.map((t) => t.name)],
      [true, ["bad"], ["lim"]],
      "untouched limited trackers still listed",
    );
  });

  it("event order within a call: EXPIRED first, then per tracker LIMITED → PROGRESSED → STAGE/RESET → LIMITED", async () => {
    const { clock, manager } = setup();
    const seen: string[] = [];
    for (const code of EVENT_ALL) manager.on(code, (e) => void seen.push(`${e.type}:${e.name}`));
    await manager.addTracker("g", new CountTracker({ name: "old", target: 5, conditions: [] }), { expire: "1m" });
    await manager.addTracker(
      "g",
      new CountTracker({ name: "t", target: [1, 5], conditions: [], limiters: [new CountLimiter(1)] }),
    );
    clock.advance("2m");
    seen.length = 0;
    const r = await manager.track("g", {}, { eventId: "e1" });
    assert.deepEqual(seen, ["expired:old", "progressed:t", "stageCompleted:t", "reset:t", "limited:t"]);
    assert.deepEqual(
      r.dirtied.map((t) => [t.progress, t.currentStage, t.limited]),
      [[1, 2, true]],
    );
  });

  it("listeners: filters, once, off, duplicates, async listeners awaited, errors become ERROR events", async () => {
    const { manager } = setup();
    const calls: string[] = [];
    const cb = (e: TrackerEvent) => void calls.push(`cb:${e.groupId}`);
    manager.on("progressed", cb);
    manager.on("progressed", cb);
    manager.on(EVENT_TRACKER_STAGE_COMPLETED, (e) => void calls.push(`stage:${e.name}`), { name: "b" });
    manager.once("progressed", () => void calls.push("once"));
    manager.on("progressed", () => void calls.push("only-g2"), { groupId: "g2" });
    manager.on("progressed", async () => {
      await new Promise((r) => setImmediate(r));
      calls.push("async");
    });
    manager.on("progressed", () => {
      throw new Error("listener bug");
    });
    const errors: TrackerEvent[] = [];
    manager.on("error", (e) => void errors.push(e));
    await manager.addTrackers("g", [
      new CountTracker({ name: "a", target: [1, 9], conditions: [] }),
      new CountTracker({ name: "b", target: [1, 9], conditions: [] }),
    ]);
    const r = await manager.track("g", {});
    assert.equal(r.ok, true, "a throwing listener changes no result");
    assert.deepEqual(calls, ["cb:g", "cb:g", "once", "async", "cb:g", "cb:g", "async", "stage:b"]);
    assert.equal(calls.filter((c) => c === "once").length, 1);
    assert.equal(calls.filter((c) => c === "only-g2").length, 0);
    assert.equal(calls.filter((c) => c === "async").length, 2, "resolved after async listeners ran");
    assert.deepEqual(
      calls.filter((c) => c.startsWith("stage")),
      ["stage:b"],
    );
    assert.equal(errors.length, 2);
    assert.equal(errors[0]?.source, "listener");
    assert.equal(errors[0]?.failed?.type, "progressed");
    assert.equal(manager.off("progressed", cb), true);
    assert.equal(manager.off("progressed", cb), false);
    assert.throws(() => manager.on("nope" as never, cb), { code: "INVALID_ARGUMENT" });
    assert.throws(() => manager.on(42 as never, cb), { code: "INVALID_ARGUMENT" });
    assert.throws(() => manager.on("added", "x" as never), { code: "INVALID_ARGUMENT" });
    const unsubscribe = manager.on("added", cb);
    unsubscribe();
    assert.equal(manager.off("added", cb), false);
  });

  it("events are delivered after commit: a listener reading the store sees the new state", async () => {
    const { manager } = setup();
    const seen: number[] = [];
    manager.on("progressed", async (e) => {
      const [t] = await manager.getTrackers(e.groupId, e.name);
      seen.push(t?.progress ?? -1);
    });
    await manager.addTracker("g", new CountTracker({ name: "t", target: 9, conditions: [] }));
    await manager.track("g", {});
    await manager.track("g", {});
    assert.deepEqual(seen, [1, 2]);
  });

  it("ERROR events for failing trackers (source: track) carry the error and eventId", async () => {
    const { manager } = setup();
    const errors: TrackerEvent[] = [];
    manager.on("error", (e) => void errors.push(e));
    await manager.addTracker("g", new AccumulationTracker({ name: "t", key: "v", target: 9, conditions: [] }));
    await manager.track("g", { v: "bad" }, { eventId: "x1" });
    assert.deepEqual(
      errors.map((e) => [e.source, e.eventId, (e.error as { code: string }).code]),
      [["track", "x1", "INVALID_VALUE"]],
    );
  });
});

describe("TrackingManager: trackers", () => {
  it("one tracker value joins many groups; copies are detached; CONFLICTING_NAME writes nothing", async () => {
    const { manager } = setup();
    const added: string[] = [];
    manager.on("added", (e) => void added.push(`${e.groupId}/${e.name}`));
    const t = new CountTracker({ name: "m", target: 10, conditions: [] });
    for (const g of ["u1", "u2"]) {
      const stored = await manager.addTracker(g, t);
      assert.deepEqual([stored.groupId, stored.version], [g, 1]);
    }
    assert.equal(t.groupId, null);
    assert.equal(t.version, 0);
    await manager.track("u1", {});
    const [copy] = await manager.getTrackers("u1");
    assert.ok(copy);
    copy.progress = 99;
    assert.equal((await manager.getTrackers("u1"))[0]?.progress, 1);
    await assert.rejects(manager.addTrackers("u1", [new CountTracker({ name: "new", target: 1, conditions: [] }), t]), {
      code: "CONFLICTING_NAME",
    });
    await assert.rejects(manager.addTrackers("u3", [t, t]), { code: "CONFLICTING_NAME" });
    assert.deepEqual(
      (await manager.getTrackers("u1")).map((x) => x.name),
      ["m"],
    );
    assert.deepEqual(added, ["u1/m", "u2/m"]);
  });

  it("getTrackers: insertion order, name filters, unknown group []", async () => {
    const { manager } = setup();
    await manager.addTrackers(
      "g",
      ["c", "a", "b"].map((name) => new CountTracker({ name, target: 1, conditions: [] })),
    );
    assert.deepEqual(
      (await manager.getTrackers("g")).map((t) => t.name),
      ["c", "a", "b"],
    );
    assert.deepEqual(
      (await manager.getTrackers("g", ["b", "zz", "c"])).map((t) => t.name),
      ["c", "b"],
    );
    assert.deepEqual(await manager.getTrackers("none"), []);
  });

  it("removeTracker: named, all (completed included), REMOVED events, missing names ignored", async () => {
    const { manager } = setup();
    const removed: string[] = [];
    manager.on("removed", (e) => void removed.push(e.name));
    await manager.addTrackers(
      "g",
      ["a", "b", "c"].map((name) => new CountTracker({ name, target: 1, conditions: [] })),
    );
    await manager.track("g", {});
    assert.equal(await manager.removeTracker("g", ["a", "nope"]), 1);
    assert.equal(await manager.removeTracker("g"), 2);
    assert.deepEqual(removed, ["a", "b", "c"]);
    assert.deepEqual(await manager.getTrackers("g"), []);
  });

  it("bad arguments are INVALID_ARGUMENT", async () => {
    const { manager } = setup();
    await assert.rejects(manager.track("", {}), { code: "INVALID_ARGUMENT" });
    await assert.rejects(manager.track("x".repeat(201), {}), { code: "INVALID_ARGUMENT" });
    await assert.rejects(manager.track("g", [] as never), { code: "INVALID_ARGUMENT" });
    await assert.rejects(manager.track("g", new Date() as never), { code: "INVALID_ARGUMENT" });
    await assert.rejects(manager.track("g", {}, { eventId: " " }), { code: "INVALID_ARGUMENT" });
    await assert.rejects(manager.track("g", {}, { eventId: "x".repeat(201) }), { code: "INVALID_ARGUMENT" });
    const t = new CountTracker({ name: "t", target: 1, conditions: [] });
    await assert.rejects(manager.addTracker("g", t, { expire: "1m", expireAt: 5 }), { code: "INVALID_ARGUMENT" });
    await assert.rejects(manager.flush({} as never), { code: "INVALID_ARGUMENT" });
  });
});

describe("TrackingManager: idempotent eventIds", () => {
  it("a redelivery is a duplicate with no events, within a batch too; other groups are independent; TTL forgets", async () => {
    const { clock, manager } = setup({ eventIdTtl: "1h" });
    let progressed = 0;
    manager.on("progressed", () => void progressed++);
    for (const g of ["g", "h"])
      await manager.addTracker(g, new CountTracker({ name: "t", target: 100, conditions: [] }));
    const first = await manager.track("g", {}, { eventId: "e1" });
    const again = await manager.track("g", {}, { eventId: "e1" });
    assert.deepEqual([first.duplicate, again.duplicate, again.dirtied.length], [false, true, 0]);
    const batch = await Promise.all([1, 2, 3].map(() => manager.track("g", {}, { eventId: "e2" })));
    assert.deepEqual(
      batch.map((r) => r.duplicate),
      [false, true, true],
    );
    const other = await manager.track("h", {}, { eventId: "e1" });
    assert.equal(other.duplicate, false);
    assert.equal(progressed, 3);
    clock.advance("61m");
    assert.equal((await manager.track("g", {}, { eventId: "e1" })).duplicate, false);
    assert.equal((await manager.getTrackers("g"))[0]?.progress, 3);
  });

  it("concurrent calls for one group batch into one transact and apply in arrival order", async () => {
    const { manager, store } = setup();
    let transacts = 0;
    const original = store.transact.bind(store);
    store.transact = ((...args: Parameters<typeof original>) => {
      transacts++;
      return original(...args);
    }) as typeof store.transact;
    await manager.addTracker("g", new CountTracker({ name: "t", target: [5, 10], conditions: [] }));
    transacts = 0;
    const results = await Promise.all(Array.from({ length: 10 }, () => manager.track("g", {})));
    assert.deepEqual(
      results.map((r) => r.dirtied[0]?.progress),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    assert.equal(transacts, 2, "the first call runs alone, the nine queued behind it run as one batch");
  });

  it("on a durable store, the callers one commit resolved share the next commit (group commit)", async () => {
    const memory = new MemoryTrackerStore();
    let transacts = 0;
    // A durable store as far as the manager can tell: same contract, commits counted.
    const store = {
      capabilities: { crossProcess: true, durable: true },
      transact: ((...args: Parameters<typeof memory.transact>) => {
        transacts++;
        return memory.transact(...args);
      }) as typeof memory.transact,
      read: memory.read.bind(memory),
      listExpired: memory.listExpired.bind(memory),
      flush: memory.flush.bind(memory),
      close: memory.close.bind(memory),
    };
    const manager = new TrackingManager({ store, logger: quiet });
    await manager.addTracker("g", new CountTracker({ name: "t", target: 1e9, conditions: [] }));
    transacts = 0;
    const order: number[] = [];
    // 16 callers, each awaiting 5 calls in turn (80 calls): after the first call, every commit
    // carries all 16 instead of alternating between two half-full batches.
    await Promise.all(
      Array.from({ length: 16 }, async (_, lane) => {
        for (let k = 0; k < 5; k++) {
          const r = await manager.track("g", {}, { eventId: `${lane}-${k}` });
          order.push(r.dirtied[0]?.progress as number);
        }
      }),
    );
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      Array.from({ length: 80 }, (_, i) => i + 1),
    );
    assert.ok(transacts <= 7, `80 calls in ${transacts} commits (1 alone, then batches of 16)`);
    await manager.close();
  });
});

describe("TrackingManager: expiry, flush, close", () => {
  it("expired trackers are hidden, deleted by track or sweepExpired with EXPIRED, completed ones too", async () => {
    const { clock, manager } = setup();
    const expired: string[] = [];
    manager.on("expired", (e) => void expired.push(`${e.groupId}/${e.name}`));
    await manager.addTracker("g", new CountTracker({ name: "a", target: 1, conditions: [] }), { expire: "1h" });
    await manager.addTracker("h", new CountTracker({ name: "b", target: 5, conditions: [] }), {
      expireAt: clock.now() + 1000,
    });
    await manager.addTracker("h", new CountTracker({ name: "keep", target: 5, conditions: [] }));
    await manager.track("g", {});
    clock.advance("2h");
    assert.deepEqual(await manager.getTrackers("g"), []);
    assert.deepEqual(
      (await manager.getTrackers("h")).map((t) => t.name),
      ["keep"],
    );
    assert.equal(await manager.sweepExpired(), 2);
    assert.deepEqual(expired.sort(), ["g/a", "h/b"]);
    assert.equal(await manager.sweepExpired(), 0);
    // the name is free again
    await manager.addTracker("g", new CountTracker({ name: "a", target: 1, conditions: [] }));
  });

  it("flush empties the store silently; close waits, then later calls throw CLOSED", async () => {
    const { manager } = setup();
    let events = 0;
    manager.on("removed", () => void events++);
    await manager.addTracker("g", new CountTracker({ name: "a", target: 1, conditions: [] }));
    await manager.flush({ confirm: true });
    assert.deepEqual(await manager.getTrackers("g"), []);
    assert.equal(events, 0);
    await manager.addTracker("g", new CountTracker({ name: "a", target: 9, conditions: [] }));
    const pending = manager.track("g", {});
    await manager.close();
    assert.equal((await pending).dirtied[0]?.progress, 1);
    await assert.rejects(manager.track("g", {}), { code: "CLOSED" });
    await assert.rejects(manager.getTrackers("g"), { code: "CLOSED" });
  });

  it("a store failure rejects the whole batch with STORE_FAILED and applies nothing", async () => {
    const { manager, store } = setup();
    await manager.addTracker("g", new CountTracker({ name: "a", target: 9, conditions: [] }));
    const original = store.transact.bind(store);
    store.transact = (() => Promise.reject(new Error("disk on fire"))) as typeof store.transact;
    await assert.rejects(manager.track("g", {}), { code: "STORE_FAILED" });
    store.transact = original;
    assert.equal((await manager.getTrackers("g"))[0]?.progress, 0);
  });
});
