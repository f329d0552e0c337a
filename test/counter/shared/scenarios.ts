/**
 * One table of behaviour scenarios (spec §4–6) run against the in-process `EventStore` and the
 * `SharedEventStore` on Redis: the same operations under a TestClock must give the same answers.
 * A step is data; `expect` pins a few answers so the table also checks the spec, not only agreement.
 */

import { Schedule } from "../../../src/time/schedule.ts";

export type Range = [method: string, ...args: number[]];
export type Step =
  | { do: "record"; id: string; count?: number; at?: number; ago?: string }
  | { do: "advance"; by: string | number }
  | { do: "set"; to: string }
  | {
      do: "query";
      id: string;
      range: Range;
      terminal: "sum" | "buckets" | "average" | "averageNonzero" | "countNonzero";
      take?: number;
      expect?: unknown;
    }
  | { do: "many"; ids: string[]; range: Range; terminal: "sum" | "buckets"; expect?: unknown }
  | { do: "ratio" | "delta"; a: string; b: string; range: Range; expect?: unknown }
  | {
      do: "seen";
      id: string;
      what: "lastSeen" | "firstSeen" | "lastSeenAt" | "firstSeenAt" | "firstSeenIn";
      unit?: string;
      expect?: unknown;
    }
  | {
      do: "limit";
      limiter: string;
      terminal: "check" | "checkAndRecord" | "allowed" | "usage";
      id: string;
      count?: number;
      expect?: unknown;
    }
  | { do: "reserve"; limiter: string; id: string; name: string; count?: number; ttl?: string; expect?: unknown }
  | { do: "settle"; name: string; how: "commit" | "cancel" | "state"; expect?: unknown }
  | { do: "define"; limiter: string; build: (l: LimiterLike) => unknown };

export interface LimiterLike {
  atMost(id: string, limit: number, window: unknown, options?: { sliding?: boolean }): LimiterLike;
  atLeast(id: string, count: number, window: unknown): LimiterLike;
  cooldown(id: string, d: string | number): LimiterLike;
  within(id: string, d: string | number): LimiterLike;
  during(s: Schedule): LimiterLike;
  outsideOf(s: Schedule): LimiterLike;
}

export interface BuilderLike {
  forRateLimiting(): BuilderLike;
  timeZone(zone: string): BuilderLike;
  alignment(a: "calendar" | "uniform"): BuilderLike;
  trackSeconds(n: number): BuilderLike;
  trackMinutes(n: number): BuilderLike;
  trackHours(n: number): BuilderLike;
  trackDays(n: number): BuilderLike;
  trackWeeks(n: number): BuilderLike;
  trackMonths(n: number): BuilderLike;
}

export interface Scenario {
  name: string;
  start?: string;
  config: (b: BuilderLike) => BuilderLike;
  steps: Step[];
}

const rate = (b: BuilderLike) => b.forRateLimiting().timeZone("UTC");

