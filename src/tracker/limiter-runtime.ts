/**
 * What each limiter type does to a tracker's stored limiter state (spec §2.5, §2.6), resolved by
 * its string tag through a registry (never by class). All functions are pure: they return new
 * state objects and never mutate their inputs.
 */

import { TallyError } from "../errors.ts";
import { periodsFor } from "../time/calendar.ts";
import { formatDuration } from "../time/duration.ts";
import { PeriodCursor } from "../time/period-cursor.ts";
import type { TimeUnit } from "../time/units.ts";
import { isPlainObject } from "./key-path.ts";
import { type CalendarPer, type LimiterDefinition, type LimiterSnapshot, parsePer } from "./limiters.ts";

/** Stored per-limiter state: `remaining` (count) or `windowStart`/`used` (quota); time keeps none. */
export interface LimiterState {
  remaining?: number;
  windowStart?: number | null;
  used?: number;
}

interface LimiterType {
  /** Checks a stored definition (UNKNOWN_TYPE / shape errors fail loudly). */
  read(def: Record<string, unknown>): LimiterDefinition;
  initial(def: LimiterDefinition): LimiterState;
  /** Fills what is known only at addTracker (TimeLimiter start). */
  resolve(def: LimiterDefinition, now: number): LimiterDefinition;
  blocks(def: LimiterDefinition, state: LimiterState, now: number): boolean;
  /** Post-step: one matching event counted. */
  consume(def: LimiterDefinition, state: LimiterState, now: number): LimiterState;
  /** Exhausted after a consume (count remaining <= 0, quota used >= max). */
  exhausted(def: LimiterDefinition, state: LimiterState, now: number): boolean;
  /** Automatic refill at a stage advance with the LIMITER bit. */
  refill(def: LimiterDefinition, state: LimiterState): LimiterState;
  /** Manual LIMITER reset; `resetCount` replaces a CountLimiter's count for good. */
  reset(
    def: LimiterDefinition,
    state: LimiterState,
    now: number,
    resetCount?: number,
  ): [LimiterDefinition, LimiterState];
  snapshot(def: LimiterDefinition, state: LimiterState, now: number): LimiterSnapshot;
}

const UNIT_OF: Record<CalendarPer, TimeUnit> = {
  "1m": "minutes",
  "1h": "hours",
  "1d": "days",
  "1w": "weeks",
  "1mo": "months",
};
const cursors = new WeakMap<object, PeriodCursor>();

/** The quota window [start, end) containing t. */
export function quotaWindow(def: Extract<LimiterDefinition, { type: "quota" }>, t: number): [number, number] {
  if (typeof def.per === "object") {
    const every = def.per.every;
    const start = Math.floor(t / every) * every;
    return [start, start + every];
  }
  let cursor = cursors.get(def);
  if (cursor === undefined) {
    cursor = new PeriodCursor(periodsFor("calendar", def.timeZone), UNIT_OF[def.per]);
    cursors.set(def, cursor);
  }
  cursor.ordinalAt(t);
  return [cursor.periodStart, cursor.nextBoundary];
}

/** Used count in the window that contains `now`; the stored window wins if `now` went back before it. */
function quotaUsed(def: Extract<LimiterDefinition, { type: "quota" }>, state: LimiterState, now: number) {
  const [start, end] = quotaWindow(def, now);
  const stored = state.windowStart ?? null;
  if (stored === null || start > stored) return { used: 0, windowStart: start, windowEnd: end };
  if (start === stored) return { used: state.used ?? 0, windowStart: start, windowEnd: end };
  const [, storedEnd] = quotaWindow(def, stored);
  return { used: state.used ?? 0, windowStart: stored, windowEnd: storedEnd };
}

const count: LimiterType = {
  read(def) {
    const n = def.count;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) throw corrupt(def);
    return { type: "count", count: n };
  },
  initial: (def) => ({ remaining: (def as { count: number }).count }),
  resolve: (def) => def,
  blocks: (_def, state) => (state.remaining ?? 0) <= 0,
  consume: (_def, state) => ({ remaining: Math.max(0, (state.remaining ?? 0) - 1) }),
  exhausted: (_def, state) => (state.remaining ?? 0) <= 0,
  refill: (def) => ({ remaining: (def as { count: number }).count }),
  reset(def, _state, _now, resetCount) {
    const next = resetCount === undefined ? def : { type: "count" as const, count: resetCount };
    return [next, { remaining: (next as { count: number }).count }];
  },
  snapshot: (def, state) => ({
    type: "count",
    count: (def as { count: number }).count,
    remaining: state.remaining ?? 0,
  }),
};

