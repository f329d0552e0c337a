import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTallyError } from "../../src/errors.ts";
import { TEST_CLOCK_START, TestClock, toInstant } from "../../src/time/clock.ts";

describe("TestClock", () => {
  it("starts on Monday 2024-01-01 UTC by default", () => {
    assert.equal(new TestClock().now(), Date.UTC(2024, 0, 1));
    assert.equal(TEST_CLOCK_START, Date.UTC(2024, 0, 1));
  });

  it("accepts a number, a Date or an ISO string", () => {
    assert.equal(new TestClock(5).now(), 5);
    assert.equal(new TestClock(new Date(7)).now(), 7);
    assert.equal(new TestClock("2025-01-06T12:00:00Z").now(), Date.UTC(2025, 0, 6, 12));
  });

  it("advances by durations and sets to instants, backwards too", () => {
    const clock = new TestClock(0);
    clock.advance("90s");
    clock.advance(10);
    assert.equal(clock.now(), 90_010);
    clock.set(1_000);
    assert.equal(clock.now(), 1_000);
  });

  it("shares one time cell between copies", () => {
    const clock = new TestClock(0);
    const copy = clock.clone();
    clock.advance("1h");
    assert.equal(copy.now(), 3_600_000);
    copy.set(5);
    assert.equal(clock.now(), 5);
  });

  it("rejects bad starts, advances and sets with their codes", () => {
    assert.throws(
      () => new TestClock("yesterday"),
      (e) => isTallyError(e) && e.code === "INVALID_TIMESTAMP",
    );
    assert.throws(
      () => new TestClock(Number.NaN),
      (e) => isTallyError(e) && e.code === "INVALID_TIMESTAMP",
    );
    assert.throws(
      () => new TestClock().advance(-1),
      (e) => isTallyError(e) && e.code === "INVALID_DURATION",
    );
    assert.throws(
      () => new TestClock().advance("1 month" as never),
      (e) => isTallyError(e) && e.code === "INVALID_DURATION",
    );
    assert.throws(
      () => new TestClock().set(new Date("nope")),
      (e) => isTallyError(e) && e.code === "INVALID_TIMESTAMP",
    );
    assert.throws(
      () => toInstant({}),
      (e) => isTallyError(e) && e.code === "INVALID_TIMESTAMP",
    );
  });
});
