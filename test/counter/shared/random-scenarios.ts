/**
 * Random scenarios for the shared store against the in-process `EventStore` (random-behaviour.test.ts
 * on Redis, counter-backend.test.ts on PostgreSQL): records now, at and before now (into the current
 * period, an older one, one a ring has just left), fixed and sliding limits, reservations committed
 * and cancelled, the clock moving within a period, across periods, past whole rings and back, and
 * queries of every bucket. Small rings (5 seconds, 4 minutes, 3 hours) make each ring move, wrap and
 * skip often, which is where a backend's layout does its work (on Redis: bucket 0 in the head field
 * `c`, older periods in ring slots, a period's count moving to its slot when its ring moves on).
 */

import fc from "fast-check";
import type { Scenario, Step } from "./scenarios.ts";

const START = Date.UTC(2026, 10, 24, 10, 59, 58);

type Move =
  | { kind: "advance"; ms: number }
  | { kind: "record"; count: number; agoMs: number | undefined }
  | { kind: "limit"; count: number; sliding: "no" | "one" | "wide" }
  | { kind: "reserve"; count: number }
  | { kind: "settle"; how: "commit" | "cancel" }
  | { kind: "query"; unit: "Seconds" | "Minutes" | "Hours" };

const move: fc.Arbitrary<Move> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.oneof(
        fc.integer({ min: 0, max: 2_500 }),
        fc.integer({ min: 50_000, max: 300_000 }),
        fc.integer({ min: 3_000_000, max: 12_000_000 }),
        fc.integer({ min: -90_000, max: -1 }),
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("record" as const),
      count: fc.integer({ min: 0, max: 3 }),
      agoMs: fc.option(fc.oneof(fc.integer({ min: 0, max: 6_000 }), fc.integer({ min: 0, max: 4 * 3_600_000 })), {
        nil: undefined,
      }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("limit" as const),
      count: fc.integer({ min: 1, max: 3 }),
      sliding: fc.constantFrom("no" as const, "one" as const, "wide" as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reserve" as const), count: fc.integer({ min: 1, max: 3 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("settle" as const),
      how: fc.constantFrom("commit" as const, "cancel" as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("query" as const),
      unit: fc.constantFrom("Seconds" as const, "Minutes" as const, "Hours" as const),
    }),
  },
);

const SIZES = { Seconds: 5, Minutes: 4, Hours: 3 } as const;

/** The moves as a scenario on event `id`: the clock set to absolute instants (it may go back), every ring read whole. */
function scenarioOf(moves: readonly Move[], id: string): Scenario {
  let now = START;
  const steps: Step[] = [
    { do: "define", limiter: "l", build: (l) => l.atMost(id, 12, "minutes").atMost(id, 30, "hours") },
    { do: "define", limiter: "s", build: (l) => l.atMost(id, 9, "minutes", { sliding: true }) },
    // Windows long enough never to read the finer ring (sliding-window.ts, finerRingReached).
    {
      do: "define",
      limiter: "w",
      build: (l) => l.atMost(id, 14, [3, "minutes"], { sliding: true }).atMost(id, 25, [2, "hours"], { sliding: true }),
    },
  ];
  let reservations = 0;
  let latest = now;
  for (const m of moves) {
    if (m.kind === "advance") {
      // Within 3.5 h of the start: a backend forgets an event its TTL (4 h here, the hours' coverage
      // and one hour) after its last write, which EventStore never does (spec §11).
      now = Math.min(now + m.ms, START + 3.5 * 3_600_000);
      latest = Math.max(latest, now);
      steps.push({ do: "set", to: new Date(now).toISOString() });
    } else if (m.kind === "record") {
      steps.push(
        m.agoMs === undefined
          ? { do: "record", id, count: m.count }
          : { do: "record", id, count: m.count, at: now - m.agoMs },
      );
    } else if (m.kind === "limit") {
      // A sliding window while the clock is behind an instant it has shown is estimated from now's
      // periods on Redis and from the ring's on EventStore (a documented difference): fixed then.
      const limiter = m.sliding === "no" || now < latest ? "l" : m.sliding === "one" ? "s" : "w";
      steps.push({ do: "limit", limiter, terminal: "checkAndRecord", id, count: m.count });
    } else if (m.kind === "reserve") {
      reservations++;
      steps.push({ do: "reserve", limiter: "l", id, name: `r${reservations}`, count: m.count, ttl: "90s" });
    } else if (m.kind === "settle") {
      steps.push({ do: "settle", name: `r${reservations}`, how: m.how });
    } else {
      steps.push({ do: "query", id, range: [`last${m.unit}`, SIZES[m.unit]], terminal: "buckets" });
    }
  }
  steps.push(
    { do: "query", id, range: ["lastSeconds", 5], terminal: "buckets" },
    { do: "query", id, range: ["lastMinutes", 4], terminal: "buckets" },
    { do: "query", id, range: ["lastHours", 3], terminal: "buckets" },
    { do: "seen", id, what: "firstSeenAt" },
    { do: "seen", id, what: "lastSeenAt" },
  );
  return {
    name: "random",
    start: new Date(START).toISOString(),
    config: (b) => b.timeZone("UTC").trackSeconds(5).trackMinutes(4).trackHours(3),
    steps,
  };
}

/** Random scenarios of 1 to 40 moves; each run's event id comes from `nextId` (runs share a store). */
export function randomScenarios(nextId: () => string): fc.Arbitrary<Scenario> {
  return fc.array(move, { minLength: 1, maxLength: 40 }).map((moves) => scenarioOf(moves, nextId()));
}
