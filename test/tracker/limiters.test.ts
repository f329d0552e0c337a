import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TestClock } from "../../src/time/clock.ts";
import {
  CountTracker,
  MemoryTrackerStore,
  QuotaLimiter,
  ResetPolicy,
  TimeLimiter,
  type TrackerEvent,
  TrackingManager,
} from "../../src/tracker.ts";

function setup(start: number) {
  const clock = new TestClock(start);
  const manager = new TrackingManager({ store: new MemoryTrackerStore(), clock });
  const limited: TrackerEvent[] = [];
  manager.on("limited", (e) => {
    limited.push(e);
  });
  return { clock, manager, limited };
}

describe("TimeLimiter", () => {
  it("counts only inside [start, end] (inclusive), locks and unlocks by itself, never moved by stages", async () => {
    const t0 = Date.UTC(2025, 0, 6, 12);
    const { clock, manager, limited } = setup(t0);
    await manager.addTracker(
      "g",
      new CountTracker({
        name: "t",
        target: [1, 2, 3, 100],
        conditions: [],
        limiters: [new TimeLimiter({ startTs: t0 + 10_000, endTs: t0 + 20_000 })],
      }),
    );
    const before = await manager.track("g", {});
    assert.deepEqual(
      [before.dirtied.length, before.limited.length, before.dirtied[0]?.progress],
      [1, 1, 0],
      "became limited: dirtied + limited, not counted",
    );
    assert.equal(limited.length, 1);
    assert.deepEqual(limited[0]?.limiter, { type: "time", startTs: t0 + 10_000, endTs: t0 + 20_000 });
    const still = await manager.track("g", {});
    assert.deepEqual(
      [still.dirtied.length, still.limited.length, limited.length],
      [0, 1, 1],
      "still limited: no event",
    );
    clock.set(t0 + 10_000);
    const inside = await manager.track("g", {});
    assert.deepEqual(
      inside.dirtied.map((t) => [t.progress, t.limited]),
      [[1, false]],
    );
    await manager.track("g", {});
    clock.set(t0 + 20_000);
    const edge = await manager.track("g", {});
    assert.deepEqual(
      edge.dirtied.map((t) => t.progress),
      [3],
      "endTs is inclusive",
    );
    const [t] = await manager.getTrackers("g");
    assert.deepEqual(
      t?.limiters,
      [{ type: "time", startTs: t0 + 10_000, endTs: t0 + 20_000 }],
      "stage advances never moved it",
    );
    clock.advance(1);
    const after = await manager.track("g", {});
    assert.deepEqual([after.dirtied[0]?.progress, after.limited.length], [3, 1]);
  });

  it("interval starts at the manager clock's now at addTracker", async () => {
    const t0 = Date.UTC(2025, 0, 6, 12);
    const { clock, manager } = setup(t0);
    const limiter = new TimeLimiter({ interval: "60s" });
    clock.advance("5s");
    const stored = await manager.addTracker(
      "g",
      new CountTracker({ name: "t", target: 100, conditions: [], limiters: [limiter] }),
    );
    assert.deepEqual(stored.limiters, [{ type: "time", startTs: t0 + 5000, endTs: t0 + 65_000 }]);
    clock.advance("60s");
    assert.equal((await manager.track("g", {})).dirtied[0]?.progress, 1);
    clock.advance(1);
    assert.equal((await manager.track("g", {})).limited.length, 1);
  });

  it("rejects bad windows", () => {
    assert.throws(() => new TimeLimiter({}), { code: "INVALID_LIMITER" });
    assert.throws(() => new TimeLimiter({ endTs: 5, interval: 10 }), { code: "INVALID_LIMITER" });
    assert.throws(() => new TimeLimiter({ startTs: 10, endTs: 5 }), { code: "INVALID_LIMITER" });
    assert.throws(() => new TimeLimiter({ startTs: 10, endTs: 10 }), { code: "INVALID_LIMITER" });
    assert.throws(() => new TimeLimiter({ interval: 0 }), { code: "INVALID_LIMITER" });
    assert.throws(() => new TimeLimiter({ interval: "soon" as never }), { code: "INVALID_LIMITER" });
  });
});

