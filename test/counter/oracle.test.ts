import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { EventStore } from "../../src/counter/event-store.ts";
import type { Alignment } from "../../src/time/calendar.ts";
import { TestClock } from "../../src/time/clock.ts";
import type { TimeUnit } from "../../src/time/units.ts";
import { Oracle } from "./oracle.ts";

const ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe"];
/** Starts next to DST changes, month and year ends, Mondays. */
const STARTS = [
  "2024-03-31T00:30:00Z", // Berlin spring forward
  "2024-10-27T00:20:00Z", // Berlin fall back
  "2024-03-10T06:40:00Z", // New York spring forward
  "2024-11-03T05:10:00Z", // New York fall back
  "2024-04-06T14:50:00Z", // Lord Howe half-hour fall back
  "2024-10-05T15:20:00Z", // Lord Howe half-hour spring forward
  "2024-02-28T22:00:00Z", // leap month end
  "2024-12-31T21:00:00Z", // year end
  "2024-01-07T23:30:00Z", // Sunday night into Monday
  "2023-04-30T20:00:00Z", // 30-day month end
];
const UNIT_SIZES: Array<[TimeUnit, number[]]> = [
  ["seconds", [3, 60]],
  ["minutes", [2, 7]],
  ["hours", [3, 30]],
  ["days", [2, 9]],
  ["weeks", [2, 5]],
  ["months", [1, 3]],
  ["years", [1, 2]],
];

const configArb = fc.record({
  zone: fc.constantFrom(...ZONES),
  alignment: fc.constantFrom<Alignment>("calendar", "uniform"),
  start: fc.constantFrom(...STARTS),
  units: fc
    .subarray(UNIT_SIZES, { minLength: 1 })
    .chain((list) =>
      fc.tuple(...list.map(([u, sizes]) => fc.constantFrom(...sizes).map((n) => [u, n] as [TimeUnit, number]))),
    ),
});

type Op =
  | { op: "record"; id: string; count: number }
  | { op: "recordAt"; id: string; count: number; ago: number }
  | { op: "advance"; ms: number }
  | { op: "back"; ms: number };

const ids = fc.constantFrom("a", "b", "c");
const spans = fc.constantFrom(
  1,
  499,
  1_000,
  59_000,
  60_000,
  1_800_000,
  3_600_000,
  5_400_000,
  86_400_000,
  7 * 86_400_000,
  31 * 86_400_000,
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ op: fc.constant("record" as const), id: ids, count: fc.integer({ min: 0, max: 5 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("recordAt" as const),
      id: ids,
      count: fc.integer({ min: 0, max: 5 }),
      ago: fc.oneof(spans, fc.integer({ min: 0, max: 40 * 86_400_000 })),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("advance" as const),
      ms: fc.oneof(spans, fc.integer({ min: 0, max: 3 * 86_400_000 })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("back" as const),
      ms: fc.constantFrom(1, 1_000, 60_000, 3_600_000, 86_400_000),
    }),
  },
);

function build(config: { zone: string; alignment: Alignment; start: string; units: Array<[TimeUnit, number]> }) {
  const clock = new TestClock(config.start);
  const store = new EventStore({
    clock,
    timeZone: config.zone,
    alignment: config.alignment,
    units: Object.fromEntries(config.units),
  });
  const oracle = new Oracle(config.alignment, config.zone, config.units);
  return { clock, store, oracle };
}

function apply(op: Op, clock: TestClock, store: EventStore, oracle: Oracle): void {
  const now = clock.now();
  switch (op.op) {
    case "record":
      store.recordCount(op.id, op.count);
      oracle.record(op.id, op.count, now);
      break;
    case "recordAt":
      store.recordCountAt(op.id, op.count, now - op.ago);
      oracle.recordAt(op.id, op.count, now - op.ago, now);
      break;
    case "advance":
      clock.advance(op.ms);
      break;
    case "back":
      clock.set(now - op.ms);
      break;
  }
}

