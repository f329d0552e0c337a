/**
 * Plan shapes: a limiter's `ConstraintShape` keys the plans of the store's `PlanShapes`, so limiters of
 * one shape (the same constraints but for the events they name, as with a limiter per user) share one
 * set of tests and depths, and a limiter built per request finds its plan without making one. The key
 * must be sound: two calls whose keys are equal get equal tests and depths from `makePlan`, and
 * complete enough to share: renaming the events gives the same key.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { makeLayout, RATE_LIMITING_UNITS } from "../../../src/counter/config.ts";
import type { Constraint } from "../../../src/counter/constraints.ts";
import { ConstraintShape, makePlan, PlanShapes } from "../../../src/counter/shared/limit-plan.ts";
import { SharedEngine } from "../../../src/counter/shared/shared-engine.ts";
import { redisBackend } from "../../../src/storage/redis/counter-backend.ts";
import { periodsFor } from "../../../src/time/calendar.ts";
import { TestClock } from "../../../src/time/clock.ts";

const NOW = Date.UTC(2026, 10, 24, 12);
// makePlan reads the layout and the calendar only; the backend is bound, never called.
const engine = new SharedEngine({
  clock: new TestClock(NOW),
  periods: periodsFor("calendar", "UTC"),
  timeZone: "UTC",
  layout: makeLayout(RATE_LIMITING_UNITS),
  backend: redisBackend({ run: () => Promise.reject(new Error("not called")) }),
  clockSource: "client",
  backendTimeout: 1_000,
});

const IDS = ["a", "b", "c"];
const id = fc.constantFrom(...IDS);
const window = fc.record({
  count: fc.integer({ min: 1, max: 2 }),
  unit: fc.constantFrom("minutes" as const, "hours" as const),
});
// Small domains, so that different constraints often differ in one field only.
const constraint: fc.Arbitrary<Constraint> = fc.oneof(
  fc.record({
    kind: fc.constant("atMost" as const),
    eventId: id,
    limit: fc.constantFrom(0, 1, 10),
    window,
    sliding: fc.constant(false),
  }),
  fc.record({ kind: fc.constant("atLeast" as const), eventId: id, count: fc.constantFrom(0, 1, 10), window }),
  fc.record({
    kind: fc.constantFrom("cooldown" as const, "within" as const),
    eventId: id,
    duration: fc.constantFrom(1_000, 60_000),
  }),
  fc.constant({ kind: "unavailable" as const }),
);
const call = fc.record({
  constraints: fc.array(constraint, { minLength: 1, maxLength: 4 }),
  id,
  count: fc.integer({ min: 1, max: 2 }),
});

function keyed(constraints: readonly Constraint[], callId: string, count: number) {
  const shape = new ConstraintShape();
  for (const c of constraints) shape.add(c);
  return { key: shape.key(callId, count), eventIds: shape.eventIdsFor(callId) };
}

const renamed = (c: Constraint, names: Record<string, string>): Constraint =>
  "eventId" in c ? { ...c, eventId: names[c.eventId]! } : c;

describe("plan shapes", () => {
  it("equal keys give equal tests and depths; the events are the plan's own, the call's first", () => {
    // The second call is another limiter's, or the same limiter's on another event or count.
    const pair = call.chain((x) =>
      fc.tuple(
        fc.constant(x),
        fc.oneof(call, fc.record({ constraints: fc.constant(x.constraints), id, count: call.map((c) => c.count) })),
      ),
    );
    fc.assert(
      fc.property(pair, ([x, y]) => {
        const a = keyed(x.constraints, x.id, x.count);
        const b = keyed(y.constraints, y.id, y.count);
        const planA = makePlan(engine, x.constraints, x.id, x.count, NOW);
        const planB = makePlan(engine, y.constraints, y.id, y.count, NOW);
        assert.deepEqual(a.eventIds, planA.eventIds);
        if (a.key !== b.key) return;
        assert.deepEqual(planB.tests, planA.tests);
        assert.deepEqual(planB.depth, planA.depth);
      }),
      { numRuns: 3_000 },
    );
  });

  it("renaming the events keeps the key, so limiters per user share one plan", () => {
    fc.assert(
      fc.property(call, fc.shuffledSubarray(["x", "y", "z"], { minLength: 3 }), (x, to) => {
        const names = Object.fromEntries(IDS.map((name, i) => [name, to[i]!]));
        const a = keyed(x.constraints, x.id, x.count);
        const b = keyed(
          x.constraints.map((c) => renamed(c, names)),
          names[x.id]!,
          x.count,
        );
        assert.equal(b.key, a.key);
      }),
    );
  });

  it("a store keeps one plan per shape and gives it out with each call's own events", () => {
    const shapes = new PlanShapes();
    const constraints: Constraint[] = [
      { kind: "atMost", eventId: "user:1", limit: 10, window: { count: 1, unit: "minutes" }, sliding: false },
    ];
    const shape = keyed(constraints, "user:1", 1);
    assert.equal(shapes.find(shape.key, shape.eventIds), undefined);
    const first = shapes.keep(shape.key, makePlan(engine, constraints, "user:1", 1, NOW));
    const second = shapes.find(shape.key, ["user:2"]);
    assert.ok(second !== undefined);
    assert.deepEqual(second.eventIds, ["user:2"]);
    assert.equal(second.tests, first.tests);
    assert.equal(second.depth, first.depth);
  });
});