const time: LimiterType = {
  read(def) {
    const ok = (v: unknown) => v === null || (typeof v === "number" && Number.isFinite(v));
    if (!ok(def.startTs) || !ok(def.endTs) || !ok(def.interval ?? null)) throw corrupt(def);
    return {
      type: "time",
      startTs: def.startTs as number | null,
      endTs: def.endTs as number | null,
      interval: (def.interval ?? null) as number | null,
    };
  },
  initial: () => ({}),
  resolve(def, now) {
    const d = def as Extract<LimiterDefinition, { type: "time" }>;
    const startTs = d.startTs ?? now;
    const endTs = d.endTs ?? startTs + (d.interval ?? 0);
    return { type: "time", startTs, endTs, interval: d.interval };
  },
  blocks(def, _state, now) {
    const d = def as Extract<LimiterDefinition, { type: "time" }>;
    return (d.startTs !== null && now < d.startTs) || (d.endTs !== null && now > d.endTs);
  },
  consume: (_def, state) => state,
  exhausted: () => false,
  refill: (_def, state) => state,
  reset: (def, state) => [def, state],
  snapshot(def) {
    const d = def as Extract<LimiterDefinition, { type: "time" }>;
    return { type: "time", startTs: d.startTs, endTs: d.endTs };
  },
};

const quota: LimiterType = {
  read(def) {
    if (typeof def.max !== "number" || !Number.isInteger(def.max) || def.max < 1 || typeof def.timeZone !== "string") {
      throw corrupt(def);
    }
    return { type: "quota", max: def.max, per: parsePer(def.per), timeZone: def.timeZone };
  },
  initial: () => ({ windowStart: null, used: 0 }),
  resolve: (def) => def,
  blocks(def, state, now) {
    const d = def as Extract<LimiterDefinition, { type: "quota" }>;
    return quotaUsed(d, state, now).used >= d.max;
  },
  consume(def, state, now) {
    const q = quotaUsed(def as Extract<LimiterDefinition, { type: "quota" }>, state, now);
    return { windowStart: q.windowStart, used: q.used + 1 };
  },
  exhausted(def, state, now) {
    const d = def as Extract<LimiterDefinition, { type: "quota" }>;
    return quotaUsed(d, state, now).used >= d.max;
  },
  refill: (_def, state) => state,
  reset(def, state, now) {
    const q = quotaUsed(def as Extract<LimiterDefinition, { type: "quota" }>, state, now);
    return [def, { windowStart: q.windowStart, used: 0 }];
  },
  snapshot(def, state, now) {
    const d = def as Extract<LimiterDefinition, { type: "quota" }>;
    const q = quotaUsed(d, state, now);
    const per = typeof d.per === "string" ? d.per : `every ${formatDuration(d.per.every)}`;
    return {
      type: "quota",
      max: d.max,
      per,
      timeZone: d.timeZone,
      used: q.used,
      remaining: Math.max(0, d.max - q.used),
      windowStart: q.windowStart,
      windowEnd: q.windowEnd,
    };
  },
};

const registry = new Map<string, LimiterType>([
  ["count", count],
  ["time", time],
  ["quota", quota],
]);

export function limiterType(type: string): LimiterType {
  const found = registry.get(type);
  if (found === undefined) {
    throw new TallyError(
      "UNKNOWN_TYPE",
      `unknown limiter type ${JSON.stringify(type)}: this version of tally cannot read it`,
      {
        details: { type },
      },
    );
  }
  return found;
}

/** Reads a stored limiter definition, failing loudly on unknown types. */
export function readLimiter(def: unknown): LimiterDefinition {
  if (!isPlainObject(def) || typeof def.type !== "string") throw corrupt(def);
  return limiterType(def.type).read(def);
}

function corrupt(def: unknown): TallyError {
  return new TallyError("UNKNOWN_TYPE", `stored limiter ${JSON.stringify(def)} has an unreadable shape`, {
    details: { def },
  });
}