async function quotaTracker(manager: TrackingManager, limiter: QuotaLimiter, extra: object = {}) {
  await manager.addTracker(
    "g",
    new CountTracker({ name: "q", target: 1_000_000, conditions: [], limiters: [limiter], ...extra }),
  );
}
async function progress(manager: TrackingManager): Promise<number> {
  return (await manager.getTrackers("g"))[0]?.progress ?? -1;
}
async function spam(manager: TrackingManager, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await manager.track("g", {});
}

describe("QuotaLimiter", () => {
  it("N per minute: the N-th is counted then it locks; unlocks at the next minute without a reset", async () => {
    const t0 = Date.UTC(2025, 0, 6, 12, 0, 30);
    const { clock, manager, limited } = setup(t0);
    await quotaTracker(manager, new QuotaLimiter({ max: 3, per: "1m", timeZone: "UTC" }));
    await spam(manager, 5);
    assert.equal(await progress(manager), 3);
    assert.equal(limited.length, 1);
    const [snap] = (await manager.getTrackers("g"))[0]?.limiters ?? [];
    assert.deepEqual(snap, {
      type: "quota",
      max: 3,
      per: "1m",
      timeZone: "UTC",
      used: 3,
      remaining: 0,
      windowStart: Date.UTC(2025, 0, 6, 12, 0),
      windowEnd: Date.UTC(2025, 0, 6, 12, 1),
    });
    clock.set(Date.UTC(2025, 0, 6, 12, 1));
    await spam(manager, 5);
    assert.equal(await progress(manager), 6);
  });

  it("non-matching events never consume quota; the window never moves backwards", async () => {
    const t0 = Date.UTC(2025, 0, 6, 12, 0, 30);
    const { clock, manager } = setup(t0);
    await manager.addTracker(
      "g",
      new CountTracker({
        name: "q",
        target: 100,
        conditions: [{ path: "ok", op: "exists" }],
        limiters: [new QuotaLimiter({ max: 2, per: "1m", timeZone: "UTC" })],
      }),
    );
    for (let i = 0; i < 5; i++) await manager.track("g", { no: 1 });
    await manager.track("g", { ok: 1 });
    clock.set(Date.UTC(2025, 0, 6, 12, 1, 10));
    await manager.track("g", { ok: 1 });
    await manager.track("g", { ok: 1 });
    clock.set(Date.UTC(2025, 0, 6, 12, 0, 50));
    const r = await manager.track("g", { ok: 1 });
    assert.deepEqual(
      [r.dirtied.length, r.limited.length],
      [0, 1],
      "going back in time does not reopen the older window",
    );
    assert.equal(await progress(manager), 3);
  });

  it("daily windows follow local midnight across DST (23 h and 25 h days) in America/New_York", async () => {
    // 2025-03-09 is 23 h long in New York: local midnight is 05:00Z, the next one 04:00Z.
    const { clock, manager } = setup(Date.UTC(2025, 2, 9, 5, 30));
    await quotaTracker(manager, new QuotaLimiter({ max: 2, per: "1d", timeZone: "America/New_York" }));
    await spam(manager, 3);
    assert.equal(await progress(manager), 2);
    clock.set(Date.UTC(2025, 2, 10, 3, 59));
    await spam(manager, 1);
    assert.equal(await progress(manager), 2, "still March 9 locally");
    clock.set(Date.UTC(2025, 2, 10, 4, 0));
    await spam(manager, 3);
    assert.equal(await progress(manager), 4, "a fixed 24 h window from 05:00Z would still be locked here");
    // 2025-11-02 is 25 h long: local midnight 04:00Z, the next one 05:00Z on Nov 3.
    clock.set(Date.UTC(2025, 10, 2, 4, 0));
    await spam(manager, 3);
    assert.equal(await progress(manager), 6);
    clock.set(Date.UTC(2025, 10, 3, 4, 30));
    await spam(manager, 1);
    assert.equal(await progress(manager), 6, "still November 2 locally (the repeated hour)");
    clock.set(Date.UTC(2025, 10, 3, 5, 0));
    await spam(manager, 1);
    assert.equal(await progress(manager), 7);
  });

  it("hourly windows in a half-hour zone roll at :30 UTC; weeks start on Monday; months on the 1st", async () => {
    const { clock, manager } = setup(Date.UTC(2025, 0, 6, 10, 0));
    await quotaTracker(manager, new QuotaLimiter({ max: 1, per: "1h", timeZone: "Asia/Kolkata" }));
    await spam(manager, 2);
    clock.set(Date.UTC(2025, 0, 6, 10, 29));
    await spam(manager, 1);
    assert.equal(await progress(manager), 1);
    clock.set(Date.UTC(2025, 0, 6, 10, 30));
    await spam(manager, 2);
    assert.equal(await progress(manager), 2);

    const week = setup(Date.UTC(2025, 0, 12, 23)); // Sunday
    await quotaTracker(week.manager, new QuotaLimiter({ max: 1, per: "1w", timeZone: "UTC" }));
    await spam(week.manager, 2);
    week.clock.set(Date.UTC(2025, 0, 13, 0)); // Monday
    await spam(week.manager, 2);
    assert.equal(await progress(week.manager), 2);

    const month = setup(Date.UTC(2025, 0, 31, 20)); // Jan 31 in UTC, already Feb 1 in Tokyo
    await quotaTracker(month.manager, new QuotaLimiter({ max: 1, per: "1mo", timeZone: "Asia/Tokyo" }));
    await spam(month.manager, 1);
    month.clock.set(Date.UTC(2025, 1, 28, 14, 59)); // Feb 28 23:59 Tokyo
    await spam(month.manager, 1);
    assert.equal(await progress(month.manager), 1);
    month.clock.set(Date.UTC(2025, 1, 28, 15)); // Mar 1 Tokyo
    await spam(month.manager, 1);
    assert.equal(await progress(month.manager), 2);
  });

  it("{ every } windows are fixed multiples since the epoch", async () => {
    const { clock, manager } = setup(90_000 * 1000 + 89_000);
    await quotaTracker(manager, new QuotaLimiter({ max: 1, per: { every: "90s" } }));
    await spam(manager, 2);
    clock.advance(1000);
    await spam(manager, 2);
    assert.equal(await progress(manager), 2);
    const [snap] = (await manager.getTrackers("g"))[0]?.limiters ?? [];
    assert.equal(snap?.type === "quota" && snap.per, "every 90s");
  });

  it("a LIMITER reset clears the current window; stage advances never touch quotas", async () => {
    const { manager } = setup(Date.UTC(2025, 0, 6, 12));
    await quotaTracker(manager, new QuotaLimiter({ max: 2, per: "1h", timeZone: "UTC" }), { target: [1, 2, 3, 4] });
    await spam(manager, 3);
    assert.equal(await progress(manager), 2, "stage refills did not refill the quota");
    const reset = await manager.resetTracker("g", "q", ResetPolicy.LIMITER);
    assert.equal(reset.limited, false);
    await spam(manager, 3);
    assert.equal(await progress(manager), 4);
  });

  it("rejects bad quotas", () => {
    assert.throws(() => new QuotaLimiter({ max: 0, per: "1m" }), { code: "INVALID_LIMITER" });
    assert.throws(() => new QuotaLimiter({ max: "3" as never, per: "1m" }), { code: "INVALID_LIMITER" });
    assert.throws(() => new QuotaLimiter({ max: 1, per: "2m" as never }), { code: "INVALID_LIMITER" });
    assert.throws(() => new QuotaLimiter({ max: 1, per: "1m", timeZone: "Mars/Olympus" }), { code: "INVALID_LIMITER" });
    assert.throws(() => new QuotaLimiter({ max: 1, per: { every: 0 } }), { code: "INVALID_LIMITER" });
  });
});
