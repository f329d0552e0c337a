import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { EventStore } from "../../src/counter/event-store.ts";
import { ALLOWED } from "../../src/counter/limit-result.ts";
import { isTallyError } from "../../src/errors.ts";
import { TestClock } from "../../src/time/clock.ts";
import { Schedule } from "../../src/time/schedule.ts";

function code(fn: () => unknown, expected: string): void {
  assert.throws(fn, (e: unknown) => isTallyError(e) && e.code === expected, `expected ${expected}`);
}

function store(start = "2024-01-01T00:00:00Z", zone = "UTC", units?: Record<string, number>) {
  const clock = new TestClock(start);
  return { clock, store: new EventStore({ clock, timeZone: zone, ...(units === undefined ? {} : { units }) }) };
}

describe("limits", () => {
  it("atMost: the L-th passes, the next is denied with every violation and the largest retryAfter", () => {
    const { clock, store: s } = store("2024-01-01T00:00:30Z");
    const limiter = s.limit().atMost("api", 3, "minutes").atMost("api", 5, "hours");
    for (let i = 0; i < 3; i++) assert.equal(limiter.checkAndRecord("api"), ALLOWED);
    const denied = limiter.checkAndRecord("api");
    assert.equal(denied.ok, false);
    assert.ok(!denied.ok);
    assert.equal(denied.error.eventId, "api");
    assert.equal(denied.error.constraint, limiter.constraints[0]);
    assert.deepEqual(
      denied.error.violations.map((v) => [v.observed, v.retryAfter]),
      [[3, 30_000]],
    );
    assert.equal(denied.error.retryAfter, 30_000);
    assert.equal(s.query("api").lastMinutes(1).sum(), 3, "a denial records nothing");
    clock.advance("30s");
    assert.ok(limiter.checkAndRecord("api").ok);
    assert.ok(limiter.checkAndRecord("api").ok);
    const both = limiter.check("api", 2);
    assert.ok(!both.ok);
    assert.deepEqual(
      both.error.violations.map((v) => [v.constraint.kind, v.observed, v.retryAfter]),
      [
        ["atMost", 2, 60_000],
        ["atMost", 5, 3_540_000],
      ],
    );
    assert.equal(both.error.retryAfter, 3_540_000);
    assert.equal(Object.isFrozen(ALLOWED), true);
    assert.equal(limiter.check("other"), ALLOWED, "other ids only need the window to fit");
  });

  it("a denial never creates the event; check has no side effect", () => {
    const { store: s } = store();
    const limiter = s.limit().atMost("x", 0, "minutes");
    assert.equal(limiter.checkAndRecord("x").ok, false);
    assert.equal(s.query("x").lastMinutes(1).sum(), undefined);
    assert.equal(s.limit().atMost("y", 1, "minutes").check("y").ok, true);
    assert.equal(s.query("y").lastMinutes(1).sum(), undefined);
  });

  it("fixed windows rotate at the boundary: 1 ms before is denied, at it allowed", () => {
    const { clock, store: s } = store("2024-01-01T10:59:00Z", "Europe/Berlin");
    const limiter = s.limit().atMost("job", 2, "hours");
    limiter.checkAndRecord("job");
    limiter.checkAndRecord("job");
    clock.set("2024-01-01T10:59:59.999Z");
    const denied = limiter.check("job");
    assert.ok(!denied.ok);
    assert.equal(denied.error.retryAfter, 1);
    clock.advance(1);
    assert.ok(limiter.check("job").ok);
  });

  it("fixed windows allow a boundary burst of 2L; sliding windows do not", () => {
    const fixed = store("2024-01-01T00:00:59Z", "UTC", { seconds: 60, minutes: 60, hours: 24 });
    const sliding = store("2024-01-01T00:00:59Z", "UTC", { seconds: 60, minutes: 60, hours: 24 });
    const f = fixed.store.limit().atMost("api", 10, "minutes");
    const sl = sliding.store.limit().atMost("api", 10, "minutes", { sliding: true });
    let passedFixed = 0;
    let passedSliding = 0;
    for (let i = 0; i < 10; i++) {
      if (f.checkAndRecord("api").ok) passedFixed++;
      if (sl.checkAndRecord("api").ok) passedSliding++;
    }
    fixed.clock.advance("1s");
    sliding.clock.advance("1s");
    for (let i = 0; i < 10; i++) {
      if (f.checkAndRecord("api").ok) passedFixed++;
      if (sl.checkAndRecord("api").ok) passedSliding++;
    }
    assert.equal(passedFixed, 20);
    assert.equal(passedSliding, 10);
    const denied = sl.check("api");
    assert.ok(!denied.ok);
    // the 10 records sit in second :59; they leave the rolling minute 60 s later
    assert.equal(denied.error.retryAfter, 59_000);
    sliding.clock.advance(59_000 - 1);
    assert.equal(sl.check("api").ok, false);
    sliding.clock.advance(1);
    assert.equal(sl.check("api").ok, true);
  });

  it("sliding retryAfter is exact: waiting it succeeds, 1 ms less fails (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 90_000 }), fc.integer({ min: 1, max: 4 })), {
          minLength: 1,
          maxLength: 25,
        }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 2 }),
        fc.constantFrom("UTC", "Asia/Kathmandu"),
        (steps, limit, n, zone) => {
          const { clock, store: s } = store("2024-03-31T00:59:00Z", zone, { seconds: 30, minutes: 5, hours: 3 });
          const limiter = s.limit().atMost("api", limit, [n, "minutes"], { sliding: true });
          for (const [advance, count] of steps) {
            clock.advance(advance);
            s.recordCount("api", count);
          }
          const result = limiter.check("api");
          if (result.ok) return;
          const wait = result.error.retryAfter;
          assert.notEqual(wait, undefined);
          const probe = new EventStore({
            clock: clock.clone(),
            timeZone: zone,
            units: { seconds: 30, minutes: 5, hours: 3 },
          });
          probe.importAll(s.exportAll());
          const at = clock.now();
          const probeLimiter = probe.limit().atMost("api", limit, [n, "minutes"], { sliding: true });
          clock.set(at + wait! - 1);
          assert.equal(probeLimiter.check("api").ok, false, `1 ms before ${wait}`);
          clock.set(at + wait!);
          assert.equal(probeLimiter.check("api").ok, true, `at ${wait}`);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("fixed and cooldown retryAfter are exact too (property, DST zones)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5_000_000 }), fc.integer({ min: 1, max: 3 })), {
          minLength: 1,
          maxLength: 20,
        }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom("America/New_York", "Australia/Lord_Howe", "Europe/Berlin"),
        fc.constantFrom("2024-03-10T05:00:00Z", "2024-04-06T13:00:00Z", "2024-10-26T22:00:00Z"),
        fc.integer({ min: 1, max: 3_600_000 }),
        (steps, limit, n, zone, start, cooldown) => {
          const { clock, store: s } = store(start, zone, { minutes: 60, hours: 24, days: 7 });
          const limiters = [s.limit().atMost("api", limit, [n, "hours"]), s.limit().cooldown("api", cooldown)];
          for (const [advance, count] of steps) {
            clock.advance(advance);
            s.recordCount("api", count);
          }
          for (const limiter of limiters) {
            const result = limiter.check("api");
            if (result.ok) continue;
            const wait = result.error.retryAfter!;
            const at = clock.now();
            clock.set(at + wait - 1);
            assert.equal(limiter.check("api").ok, false);
            clock.set(at + wait);
            assert.equal(limiter.check("api").ok, true);
            clock.set(at);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("atLeast, cooldown and within at their edges", () => {
    const { clock, store: s } = store();
    const needsLogin = s.limit().atLeast("login", 1, "days");
    const denied = needsLogin.check("api");
    assert.ok(!denied.ok);
    assert.deepEqual(
      denied.error.violations.map((v) => [v.observed, v.retryAfter]),
      [[0, undefined]],
    );
    s.record("login");
    assert.ok(needsLogin.checkAndRecord("api").ok);

    const reset = s.limit().cooldown("reset", "1h");
    assert.ok(reset.checkAndRecord("reset").ok);
    clock.advance("59m");
    const cooling = reset.check("reset");
    assert.ok(!cooling.ok);
    assert.equal(cooling.error.retryAfter, 60_000);
    assert.equal(cooling.error.violations[0]!.observed, 59 * 60_000);
    clock.advance("1m");
    assert.ok(reset.check("reset").ok);

    const checkout = s.limit().within("cart", "30m");
    assert.ok(!checkout.check("checkout").ok);
    s.record("cart");
    clock.advance("30m");
    assert.ok(checkout.check("checkout").ok);
    clock.advance(1);
    const late = checkout.check("checkout");
    assert.ok(!late.ok);
    assert.deepEqual([late.error.violations[0]!.observed, late.error.retryAfter], [1_800_001, undefined]);
  });

  it("during and outsideOf: opens and closes exactly, overnight and in a DST zone", () => {
    const { clock, store: s } = store("2024-01-01T08:59:59.999Z");
    const business = s.limit().during(Schedule.hours(9, 17));
    const closed = business.check("api");
    assert.ok(!closed.ok);
    assert.equal(closed.error.retryAfter, 1);
    clock.advance(1);
    assert.ok(business.check("api").ok);
    clock.set("2024-01-01T16:59:59.999Z");
    assert.ok(business.check("api").ok);
    clock.advance(1);
    assert.ok(!business.check("api").ok);
    const maintenance = s.limit().outsideOf(Schedule.hours(9, 17));
    assert.ok(maintenance.check("m").ok);
    clock.set("2024-01-01T12:00:00Z");
    const busy = maintenance.check("m");
    assert.ok(!busy.ok);
    assert.equal(busy.error.retryAfter, 5 * 3_600_000);

    const night = s.limit().during(Schedule.hours(22, 6));
    clock.set("2024-01-01T23:30:00Z");
    assert.ok(night.check("n").ok);
    clock.set("2024-01-02T05:59:59.999Z");
    assert.ok(night.check("n").ok);
    clock.advance(1);
    const day = night.check("n");
    assert.ok(!day.ok);
    assert.equal(day.error.retryAfter, 16 * 3_600_000);

    // Local schedules use the store's zone: 02:00–03:00 Berlin does not exist on 2024-03-31.
    const berlin = store("2024-03-31T00:30:00Z", "Europe/Berlin");
    const local = berlin.store.limit().during(Schedule.hoursLocalTz(9, 17));
    const early = local.check("x");
    assert.ok(!early.ok);
    // 09:00 CEST = 07:00 UTC
    assert.equal(early.error.retryAfter, Date.parse("2024-03-31T07:00:00Z") - berlin.clock.now());
    const custom = berlin.store
      .limit()
      .during(Schedule.custom(() => false))
      .check("x");
    assert.ok(!custom.ok);
    assert.equal(custom.error.retryAfter, undefined);
  });

  it("usage reports the tightest atMost on the id", () => {
    const { store: s } = store();
    const limiter = s.limit().atMost("api", 10, "minutes").atMost("api", 12, "hours").atMost("other", 1, "minutes");
    s.recordCount("api", 4);
    s.recordAgo("api", "30m");
    assert.deepEqual(limiter.usage("api"), { count: 4, limit: 10, remaining: 6 });
    s.recordCount("api", 6);
    assert.deepEqual(limiter.usage("api"), { count: 10, limit: 10, remaining: 0 });
    assert.deepEqual(s.limit().atMost("api", 3, "minutes").usage("api"), { count: 10, limit: 3, remaining: 0 });
    code(() => s.limit().cooldown("api", "1s").usage("api"), "NO_AT_MOST_CONSTRAINT");
  });

  it("validates constraint arguments when they are added", () => {
    const { store: s } = store();
    const l = s.limit();
    code(() => l.atMost("api", -1, "minutes"), "INVALID_COUNT");
    code(() => l.atMost("api", 1.5, "minutes"), "INVALID_COUNT");
    code(() => l.atLeast("api", Number.NaN, "minutes"), "INVALID_COUNT");
    code(() => l.atMost("api", 1, "seconds"), "UNTRACKED_UNIT");
    code(() => l.atMost("api", 1, "90s"), "UNTRACKED_UNIT");
    code(() => l.atMost("api", 1, [0, "days"]), "INVALID_WINDOW");
    code(() => l.atMost("api", 1, [1.5, "days"]), "INVALID_WINDOW");
    code(() => l.atMost("api", 1, [2, "fortnights" as "days"]), "INVALID_UNIT");
    code(() => l.atMost("api", 1, "1500ms"), "INVALID_WINDOW");
    code(() => l.atMost("api", 1, "banana" as "days"), "INVALID_WINDOW");
    code(() => l.atMost("api", 1, [57, "days"]), "INVALID_WINDOW");
    code(() => l.atMost("api", 1, [56, "days"], { sliding: true }), "INVALID_WINDOW");
    code(() => l.atMost("", 1, "days"), "INVALID_EVENT_ID");
    code(() => l.cooldown("api", "-1s" as "1s"), "INVALID_DURATION");
    code(() => l.during({} as Schedule), "INVALID_SCHEDULE");
    code(() => l.check("api", 0), "INVALID_COUNT");
    code(() => l.reserve("api", { count: -1 }), "INVALID_COUNT");
    assert.equal(l.constraints.length, 0, "nothing was added");
    const mapped = s
      .limit()
      .atMost("a", 1, "7d")
      .atMost("a", 1, "24h")
      .atMost("a", 1, "3h")
      .atMost("a", 1, 120_000)
      .atMost("a", 1, [2, "weeks"]);
    assert.deepEqual(
      mapped.constraints.map((c) => (c.kind === "atMost" ? [c.window.count, c.window.unit] : [])),
      [
        [7, "days"],
        [1, "days"],
        [3, "hours"],
        [2, "minutes"],
        [2, "weeks"],
      ],
    );
  });
});

describe("reservations", () => {
  it("pending counts hold slots until commit, cancel, dispose or expiry", () => {
    const { clock, store: s } = store();
    const limiter = s.limit().atMost("api", 2, "hours");
    const a = limiter.reserve("api");
    const b = limiter.reserve("api", { count: 1, ttl: "10s" });
    assert.ok(a.ok && b.ok);
    assert.equal(s.query("api").lastHours(1).sum(), 0, "the event exists, nothing recorded yet");
    assert.deepEqual(limiter.usage("api"), { count: 2, limit: 2, remaining: 0 });
    const third = limiter.reserve("api");
    assert.ok(!third.ok);
    assert.equal(third.error.violations[0]!.observed, 2);
    assert.equal(a.reservation.commit(), true);
    assert.equal(a.reservation.state, "committed");
    assert.equal(a.reservation.commit(), false);
    assert.equal(a.reservation.cancel(), false);
    assert.equal(s.query("api").lastHours(1).sum(), 1);
    clock.advance("10s");
    assert.equal(b.reservation.state, "expired");
    assert.deepEqual(limiter.usage("api"), { count: 1, limit: 2, remaining: 1 });
    assert.equal(b.reservation.commit(), false, "expired: records anyway, returns false");
    assert.equal(s.query("api").lastHours(1).sum(), 2);
    {
      using held = (
        s.limit().atMost("job", 1, "hours").reserve("job") as {
          ok: true;
          reservation: import("../../src/counter/reservation.ts").Reservation;
        }
      ).reservation;
      assert.equal(held.state, "pending");
      assert.equal(s.limit().atMost("job", 1, "hours").allowed("job"), false);
    }
    assert.equal(s.limit().atMost("job", 1, "hours").allowed("job"), true, "dispose cancelled it");
    assert.equal(s.query("job").lastHours(1).sum(), 0);
    const c = s.limit().atMost("x", 5, "hours").reserve("x", { count: 3 });
    assert.ok(c.ok);
    assert.equal(c.reservation.cancel(), true);
    assert.equal(c.reservation.state, "cancelled");
  });

  it("pending reservations count in cooldown", () => {
    const { clock, store: s } = store();
    const r = s.limit().cooldown("mail", "1m").reserve("mail");
    assert.ok(r.ok);
    clock.advance("30s");
    const denied = s.limit().cooldown("mail", "1m").check("mail");
    assert.ok(!denied.ok);
    assert.equal(denied.error.retryAfter, 30_000);
  });

  it("1000 concurrent async callers reserving against atMost(10) get exactly 10", async () => {
    const { store: s } = store();
    const limiter = s.limit().atMost("api", 10, "hours");
    const results = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        await new Promise((resolve) => setImmediate(resolve));
        const r = limiter.reserve("api");
        if (r.ok) {
          await new Promise((resolve) => setTimeout(resolve, i % 3));
          r.reservation.commit();
        }
        return r.ok;
      }),
    );
    assert.equal(results.filter(Boolean).length, 10);
    assert.equal(s.query("api").lastHours(1).sum(), 10);
  });
});
