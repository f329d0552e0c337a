import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRow } from "../../src/meter/parse-row.ts";
import { parseRfc3339 } from "../../src/meter/time-input.ts";

describe("strict RFC 3339", () => {
  const ok: Array<[string, number]> = [
    ["2026-05-06T10:15:20Z", Date.UTC(2026, 4, 6, 10, 15, 20)],
    ["2026-05-06T10:15:20.5Z", Date.UTC(2026, 4, 6, 10, 15, 20, 500)],
    ["2026-05-06T10:15:20.123456789Z", Date.UTC(2026, 4, 6, 10, 15, 20, 123)],
    ["2026-05-06T10:15:20.999999Z", Date.UTC(2026, 4, 6, 10, 15, 20, 999)],
    ["2026-05-06T12:15:20+02:00", Date.UTC(2026, 4, 6, 10, 15, 20)],
    ["2026-05-06T05:45:20-04:30", Date.UTC(2026, 4, 6, 10, 15, 20)],
    ["2024-02-29T00:00:00Z", Date.UTC(2024, 1, 29)],
    ["1970-01-01T00:00:00Z", 0],
    ["9999-12-31T23:59:59Z", Date.UTC(9999, 11, 31, 23, 59, 59)],
  ];
  for (const [text, ms] of ok) it(`accepts ${text}`, () => assert.equal(parseRfc3339(text), ms));
  const bad = [
    "2026-05-06T10:15:20",
    "2026-05-06 10:15:20Z",
    "2026-05-06T10:00Z",
    "10:00",
    "2026-02-30T00:00:00Z",
    "2025-02-29T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-05-06T24:00:00Z",
    "2026-05-06T10:60:00Z",
    "2026-05-06T10:15:60Z",
    "2026-05-06T10:15:20.Z",
    "2026-05-06T10:15:20.1234567890Z",
    "2026-05-06T10:15:20+0200",
    "2026-05-06T10:15:20+24:00",
    "1969-12-31T23:59:59Z",
    "2026-05-06t10:15:20z",
    " 2026-05-06T10:15:20Z",
    "",
  ];
  for (const text of bad) it(`rejects ${JSON.stringify(text)}`, () => assert.equal(parseRfc3339(text), null));
});

describe("parseRow", () => {
  const base = {
    name: "job",
    status: "success",
    startedAt: "2026-05-06T10:00:00.000Z",
    durationMs: 12,
    params: { a: 1 },
  };
  const row = (patch: Record<string, unknown>) => ({ ...base, ...patch });

  it("parses a well-formed row", () => {
    assert.deepEqual(parseRow(base, "job"), {
      status: "success",
      startedAt: Date.UTC(2026, 4, 6, 10),
      durationMs: 12,
      params: { a: 1 },
    });
  });

  it("clamps a negative duration to 0 and counts an absent one without a sample", () => {
    assert.equal(parseRow(row({ durationMs: -5 }), "job")?.durationMs, 0);
    const { durationMs: _, ...noDuration } = base;
    assert.equal(parseRow(noDuration, "job")?.durationMs, -1);
    const { params: __, ...noParams } = base;
    assert.deepEqual(parseRow(noParams, "job")?.params, {});
  });

  const malformed: Array<[string, unknown]> = [
    ["not an object", "text"],
    ["null", null],
    ["an array", [base]],
    ["another name", row({ name: "other" })],
    ["a bad status", row({ status: "ok" })],
    ["a zone-less time", row({ startedAt: "2026-05-06T10:00:00" })],
    ["Feb 30", row({ startedAt: "2026-02-30T10:00:00Z" })],
    ["a numeric startedAt", row({ startedAt: 1_700_000_000_000 })],
    ["durationMs 12.7", row({ durationMs: 12.7 })],
    ['durationMs "12"', row({ durationMs: "12" })],
    ["durationMs 2^53", row({ durationMs: 2 ** 53 })],
    ["durationMs null", row({ durationMs: null })],
    ["params an array", row({ params: [1] })],
    ["params a string", row({ params: "x" })],
    ["params null", row({ params: null })],
  ];
  for (const [what, value] of malformed)
    it(`is malformed with ${what}`, () => assert.equal(parseRow(value, "job"), null));
});
