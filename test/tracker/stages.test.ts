import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TestClock } from "../../src/time/clock.ts";
import {
  AccumulationTracker,
  CountLimiter,
  CountTracker,
  MemoryTrackerStore,
  ResetPolicy,
  type TrackerEvent,
  TrackingManager,
} from "../../src/tracker.ts";

function setup(compat?: "dictrack") {
  const clock = new TestClock(Date.UTC(2025, 0, 6, 12));
  const manager = new TrackingManager({ store: new MemoryTrackerStore(), clock, ...(compat ? { compat } : {}) });
  const log: string[] = [];
  const events: TrackerEvent[] = [];
  for (const name of ["stageCompleted", "allCompleted", "reset", "progressed", "limited"] as const) {
    manager.on(name, (e) => {
      events.push(e);
      log.push(
        `${e.type}:${e.name}:${e.tracker.progress}/${e.tracker.target}${e.stage === undefined ? "" : `#${e.stage}`}`,
      );
    });
  }
  return { clock, manager, log, events };
}

const add = (v: number) => ({ v });

describe("stages", () => {
  it("single target: completes once, fires ALL_COMPLETED, leaves the active set but stays readable", async () => {
    const { manager, log } = setup();
    await manager.addTracker("g", new CountTracker({ name: "t", target: 2, conditions: [] }));
    await manager.track("g", {});
    const r = await manager.track("g", {});
    assert.deepEqual(
      r.completed.map((t) => t.name),
      ["t"],
    );
    assert.equal(r.completed[0]?.completed, true);
    assert.equal(r.completed[0]?.completedAt, Date.UTC(2025, 0, 6, 12));
    const r3 = await manager.track("g", {});
    assert.deepEqual(r3.dirtied, []);
    assert.deepEqual(log, ["progressed:t:1/2", "progressed:t:2/2", "allCompleted:t:2/2#1"]);
    const [t] = await manager.getTrackers("g");
    assert.equal(t?.completed, true);
    assert.equal(t?.stagesCompleted, 1);
    await assert.rejects(manager.addTracker("g", new CountTracker({ name: "t", target: 1, conditions: [] })), {
      code: "CONFLICTING_NAME",
    });
  });

  it("cumulative multi-stage: targets are running totals; STAGE then RESET; stage copy shows the finished stage", async () => {
    const { manager, log, events } = setup();
    await manager.addTracker("g", new CountTracker({ name: "t", target: [2, 3], conditions: [] }));
    await manager.track("g", {});
    await manager.track("g", {});
    const stage = events.find((e) => e.type === "stageCompleted");
    assert.equal(stage?.tracker.completed, true, "the stage copy is marked completed");
    assert.equal(stage?.tracker.currentStage, 1);
    assert.equal(stage?.tracker.target, 2);
    const reset = events.find((e) => e.type === "reset");
    assert.equal(reset?.reason, "stage");
    assert.equal(reset?.tracker.currentStage, 2);
    assert.equal(reset?.tracker.completed, false);
    await manager.track("g", {});
    assert.deepEqual(log, [
      "progressed:t:1/2",
      "progressed:t:2/3",
      "stageCompleted:t:2/2#1",
      "reset:t:2/3",
      "progressed:t:3/3",
      "allCompleted:t:3/3#2",
    ]);
  });

  it("compat dictrack: RESET before STAGE_COMPLETED", async () => {
    const { manager, log } = setup("dictrack");
    await manager.addTracker("g", new CountTracker({ name: "t", target: [1, 5], conditions: [] }));
    await manager.track("g", {});
    assert.deepEqual(log, ["progressed:t:1/5", "reset:t:1/5", "stageCompleted:t:1/1#1"]);
  });

  it("perStage carry and drop, and the PROGRESS-bit mapping (perStage + drop)", async () => {
    const { manager } = setup();
    const mk = (name: string, extra: object) =>
      new AccumulationTracker({ name, key: "v", target: [10, 10, 10], conditions: [], ...extra });
    await manager.addTrackers("g", [
      mk("carry", { progressMode: "perStage" }),
      mk("drop", { progressMode: "perStage", overflow: "drop" }),
      mk("bit", { resetPolicy: ResetPolicy.ALL }),
    ]);
    const r = await manager.track("g", add(14));
    assert.deepEqual(
      r.dirtied.map((t) => [t.name, t.progress, t.currentStage]),
      [
        ["carry", 4, 2],
        ["drop", 0, 2],
        ["bit", 0, 2],
      ],
    );
    const [bit] = await manager.getTrackers("g", "bit");
    assert.equal(bit?.progressMode, "perStage");
    assert.throws(() => mk("x", { resetPolicy: ResetPolicy.PROGRESS, progressMode: "cumulative" }), {
      code: "INVALID_TRACKER",
    });
    assert.throws(() => mk("x", { overflow: "drop" }), { code: "INVALID_TRACKER" });
  });

  it("catchUp false completes one stage per event; true completes every stage crossed", async () => {
    const { manager, log } = setup();
    await manager.addTrackers("g", [
      new AccumulationTracker({ name: "slow", key: "v", target: [1, 2, 3, 100], conditions: [] }),
      new AccumulationTracker({ name: "fast", key: "v", target: [1, 2, 3, 100], conditions: [], catchUp: true }),
    ]);
    const r = await manager.track("g", add(5));
    assert.deepEqual(
      r.dirtied.map((t) => [t.name, t.currentStage]),
      [
        ["slow", 2],
        ["fast", 4],
      ],
    );
    assert.equal(log.filter((l) => l.startsWith("stageCompleted:fast")).length, 3);
    const r2 = await manager.track("g", add(0));
    assert.deepEqual(
      r2.dirtied.map((t) => [t.name, t.currentStage]),
      [
        ["slow", 3],
        ["fast", 4],
      ],
    );
  });

  it("loopForever perStage: reuses the last target, never completes", async () => {
    const { manager, log } = setup();
    await manager.addTracker(
      "g",
      new CountTracker({ name: "t", target: [2], conditions: [], loopForever: true, progressMode: "perStage" }),
    );
    for (let i = 0; i < 6; i++) await manager.track("g", {});
    const [t] = await manager.getTrackers("g");
    assert.equal(t?.completed, false);
    assert.equal(t?.stagesCompleted, 3);
    assert.equal(t?.progress, 0);
    assert.equal(t?.currentStage, 1);
    assert.equal(log.filter((l) => l.startsWith("stageCompleted")).length, 3);
    assert.equal(log.filter((l) => l.startsWith("allCompleted")).length, 0);
  });

  it("loopForever cumulative: every later matching event completes a loop turn (the documented trap)", async () => {
    const { manager } = setup();
    await manager.addTracker("g", new CountTracker({ name: "t", target: [1, 2], conditions: [], loopForever: true }));
    for (let i = 0; i < 5; i++) await manager.track("g", {});
    const [t] = await manager.getTrackers("g");
    assert.equal(t?.stagesCompleted, 5);
    assert.equal(t?.currentStage, 2);
    assert.throws(() => new CountTracker({ name: "x", target: [0], conditions: [], loopForever: true }), {
      code: "INVALID_TRACKER",
    });
    assert.throws(
      () => new CountTracker({ name: "x", target: [1], conditions: [], loopForever: true, catchUp: true }),
      {
        code: "INVALID_TRACKER",
      },
    );
  });

  it("initProgress and target 0: nothing completes until a matching event", async () => {
    const { manager } = setup();
    await manager.addTrackers("g", [
      new CountTracker({ name: "init", target: [5, 10], conditions: [{ path: "ok", op: "exists" }], initProgress: 7 }),
      new CountTracker({ name: "zero", target: 0, conditions: [{ path: "ok", op: "exists" }] }),
    ]);
    const before = await manager.getTrackers("g");
    assert.deepEqual(
      before.map((t) => [t.progress, t.completed]),
      [
        [7, false],
        [0, false],
      ],
    );
    await manager.track("g", { no: 1 });
    const r = await manager.track("g", { ok: 1 });
    assert.deepEqual(
      r.dirtied.map((t) => [t.name, t.progress, t.currentStage, t.completed]),
      [
        ["init", 8, 2, false],
        ["zero", 1, 1, true],
      ],
    );
  });

  it("progress and addTargets set through updateTracker never complete by themselves; stale copies conflict", async () => {
    const { manager } = setup();
    await manager.addTracker("g", new CountTracker({ name: "t", target: [5], conditions: [] }));
    const [copy] = await manager.getTrackers("g");
    assert.ok(copy);
    copy.progress = 9;
    copy.addTargets([20]);
    assert.throws(() => copy.addTargets(3), { code: "INVALID_TRACKER" }, "cumulative targets must not decrease");
    const stored = await manager.updateTracker("g", copy);
    assert.deepEqual([stored.progress, stored.target, stored.multiTarget, stored.completed], [9, 5, [20], false]);
    await assert.rejects(manager.updateTracker("g", copy), { code: "VERSION_CONFLICT" });
    await manager.updateTracker("g", copy, { force: true });
    const r = await manager.track("g", {});
    assert.deepEqual(
      r.dirtied.map((t) => [t.progress, t.currentStage]),
      [[10, 2]],
    );
    await assert.rejects(manager.updateTracker("g", new CountTracker({ name: "nope", target: 1, conditions: [] })), {
      code: "TRACKER_NOT_FOUND",
    });
  });

  it("validation of tracker options", () => {
    const ok = { name: "t", conditions: [], target: 1 };
    for (const bad of [
      { ...ok, name: " " },
      { ...ok, name: "x".repeat(201) },
      { name: "t", target: 1 },
      { ...ok, target: [] },
      { ...ok, target: -1 },
      { ...ok, target: [Number.POSITIVE_INFINITY] },
      { ...ok, target: [5, 3] },
      { ...ok, resetPolicy: 4 },
    ]) {
      assert.throws(() => new CountTracker(bad as never), { code: "INVALID_TRACKER" }, JSON.stringify(bad));
    }
    assert.doesNotThrow(() => new CountTracker({ ...ok, target: [5, 3], progressMode: "perStage" }));
    assert.throws(() => new AccumulationTracker({ ...ok } as never), { code: "INVALID_TRACKER" });
    assert.throws(() => new AccumulationTracker({ ...ok, key: "a..b" }), { code: "INVALID_TRACKER" });
  });
});

