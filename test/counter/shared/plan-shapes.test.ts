/**
 * PlanShapes: plans of one shape (the same tests and depths, whatever event they name) share one set
 * of tests and depths, so a backend's cache keyed by their identity holds one entry for all of them;
 * plans of another shape keep their own.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Plan, PlanShapes } from "../../../src/counter/shared/limit-plan.ts";

const plan = (id: string, limit: number): Plan => ({
  eventIds: [id],
  tests: [{ kind: "atMost", event: 0, limit, add: 1, terms: [{ unit: 1, from: 0, to: 0, weight: 1 }] }],
  depth: [[0, 1, 0]],
  terms: [undefined],
});

describe("PlanShapes", () => {
  it("gives plans of one shape the first one's tests and depths, each keeping its own event", () => {
    const shapes = new PlanShapes();
    const first = plan("user:1", 10);
    assert.equal(shapes.share(first), first);
    const second = shapes.share(plan("user:2", 10));
    assert.deepEqual(second.eventIds, ["user:2"]);
    assert.equal(second.tests, first.tests);
    assert.equal(second.depth, first.depth);
    assert.equal(second.terms, first.terms);
  });

  it("keeps a plan of another shape as it is", () => {
    const shapes = new PlanShapes();
    const first = shapes.share(plan("user:1", 10));
    const other = plan("user:1", 11);
    const shared = shapes.share(other);
    assert.equal(shared, other);
    assert.notEqual(shared.tests, first.tests);
  });
});