describe("EventStore against a naive event log", () => {
  it("answers every query like the oracle, in five zones, both alignments, across DST, month and year ends", () => {
    fc.assert(
      fc.property(configArb, fc.array(opArb, { minLength: 1, maxLength: 40 }), (config, ops) => {
        const { clock, store, oracle } = build(config);
        for (const op of ops) {
          apply(op, clock, store, oracle);
          const now = clock.now();
          for (const id of ["a", "b", "c"]) {
            const q = store.query(id);
            for (const [unit, size] of config.units) {
              const expected = oracle.buckets(id, unit, now);
              const range = q[`last${unit[0]!.toUpperCase()}${unit.slice(1)}` as "lastDays"](size);
              assert.deepEqual(range.buckets(), expected, `${id} ${unit} at ${new Date(now).toISOString()}`);
              assert.equal(
                range.sum(),
                expected?.reduce((a, b) => a + b, 0),
              );
              const k = Math.floor(size / 2);
              assert.equal(
                q[`${unit}From` as "daysFrom"](k).take(2).sum(),
                expected?.slice(k, k + 2).reduce((a, b) => a + b, 0),
              );
              const nonzero = expected?.filter((v) => v > 0).length;
              assert.equal(range.countNonzero(), nonzero);
              assert.equal(
                range.average(),
                expected === undefined ? undefined : expected.reduce((a, b) => a + b, 0) / size,
              );
            }
            const everUnit = oracle.everUnit();
            assert.equal(q.ever().sum(), oracle.sum(id, everUnit, 0, 1e9, now));
            assert.equal(q.lastSeenAt(), oracle.last(id));
            assert.equal(q.firstSeenAt(), oracle.first(id));
            const last = oracle.last(id);
            assert.equal(q.lastSeen(), last === undefined ? undefined : Math.max(0, now - last));
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it("gives limit verdicts, retryAfter and usage like the oracle", () => {
    const limitArb = fc.record({
      limit: fc.integer({ min: 0, max: 12 }),
      n: fc.integer({ min: 1, max: 3 }),
      least: fc.integer({ min: 0, max: 4 }),
      cooldown: fc.integer({ min: 0, max: 7_200_000 }),
      within: fc.integer({ min: 0, max: 7_200_000 }),
      count: fc.integer({ min: 1, max: 3 }),
    });
    fc.assert(
      fc.property(configArb, fc.array(opArb, { minLength: 1, maxLength: 30 }), limitArb, (config, ops, l) => {
        const { clock, store, oracle } = build(config);
        const [unit, size] = config.units[config.units.length - 1]!;
        const n = Math.min(l.n, size);
        const limiter = store
          .limit()
          .atMost("a", l.limit, [n, unit])
          .atLeast("b", l.least, [n, unit])
          .cooldown("c", l.cooldown)
          .within("b", l.within);
        for (const op of ops) {
          apply(op, clock, store, oracle);
          const now = clock.now();
          for (const id of ["a", "b", "c"]) {
            const used = oracle.sum("a", unit, 0, n, now) ?? 0;
            const extra = id === "a" ? l.count : 0;
            const lastB = oracle.last("b");
            const lastC = oracle.last("c");
            const violations: Array<[string, number | undefined, number | undefined]> = [];
            if (used + extra > l.limit) {
              const retry = oracle.events.has("a")
                ? oracle.fixedRetryAfter("a", unit, n, l.limit - extra, now)
                : undefined;
              violations.push(["atMost", retry, used]);
            }
            const least = oracle.sum("b", unit, 0, n, now) ?? 0;
            if (least < l.least) violations.push(["atLeast", undefined, least]);
            if (lastC !== undefined && Math.max(0, now - lastC) < l.cooldown) {
              const elapsed = Math.max(0, now - lastC);
              violations.push(["cooldown", l.cooldown - elapsed, elapsed]);
            }
            const sinceB = lastB === undefined ? undefined : Math.max(0, now - lastB);
            if (sinceB === undefined || sinceB > l.within) violations.push(["within", undefined, sinceB]);
            const result = limiter.check(id, l.count);
            assert.equal(limiter.allowed(id, l.count), violations.length === 0);
            if (violations.length === 0) {
              assert.equal(result.ok, true);
              continue;
            }
            assert.equal(result.ok, false);
            if (result.ok) continue;
            assert.deepEqual(
              result.error.violations.map((v) => [v.constraint.kind, v.retryAfter, v.observed]),
              violations,
            );
            const retries = violations.map((v) => v[1]);
            const expected = retries.includes(undefined) ? undefined : Math.max(...(retries as number[]));
            assert.equal(result.error.retryAfter, expected);
          }
          const usage = limiter.usage("a");
          const used = oracle.sum("a", unit, 0, n, now) ?? 0;
          assert.deepEqual(usage, { count: used, limit: l.limit, remaining: Math.max(0, l.limit - used) });
        }
      }),
      { numRuns: 150 },
    );
  });

  it("gives sliding-window estimates, verdicts and usage like the oracle", () => {
    const units: Array<[TimeUnit, number]> = [
      ["seconds", 40],
      ["minutes", 5],
      ["hours", 6],
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.constantFrom(...STARTS),
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 100_000 }),
            fc.integer({ min: 0, max: 4 }),
            fc.integer({ min: 0, max: 200_000 }),
          ),
          {
            maxLength: 25,
          },
        ),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 2 }),
        fc.constantFrom<"minutes" | "hours">("minutes", "hours"),
        (zone, start, steps, n, limitScale, unit) => {
          const { clock, store, oracle } = build({ zone, alignment: "calendar", start, units });
          const limit = limitScale * 6;
          const limiter = store.limit().atMost("a", limit, [n, unit], { sliding: true });
          for (const [advance, count, ago] of steps) {
            clock.advance(advance);
            const now = clock.now();
            store.recordCountAt("a", count, now - ago);
            oracle.recordAt("a", count, now - ago, now);
            const expected = oracle.events.has("a") ? oracle.slidingEstimate("a", unit, n, now) : 0;
            const usage = limiter.usage("a");
            assert.ok(Math.abs(usage.count - expected) < 1e-9, `${usage.count} vs ${expected}`);
            if (Math.abs(expected + 1 - limit) > 1e-9) assert.equal(limiter.allowed("a"), expected + 1 <= limit);
          }
        },
      ),
      { numRuns: 120 },
    );
  });
});
