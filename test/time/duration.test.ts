import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isTallyError } from "../../src/errors.ts";
import { formatDuration, isDuration, toMs } from "../../src/time/duration.ts";
import { valueText } from "../../src/time/value-text.ts";

const invalidDuration = (e: unknown) => isTallyError(e) && e.code === "INVALID_DURATION";

describe("toMs", () => {
  it("reads milliseconds and every unit suffix, with one optional space", () => {
    assert.equal(toMs(0), 0);
    assert.equal(toMs(1500), 1500);
    assert.equal(toMs(2.5), 2.5);
    assert.equal(toMs("250ms"), 250);
    assert.equal(toMs("30s"), 30_000);
    assert.equal(toMs("15m"), 900_000, "m is minutes");
    assert.equal(toMs("1h"), 3_600_000);
    assert.equal(toMs("7d"), 604_800_000);
    assert.equal(toMs("2w"), 1_209_600_000);
    assert.equal(toMs("1.5s"), 1500);
    assert.equal(toMs("30 s"), 30_000);
    assert.equal(toMs(" 45m "), 2_700_000, "surrounding blanks are ignored");
    assert.equal(toMs("0s"), 0);
  });

  it("never returns negative zero", () => {
    assert.ok(Object.is(toMs(-0), 0));
  });

  it("rejects everything else with INVALID_DURATION", () => {
    const bad: unknown[] = [
      "1 month",
      "1mo",
      "1y",
      "-5s",
      "+5s",
      -1,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      "",
      "   ",
      "5x",
      "5",
      "s",
      ".5s",
      "1e3s",
      "30  s",
      "5 5s",
      "5S",
      "1h30m",
      {},
      [],
      [5],
      null,
      undefined,
      true,
      10n,
      () => 5,
      new Date(5),
      { ms: 5 },
      Object.create(null),
      Symbol("5s"),
    ];
    for (const value of bad) {
      assert.throws(() => toMs(value), invalidDuration, `should reject ${valueText(value)}`);
      assert.equal(isDuration(value), false, `isDuration(${valueText(value)})`);
    }
  });

  it("names the bad value and what is accepted", () => {
    assert.throws(
      () => toMs("1 month", "cooldown"),
      (e) =>
        isTallyError(e) &&
        e.message.includes('"1 month"') &&
        e.message.includes("cooldown") &&
        e.message.includes('"30s"') &&
        e.details?.value === "1 month",
    );
  });

  it("round-trips through formatDuration", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.nat(),
          fc.nat(10_000).map((n) => n * 60_000),
          fc.nat(100).map((n) => n * 86_400_000),
        ),
        (ms) => {
          const text = formatDuration(ms);
          assert.ok(isDuration(text));
          assert.equal(toMs(text), ms);
        },
      ),
    );
  });
});

describe("formatDuration", () => {
  it("picks the largest exact unit", () => {
    assert.equal(formatDuration(0), "0ms");
    assert.equal(formatDuration(999), "999ms");
    assert.equal(formatDuration(1500), "1500ms");
    assert.equal(formatDuration(90_000), "90s");
    assert.equal(formatDuration(900_000), "15m");
    assert.equal(formatDuration(86_400_000), "1d");
    assert.equal(formatDuration(604_800_000), "1w");
    assert.equal(formatDuration(8 * 86_400_000), "8d");
  });
});
