/**
 * Limiters are values (spec §1.5): a constructed limiter never changes, and its live state
 * (`remaining`, `used`) lives in the tracker that holds it (read it from a copy's `limiters`).
 * Each class compiles to a tagged definition, which is what a tracker stores.
 */

import { TallyError } from "../errors.ts";
import { systemTimeZone, TimeZone } from "../time/calendar.ts";
import { type Duration, toMs } from "../time/duration.ts";

export type CalendarPer = "1m" | "1h" | "1d" | "1w" | "1mo";
export type QuotaPer = CalendarPer | { every: number };

export type LimiterDefinition =
  | { type: "count"; count: number }
  | { type: "time"; startTs: number | null; endTs: number | null; interval: number | null }
  | { type: "quota"; max: number; per: QuotaPer; timeZone: string };

export type LimiterSnapshot =
  | { type: "count"; count: number; remaining: number }
  | { type: "time"; startTs: number | null; endTs: number | null }
  | {
      type: "quota";
      max: number;
      per: string;
      timeZone: string;
      used: number;
      remaining: number;
      windowStart: number | null;
      windowEnd: number | null;
    };

export const CALENDAR_PERS: readonly CalendarPer[] = Object.freeze(["1m", "1h", "1d", "1w", "1mo"]);

/** Allows at most `count` matching events until a LIMITER reset (by default: every stage). */
export class CountLimiter {
  readonly type = "count" as const;
  readonly count: number;
  constructor(count: number) {
    if (typeof count !== "number" || !Number.isInteger(count) || count < 1) {
      throw new TallyError("INVALID_LIMITER", `CountLimiter count ${JSON.stringify(count)} must be an integer >= 1`, {
        details: { count },
      });
    }
    this.count = count;
    Object.freeze(this);
  }
  toJSON(): LimiterDefinition {
    return { type: "count", count: this.count };
  }
}

/**
 * Counts only inside `[startTs, endTs]` (both inclusive): an activity window, not a rate. The
 * window is fixed once the tracker is added: an omitted `startTs` becomes the manager clock's
 * `now` at `addTracker`, and stage advances never move it.
 */
export class TimeLimiter {
  readonly type = "time" as const;
  readonly startTs: number | null;
  readonly endTs: number | null;
  readonly interval: number | null;
  constructor(opts: { startTs?: number; endTs?: number; interval?: Duration }) {
    const o = (opts ?? {}) as { startTs?: unknown; endTs?: unknown; interval?: unknown };
    const hasEnd = o.endTs !== undefined;
    const hasInterval = o.interval !== undefined;
    if (hasEnd === hasInterval) {
      throw new TallyError("INVALID_LIMITER", "TimeLimiter takes exactly one of endTs and interval", {
        details: { opts },
      });
    }
    const start = o.startTs === undefined ? null : instant(o.startTs, "startTs");
    let interval: number | null = null;
    if (hasInterval) {
      try {
        interval = toMs(o.interval, "TimeLimiter interval");
      } catch (cause) {
        throw new TallyError(
          "INVALID_LIMITER",
          `TimeLimiter interval ${JSON.stringify(o.interval)} is not a duration`,
          {
            cause,
          },
        );
      }
      if (interval <= 0) throw new TallyError("INVALID_LIMITER", "TimeLimiter interval must be > 0");
    }
    let end = hasEnd ? instant(o.endTs, "endTs") : null;
    if (end === null && start !== null && interval !== null) end = start + interval;
    if (start !== null && end !== null && start >= end) {
      throw new TallyError("INVALID_LIMITER", `TimeLimiter startTs ${start} must be before endTs ${end}`, {
        details: { startTs: start, endTs: end },
      });
    }
    this.startTs = start;
    this.endTs = end;
    this.interval = interval;
    Object.freeze(this);
  }
  toJSON(): LimiterDefinition {
    return { type: "time", startTs: this.startTs, endTs: this.endTs, interval: this.interval };
  }
}

/**
 * At most `max` matching events per window. Calendar windows ("1m" … "1mo") follow `timeZone`
 * (weeks start on Monday, DST-correct), the same periods as the counter's buckets; `{ every }`
 * gives fixed windows at multiples of the duration since the Unix epoch.
 */
export class QuotaLimiter {
  readonly type = "quota" as const;
  readonly max: number;
  readonly per: QuotaPer;
  readonly timeZone: string;
  constructor(opts: { max: number; per: CalendarPer | { every: Duration }; timeZone?: string }) {
    const o = (opts ?? {}) as { max?: unknown; per?: unknown; timeZone?: unknown };
    if (typeof o.max !== "number" || !Number.isInteger(o.max) || o.max < 1) {
      throw new TallyError("INVALID_LIMITER", `QuotaLimiter max ${JSON.stringify(o.max)} must be an integer >= 1`);
    }
    this.max = o.max;
    this.per = parsePer(o.per);
    const zone = o.timeZone ?? (typeof this.per === "string" ? systemTimeZone() : "UTC");
    try {
      this.timeZone = TimeZone.of(zone as string).name;
    } catch (cause) {
      throw new TallyError("INVALID_LIMITER", `QuotaLimiter timeZone ${JSON.stringify(zone)} is not an IANA zone`, {
        cause,
      });
    }
    Object.freeze(this);
  }
  toJSON(): LimiterDefinition {
    const per = typeof this.per === "string" ? this.per : { every: this.per.every };
    return { type: "quota", max: this.max, per, timeZone: this.timeZone };
  }
}

export type Limiter = CountLimiter | TimeLimiter | QuotaLimiter;

export function parsePer(per: unknown): QuotaPer {
  if (typeof per === "string" && (CALENDAR_PERS as readonly string[]).includes(per)) return per as CalendarPer;
  if (typeof per === "object" && per !== null && "every" in per) {
    let every: number;
    try {
      every = toMs((per as { every: unknown }).every, "QuotaLimiter every");
    } catch (cause) {
      throw new TallyError("INVALID_LIMITER", `QuotaLimiter per.every is not a duration`, { cause });
    }
    if (every < 1 || !Number.isInteger(every)) {
      throw new TallyError("INVALID_LIMITER", "QuotaLimiter per.every must be a whole number of ms >= 1");
    }
    return { every };
  }
  throw new TallyError(
    "INVALID_LIMITER",
    `QuotaLimiter per ${JSON.stringify(per)} is unknown: use "1m", "1h", "1d", "1w", "1mo" or { every: "90s" }`,
    { details: { per } },
  );
}

function instant(value: unknown, what: string): number {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  throw new TallyError("INVALID_LIMITER", `TimeLimiter ${what} ${JSON.stringify(value)} must be epoch milliseconds`);
}
