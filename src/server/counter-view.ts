/**
 * Counters as plain data for the CLI, the API and the dashboard: the sums over the last minute,
 * hour, day and week and ever, read through the public `Query` API. A unit the store does not
 * track reads as null instead of failing the whole row.
 */

import { isTallyError, TallyError } from "../errors.ts";
import type { EventStore } from "../index.ts";
import { isDuration } from "../time/duration.ts";

export type CounterUnit = "seconds" | "minutes" | "hours" | "days" | "weeks" | "months" | "years";

export interface CounterRow {
  id: string;
  lastMinute: number | null;
  lastHour: number | null;
  lastDay: number | null;
  lastWeek: number | null;
  ever: number | null;
  lastSeenAt: string | null;
  last?: { n: number; unit: CounterUnit; sum: number | null; buckets: number[] | null };
}

const UNIT_NAMES: readonly string[] = ["seconds", "minutes", "hours", "days", "weeks", "months", "years"];

/** A value the store may refuse for its configuration (an untracked unit) becomes null. */
function read<T>(get: () => T | undefined): T | null {
  try {
    return get() ?? null;
  } catch (error) {
    if (isTallyError(error) && error.code === "UNTRACKED_UNIT") return null;
    throw error;
  }
}

const LAST = {
  seconds: "lastSeconds",
  minutes: "lastMinutes",
  hours: "lastHours",
  days: "lastDays",
  weeks: "lastWeeks",
  months: "lastMonths",
  years: "lastYears",
} as const;

export function counterSums(
  store: EventStore,
  id: string,
  last: { n: number; unit: CounterUnit } | null = null,
): CounterRow {
  const query = store.query(id);
  const lastSeen = read(() => query.lastSeenAt());
  const row: CounterRow = {
    id,
    lastMinute: read(() => query.lastMinutes(1).sum()),
    lastHour: read(() => query.lastHours(1).sum()),
    lastDay: read(() => query.lastDays(1).sum()),
    lastWeek: read(() => query.lastDays(7).sum()),
    ever: read(() => query.ever().sum()),
    lastSeenAt: lastSeen === null ? null : new Date(lastSeen).toISOString(),
  };
  if (last !== null) {
    const range = () => query[LAST[last.unit]](last.n);
    row.last = { ...last, sum: read(() => range().sum()), buckets: read(() => range().buckets()) };
  }
  return row;
}

/** A limit window: a unit name ("minutes"), a duration ("15m", "1h") or `N:unit` ("3:days"). */
export function parseWindow(text: unknown, what = "window"): CounterUnit | [number, CounterUnit] | `${number}ms` {
  if (typeof text === "string" && UNIT_NAMES.includes(text)) return text as CounterUnit;
  if (typeof text === "string") {
    const pair = /^(\d+):([a-z]+)$/.exec(text);
    if (pair !== null && UNIT_NAMES.includes(pair[2] ?? "")) return [Number(pair[1]), pair[2] as CounterUnit];
  }
  if (isDuration(text)) return (typeof text === "number" ? `${text}ms` : text) as `${number}ms`;
  throw new TallyError(
    "INVALID_WINDOW",
    `invalid ${what} ${JSON.stringify(text)}: pass a duration like "30s", "15m", "1h", a unit name like "minutes", or "3:days"`,
    { details: { field: what } },
  );
}
