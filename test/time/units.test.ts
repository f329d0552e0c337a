import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTallyError } from "../../src/errors.ts";
import {
  isTimeUnit,
  NOMINAL_MS,
  TIME_UNITS,
  TimeUnit,
  toTimeUnit,
  uniformOrdinal,
  uniformStart,
} from "../../src/time/units.ts";
import { valueText } from "../../src/time/value-text.ts";

describe("time units", () => {
  it("lists the seven units finest first, with their nominal lengths", () => {
    assert.deepEqual(TIME_UNITS, ["seconds", "minutes", "hours", "days", "weeks", "months", "years"]);
    assert.deepEqual(
      TIME_UNITS.map((u) => NOMINAL_MS[u] / 1000),
      [1, 60, 3600, 86_400, 7 * 86_400, 30 * 86_400, 365 * 86_400],
    );
    for (let i = 1; i < TIME_UNITS.length; i++) {
      assert.ok(NOMINAL_MS[TIME_UNITS[i]!] > NOMINAL_MS[TIME_UNITS[i - 1]!]);
    }
    assert.ok(Object.isFrozen(TIME_UNITS) && Object.isFrozen(NOMINAL_MS) && Object.isFrozen(TimeUnit));
  });

  it("accepts unit names and the TimeUnit constants", () => {
    assert.equal(toTimeUnit("days"), "days");
    assert.equal(toTimeUnit(TimeUnit.Weeks), "weeks");
    for (const unit of TIME_UNITS) assert.ok(isTimeUnit(unit));
    assert.deepEqual(Object.values(TimeUnit), TIME_UNITS);
  });

  it("rejects anything else with INVALID_UNIT, naming the value and the choices", () => {
    const bad: unknown[] = [
      "day",
      "Days",
      "DAYS",
      "ms",
      "milliseconds",
      "quarters",
      "7d",
      "",
      " days",
      1,
      null,
      undefined,
      {},
      ["days"],
      10n,
      Symbol("days"),
      Object.create(null),
    ];
    for (const value of bad) {
      assert.equal(isTimeUnit(value), false);
      assert.throws(
        () => toTimeUnit(value, "window unit"),
        (e) =>
          isTallyError(e) &&
          e.code === "INVALID_UNIT" &&
          e.message.includes("window unit") &&
          e.message.includes('"hours"'),
        `should reject ${valueText(value)}`,
      );
    }
  });

  it("computes uniform ordinals from fixed epochs, negative instants included", () => {
    assert.equal(uniformOrdinal("seconds", 1999), 1);
    assert.equal(uniformOrdinal("seconds", -1), -1);
    assert.equal(uniformOrdinal("hours", Date.UTC(2024, 0, 1, 5, 59)), Date.UTC(2024, 0, 1, 5) / 3_600_000);
    assert.equal(uniformStart("weeks", 0), Date.UTC(1970, 0, 5));
    assert.equal(
      uniformOrdinal("weeks", Date.UTC(2024, 0, 1)),
      (Date.UTC(2024, 0, 1) - Date.UTC(1970, 0, 5)) / (7 * 86_400_000),
    );
    for (const unit of TIME_UNITS) {
      for (const t of [-1, 0, 1, Date.UTC(2024, 5, 15, 12, 34, 56, 789)]) {
        const o = uniformOrdinal(unit, t);
        assert.ok(uniformStart(unit, o) <= t && t < uniformStart(unit, o + 1));
      }
    }
  });
});