export const SCENARIOS: Scenario[] = [
  {
    name: "records and range queries",
    config: rate,
    steps: [
      { do: "query", id: "a", range: ["lastMinutes", 5], terminal: "sum", expect: undefined },
      { do: "record", id: "a" },
      { do: "record", id: "a", count: 4 },
      { do: "record", id: "z", count: 0 },
      { do: "advance", by: "61s" },
      { do: "record", id: "a", count: 2 },
      { do: "advance", by: "2m" },
      { do: "record", id: "a" },
      { do: "query", id: "a", range: ["lastMinutes", 5], terminal: "sum", expect: 8 },
      { do: "query", id: "a", range: ["lastMinutes", 5], terminal: "buckets", expect: [1, 0, 2, 5, 0] },
      { do: "query", id: "a", range: ["lastMinutes", 5], terminal: "average" },
      { do: "query", id: "a", range: ["lastMinutes", 5], terminal: "averageNonzero" },
      { do: "query", id: "a", range: ["lastMinutes", 5], terminal: "countNonzero", expect: 3 },
      { do: "query", id: "a", range: ["minutes", 1, 4], terminal: "buckets" },
      { do: "query", id: "a", range: ["minutesFrom", 2], terminal: "sum" },
      { do: "query", id: "a", range: ["minutesFrom", 2], terminal: "buckets", take: 3 },
      { do: "query", id: "a", range: ["lastSeconds", 60], terminal: "sum" },
      { do: "query", id: "a", range: ["ever"], terminal: "sum", expect: 8 },
      { do: "query", id: "a", range: ["lastDays", 1], terminal: "sum", expect: undefined },
      { do: "query", id: "a", range: ["minutes", 70, 80], terminal: "average", expect: undefined },
      { do: "query", id: "z", range: ["lastHours", 2], terminal: "sum", expect: 0 },
      { do: "query", id: "z", range: ["lastHours", 2], terminal: "averageNonzero", expect: undefined },
      { do: "query", id: "a", range: ["lastMinutes", 0], terminal: "sum" },
      { do: "query", id: "", range: ["lastMinutes", 1], terminal: "sum" },
      { do: "advance", by: "30h" },
      { do: "query", id: "a", range: ["ever"], terminal: "sum", expect: 0 },
    ],
  },
  {
    name: "past records, first and last seen, clock going back",
    config: (b) => b.timeZone("Europe/Berlin").trackMinutes(60).trackHours(48).trackDays(14),
    start: "2024-03-30T20:00:00Z",
    steps: [
      { do: "record", id: "e", ago: "3h" },
      { do: "record", id: "e", count: 2, ago: "90m" },
      { do: "record", id: "e", at: Date.parse("2024-03-30T10:00:00Z") },
      { do: "record", id: "e", at: Date.parse("2024-03-01T10:00:00Z") },
      { do: "record", id: "e", at: Date.parse("2024-03-30T21:00:00Z") },
      { do: "record", id: "e", count: -1 },
      { do: "query", id: "e", range: ["lastHours", 48], terminal: "sum", expect: 4 },
      { do: "query", id: "e", range: ["lastDays", 1], terminal: "sum" },
      { do: "query", id: "e", range: ["lastMinutes", 60], terminal: "sum", expect: 0 },
      { do: "seen", id: "e", what: "firstSeenAt" },
      { do: "seen", id: "e", what: "lastSeen", expect: 90 * 60_000 },
      { do: "seen", id: "e", what: "firstSeenIn", unit: "hours" },
      { do: "seen", id: "e", what: "firstSeenIn", unit: "days" },
      { do: "seen", id: "e", what: "firstSeenIn", unit: "weeks" },
      { do: "advance", by: "5h" },
      { do: "record", id: "e" },
      { do: "query", id: "e", range: ["lastDays", 2], terminal: "buckets" },
      { do: "query", id: "e", range: ["lastHours", 8], terminal: "buckets" },
      { do: "set", to: "2024-03-30T18:00:00Z" },
      { do: "record", id: "e", count: 3 },
      { do: "record", id: "e", ago: "1h" },
      { do: "query", id: "e", range: ["lastHours", 8], terminal: "buckets" },
      { do: "seen", id: "e", what: "lastSeen" },
    ],
  },
  {
    name: "queryMany, ratio and delta",
    config: rate,
    steps: [
      { do: "record", id: "visits", count: 10 },
      { do: "record", id: "buys", count: 3 },
      { do: "record", id: "out", count: 4 },
      { do: "many", ids: ["visits", "buys", "visits", "none"], range: ["lastMinutes", 2], terminal: "sum", expect: 13 },
      { do: "many", ids: ["none", "other"], range: ["lastMinutes", 2], terminal: "sum", expect: undefined },
      { do: "ratio", a: "buys", b: "visits", range: ["lastMinutes", 1], expect: 0.3 },
      { do: "ratio", a: "none", b: "visits", range: ["lastMinutes", 1], expect: 0 },
      { do: "ratio", a: "buys", b: "none", range: ["lastMinutes", 1], expect: undefined },
      { do: "delta", a: "buys", b: "out", range: ["lastMinutes", 1], expect: -1 },
      { do: "delta", a: "buys", b: "none", range: ["lastDays", 1], expect: 0 },
    ],
  },
  {
    name: "fixed windows, two at once, counts and retryAfter",
    config: rate,
    start: "2024-01-01T10:00:20Z",
    steps: [
      { do: "define", limiter: "api", build: (l) => l.atMost("api", 3, "minutes").atMost("api", 5, "hours") },
      { do: "limit", limiter: "api", terminal: "checkAndRecord", id: "api", expect: { ok: true } },
      { do: "limit", limiter: "api", terminal: "checkAndRecord", id: "api", count: 2 },
      { do: "limit", limiter: "api", terminal: "checkAndRecord", id: "api" },
      { do: "limit", limiter: "api", terminal: "check", id: "api" },
      { do: "limit", limiter: "api", terminal: "allowed", id: "api", expect: false },
      { do: "limit", limiter: "api", terminal: "usage", id: "api", expect: { count: 3, limit: 3, remaining: 0 } },
      { do: "advance", by: "40s" },
      { do: "limit", limiter: "api", terminal: "checkAndRecord", id: "api", count: 3 },
      { do: "limit", limiter: "api", terminal: "checkAndRecord", id: "api", count: 2 },
      { do: "limit", limiter: "api", terminal: "checkAndRecord", id: "api" },
      { do: "limit", limiter: "api", terminal: "usage", id: "api" },
      { do: "limit", limiter: "api", terminal: "checkAndRecord", id: "api", count: 9 },
      { do: "define", limiter: "window", build: (l) => l.atMost("api", 4, [3, "minutes"]).atMost("other", 0, "15m") },
      { do: "limit", limiter: "window", terminal: "check", id: "api" },
      { do: "limit", limiter: "window", terminal: "check", id: "other" },
      { do: "define", limiter: "bad", build: (l) => l.atMost("api", 3, "days") },
      { do: "define", limiter: "bad2", build: (l) => l.atMost("api", 3, [61, "minutes"]) },
      { do: "define", limiter: "bad3", build: (l) => l.atMost("api", -1, "minutes") },
      { do: "define", limiter: "none", build: (l) => l.atLeast("api", 1, "minutes") },
      { do: "limit", limiter: "none", terminal: "usage", id: "api" },
    ],
  },
  {
    name: "atLeast, cooldown, within and schedules",
    config: rate,
    start: "2024-01-01T16:59:00Z",
    steps: [
      {
        do: "define",
        limiter: "gate",
        build: (l) =>
          l
            .atLeast("login", 1, "hours")
            .within("cart", "30m")
            .cooldown("checkout", "10m")
            .during(Schedule.hours(9, 17)),
      },
      { do: "limit", limiter: "gate", terminal: "check", id: "checkout" },
      { do: "record", id: "login" },
      { do: "record", id: "cart" },
      { do: "limit", limiter: "gate", terminal: "checkAndRecord", id: "checkout", expect: { ok: true } },
      { do: "advance", by: "2m" },
      { do: "limit", limiter: "gate", terminal: "checkAndRecord", id: "checkout" },
      { do: "advance", by: "9m" },
      { do: "limit", limiter: "gate", terminal: "check", id: "checkout" },
      { do: "define", limiter: "night", build: (l) => l.outsideOf(Schedule.hours(9, 17)).cooldown("checkout", "1m") },
      { do: "limit", limiter: "night", terminal: "checkAndRecord", id: "checkout" },
      { do: "advance", by: "30m" },
      { do: "limit", limiter: "gate", terminal: "check", id: "checkout" },
    ],
  },
  {
    name: "reservations: pending counts, commit, cancel, expiry",
    config: rate,
    steps: [
      { do: "define", limiter: "r", build: (l) => l.atMost("job", 3, "minutes").cooldown("job", "5s") },
      { do: "define", limiter: "plain", build: (l) => l.atMost("job", 3, "minutes") },
      { do: "reserve", limiter: "plain", id: "job", name: "a", ttl: "20s" },
      { do: "reserve", limiter: "plain", id: "job", name: "b", count: 2 },
      { do: "reserve", limiter: "plain", id: "job", name: "c" },
      { do: "limit", limiter: "plain", terminal: "usage", id: "job", expect: { count: 3, limit: 3, remaining: 0 } },
      { do: "query", id: "job", range: ["lastMinutes", 1], terminal: "sum", expect: 0 },
      { do: "limit", limiter: "r", terminal: "check", id: "job" },
      { do: "settle", name: "b", how: "cancel", expect: true },
      { do: "settle", name: "b", how: "commit", expect: false },
      { do: "settle", name: "b", how: "state", expect: "cancelled" },
      { do: "advance", by: "6s" },
      { do: "reserve", limiter: "r", id: "job", name: "d" },
      { do: "settle", name: "d", how: "commit", expect: true },
      { do: "advance", by: "15s" },
      { do: "settle", name: "a", how: "state", expect: "expired" },
      { do: "settle", name: "a", how: "commit", expect: false },
      { do: "settle", name: "a", how: "state" },
      { do: "query", id: "job", range: ["lastMinutes", 1], terminal: "sum", expect: 2 },
      { do: "limit", limiter: "plain", terminal: "usage", id: "job" },
      { do: "reserve", limiter: "plain", id: "job", name: "e", count: 5 },
      { do: "reserve", limiter: "plain", id: "job", name: "f", count: 0 },
      { do: "query", id: "fresh", range: ["lastMinutes", 1], terminal: "sum", expect: undefined },
      { do: "reserve", limiter: "plain", id: "fresh", name: "g" },
      { do: "settle", name: "g", how: "cancel", expect: true },
      { do: "query", id: "fresh", range: ["lastMinutes", 1], terminal: "sum", expect: 0 },
    ],
  },
  {
    name: "sliding windows from the next finer unit",
    config: rate,
    start: "2024-01-01T10:00:00Z",
    steps: [
      { do: "define", limiter: "s", build: (l) => l.atMost("s", 10, "minutes", { sliding: true }) },
      { do: "define", limiter: "h", build: (l) => l.atMost("s", 12, [2, "hours"], { sliding: true }) },
      { do: "record", id: "s", count: 4 },
      { do: "advance", by: "20s" },
      { do: "record", id: "s", count: 3 },
      { do: "advance", by: "25s" },
      { do: "limit", limiter: "s", terminal: "checkAndRecord", id: "s", count: 3 },
      { do: "limit", limiter: "s", terminal: "check", id: "s" },
      { do: "advance", by: "30s" },
      { do: "limit", limiter: "s", terminal: "usage", id: "s" },
      { do: "limit", limiter: "s", terminal: "check", id: "s", count: 2 },
      { do: "advance", by: "17s" },
      { do: "limit", limiter: "s", terminal: "usage", id: "s" },
      { do: "limit", limiter: "s", terminal: "check", id: "s", count: 9 },
      { do: "advance", by: "50m" },
      { do: "record", id: "s", count: 2 },
      { do: "advance", by: "70m" },
      { do: "limit", limiter: "h", terminal: "usage", id: "s" },
      { do: "limit", limiter: "h", terminal: "check", id: "s", count: 10 },
      { do: "advance", by: "45m" },
      { do: "limit", limiter: "h", terminal: "usage", id: "s" },
      { do: "limit", limiter: "h", terminal: "check", id: "s", count: 11 },
    ],
  },
  {
    name: "calendar days and weeks across a DST change",
    config: (b) => b.timeZone("America/New_York").trackHours(72).trackDays(14).trackWeeks(4),
    start: "2024-03-09T22:00:00-05:00",
    steps: [
      { do: "define", limiter: "d", build: (l) => l.atMost("x", 5, "days").atMost("x", 6, "weeks") },
      { do: "limit", limiter: "d", terminal: "checkAndRecord", id: "x", count: 5 },
      { do: "limit", limiter: "d", terminal: "check", id: "x" },
      { do: "advance", by: "5h" },
      { do: "limit", limiter: "d", terminal: "checkAndRecord", id: "x" },
      { do: "limit", limiter: "d", terminal: "checkAndRecord", id: "x" },
      { do: "query", id: "x", range: ["lastDays", 3], terminal: "buckets" },
      { do: "query", id: "x", range: ["lastHours", 8], terminal: "buckets" },
      { do: "advance", by: "2d" },
      { do: "limit", limiter: "d", terminal: "check", id: "x" },
      { do: "seen", id: "x", what: "firstSeenIn", unit: "days" },
    ],
  },
];
