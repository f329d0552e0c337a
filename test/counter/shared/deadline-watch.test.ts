/**
 * DeadlineWatch: one timer for every call's timeout. A call expires iff it is not finished within
 * the timeout, exactly once, in start order; finished calls are dropped; the queue stays short.
 * Timers are node:test's mocked timers; the watch reads the same mocked clock.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DeadlineWatch } from "../../../src/counter/shared/deadline-watch.ts";

describe("DeadlineWatch", () => {
  it("expires exactly the calls not finished within the timeout, once each, in start order", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
    const watch = new DeadlineWatch(100, () => Date.now());
    const expired: string[] = [];
    const a = watch.watch(() => expired.push("a"));
    t.mock.timers.tick(30);
    const b = watch.watch(() => expired.push("b"));
    t.mock.timers.tick(30);
    const c = watch.watch(() => expired.push("c"));
    assert.equal(watch.finish(b), true);
    t.mock.timers.tick(39); // a is due at 100: not yet
    assert.deepEqual(expired, []);
    t.mock.timers.tick(1);
    assert.deepEqual(expired, ["a"]);
    assert.equal(watch.finish(a), false, "an expired call cannot finish");
    t.mock.timers.tick(59); // c is due at 160
    assert.deepEqual(expired, ["a"]);
    t.mock.timers.tick(1);
    assert.deepEqual(expired, ["a", "c"]);
    t.mock.timers.tick(1_000);
    assert.deepEqual(expired, ["a", "c"]);
    assert.equal(watch.finish(c), false);
  });

  it("keeps watching after the queue emptied, and never expires a finished call", (t) => {
    t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
    const watch = new DeadlineWatch(50, () => Date.now());
    const expired: number[] = [];
    for (let i = 0; i < 5_000; i++) {
      const entry = watch.watch(() => expired.push(i));
      if (i % 1_000 !== 999) assert.equal(watch.finish(entry), true);
      t.mock.timers.tick(1);
    }
    t.mock.timers.tick(50);
    assert.deepEqual(expired, [999, 1999, 2999, 3999, 4999]);
  });
});