describe("accumulation values", () => {
  it("missing or null adds 0 but matches; bad values are per-tracker INVALID_VALUE", async () => {
    const { manager } = setup();
    await manager.addTrackers("g", [
      new AccumulationTracker({ name: "sum", key: "a.amount", target: 1000, conditions: [] }),
      new AccumulationTracker({ name: "pos", key: "a.amount", target: 1000, conditions: [], allowNegative: false }),
      new AccumulationTracker({ name: "coerce", key: "a.amount", target: 1000, conditions: [], coerceNumbers: true }),
      new CountTracker({ name: "count", target: 1000, conditions: [] }),
    ]);
    const r1 = await manager.track("g", {});
    assert.deepEqual(
      r1.dirtied.map((t) => [t.name, t.progress]),
      [
        ["sum", 0],
        ["pos", 0],
        ["coerce", 0],
        ["count", 1],
      ],
    );
    const r2 = await manager.track("g", { a: { amount: -5 } });
    assert.deepEqual(
      r2.errors.map((e) => [e.name, e.error.code]),
      [["pos", "INVALID_VALUE"]],
    );
    assert.deepEqual(
      r2.dirtied.map((t) => [t.name, t.progress]),
      [
        ["sum", -5],
        ["coerce", -5],
        ["count", 2],
      ],
    );
    const r3 = await manager.track("g", { a: { amount: "12.5" } });
    assert.deepEqual(
      r3.errors.map((e) => e.name),
      ["sum", "pos"],
    );
    assert.deepEqual(
      r3.dirtied.map((t) => [t.name, t.progress]),
      [
        ["coerce", 7.5],
        ["count", 3],
      ],
    );
    for (const bad of [true, [1], { x: 1 }, "abc"]) {
      const r = await manager.track("g", { a: { amount: bad } });
      assert.equal(
        r.errors.some((e) => e.name === "sum" && e.error.code === "INVALID_VALUE"),
        true,
      );
    }
  });
});

describe("manual reset", () => {
  it("PROGRESS sets 0 (not initProgress); never rewinds the stage; checks its arguments", async () => {
    const { manager, events } = setup();
    await manager.addTracker("g", new CountTracker({ name: "t", target: [1, 10], conditions: [], initProgress: 0.5 }));
    await manager.track("g", {});
    const t = await manager.resetTracker("g", "t", ResetPolicy.PROGRESS);
    assert.deepEqual([t.progress, t.currentStage], [0, 2]);
    assert.equal(events.at(-1)?.reason, "manual");
    await assert.rejects(manager.resetTracker("g", "t", 4 as never), { code: "INVALID_ARGUMENT" });
    await assert.rejects(manager.resetTracker("g", "nope"), { code: "TRACKER_NOT_FOUND" });
    await assert.rejects(manager.resetTracker("g", "t", ResetPolicy.PROGRESS, { resetCount: 1 }), {
      code: "INVALID_ARGUMENT",
    });
    await assert.rejects(manager.resetTracker("g", "t", ResetPolicy.LIMITER, { resetCount: 1 }), {
      code: "INVALID_ARGUMENT",
    });
    await manager.updateTracker(
      "g",
      Object.assign((await manager.getTrackers("g"))[0] as CountTracker, { progress: 10 }),
    );
    await manager.track("g", {});
    await assert.rejects(manager.resetTracker("g", "t"), { code: "TRACKER_COMPLETED" });
  });

  it("CountLimiter across stages, and after LIMITER / ALL resets with resetCount", async () => {
    const { manager } = setup();
    await manager.addTracker(
      "g",
      new CountTracker({ name: "t", target: [3, 100], conditions: [], limiters: [new CountLimiter(2)] }),
    );
    const r1 = await manager.track("g", {});
    assert.deepEqual(r1.limited, []);
    const r2 = await manager.track("g", {});
    assert.deepEqual(
      r2.limited.map((t) => t.name),
      ["t"],
      "the 2nd matching event is counted, then the tracker locks",
    );
    assert.deepEqual(
      r2.dirtied.map((t) => t.progress),
      [2],
    );
    const r3 = await manager.track("g", {});
    assert.deepEqual([r3.dirtied.length, r3.limited.length], [0, 1]);
    const reset = await manager.resetTracker("g", "t", ResetPolicy.LIMITER, { resetCount: 1 });
    assert.deepEqual(reset.limiters, [{ type: "count", count: 1, remaining: 1 }]);
    assert.equal(reset.limited, false);
    // completes stage 1: refill (to the new count, 1) then decrement -> locked again at stage 2
    const r4 = await manager.track("g", {});
    assert.deepEqual(
      r4.dirtied.map((t) => [t.progress, t.currentStage, t.limited]),
      [[3, 2, true]],
    );
    const zero = await manager.resetTracker("g", "t", ResetPolicy.ALL, { resetCount: 0 });
    assert.deepEqual(
      [zero.progress, zero.limited, zero.limiters[0]],
      [0, true, { type: "count", count: 0, remaining: 0 }],
    );
    const r5 = await manager.track("g", {});
    assert.deepEqual([r5.dirtied.length, r5.limited.length], [0, 1]);
  });

  it("resetPolicy NONE keeps CountLimiters exhausted across stages", async () => {
    const { manager } = setup();
    await manager.addTracker(
      "g",
      new CountTracker({
        name: "t",
        target: [1, 2, 3],
        conditions: [],
        limiters: [new CountLimiter(1)],
        resetPolicy: ResetPolicy.NONE,
      }),
    );
    const r = await manager.track("g", {});
    assert.deepEqual(
      r.dirtied.map((t) => [t.currentStage, t.limited, t.limiters[0]]),
      [[2, true, { type: "count", count: 1, remaining: 0 }]],
    );
  });
});
