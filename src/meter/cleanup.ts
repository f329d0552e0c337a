/**
 * History cleanup (spec §8). `cleanupHistory` deletes rollup buckets whose end is at or before the
 * cut-off of their tier, interval state last moved before its cut-off, and processed-entry markers
 * created before theirs. It never touches stream rows, quarantine or definitions.
 *
 * Auto cleanup runs after a non-locked `processPending`, at most once per interval across every
 * process sharing the rollups: a namespace lease keeps two from running at once, and the watermark
 * `cleanup:last` (written only after success) says when the last one ran.
 */

import { TallyError } from "../errors.ts";
import type { Clock } from "../time/clock.ts";
import type { Retention } from "./options.ts";
import { isPlainObject } from "./payload.ts";
import type { CleanupPlan, CleanupResult, MeterRollups } from "./rollups.ts";
import { requireTime } from "./time-input.ts";

export interface CleanupOptions {
  before:
    | number
    | Date
    | string
    | {
        minute?: number | Date | string;
        hour?: number | Date | string;
        day?: number | Date | string;
        intervalState?: number | Date | string;
        markers?: number | Date | string;
      };
  /** Names to clean, every version. @default all */
  events?: string | readonly string[];
  /** Also clean interval state. @default true */
  intervalState?: boolean;
}

const TARGETS = ["minute", "hour", "day", "intervalState", "markers"] as const;

export function cleanupPlanOf(options: unknown): CleanupPlan {
  if (!isPlainObject(options)) throw new TallyError("INVALID_OPTION", "cleanupHistory needs { before }");
  const before: CleanupPlan["before"] = {};
  const raw = options.before;
  if (isPlainObject(raw)) {
    for (const target of TARGETS) {
      if (raw[target] !== undefined) before[target] = requireTime(raw[target], `before.${target}`);
    }
  } else {
    const ms = requireTime(raw, "before");
    for (const target of TARGETS) before[target] = ms;
  }
  const keepState = options.intervalState ?? true;
  if (typeof keepState !== "boolean") {
    throw new TallyError("INVALID_OPTION", `invalid intervalState ${String(keepState)}: pass true or false`);
  }
  if (!keepState) delete before.intervalState;
  let events: string[] | null = null;
  const rawEvents = options.events;
  if (rawEvents !== undefined && rawEvents !== null) {
    const list = typeof rawEvents === "string" ? [rawEvents] : rawEvents;
    if (!Array.isArray(list) || !list.every((e) => typeof e === "string" && e !== "")) {
      throw new TallyError("INVALID_OPTION", `invalid events ${String(rawEvents)}: pass a name or a list of names`);
    }
    events = list as string[];
  }
  return { events, before };
}

export interface AutoCleanupRun {
  rollups: MeterRollups;
  clock: Clock;
  namespace: string;
  retention: Retention;
  intervalMs: number;
  lockTtlMs: number;
  onError: (error: unknown) => void;
}

/** Runs auto cleanup when due; never throws (errors go to `onError`). Returns what it deleted, or null. */
export async function autoCleanup(run: AutoCleanupRun): Promise<CleanupResult | null> {
  try {
    const { rollups, clock, namespace, retention } = run;
    const now = clock.now();
    const lease = await rollups.acquireLease(`${namespace}:cleanup`, run.lockTtlMs, now);
    if (lease === null) return null;
    try {
      const watermarkKey = `${namespace}:cleanup:last`;
      const last = await rollups.readWatermark(watermarkKey);
      if (last !== null && last > now - run.intervalMs) return null;
      const result = await rollups.cleanup(namespace, {
        events: null,
        before: {
          minute: now - retention.minute,
          hour: now - retention.hour,
          day: now - retention.day,
          intervalState: now - retention.intervalState,
          markers: now - retention.minute,
        },
      });
      await rollups.writeWatermark(watermarkKey, now);
      return result;
    } finally {
      await rollups.releaseLease(lease).catch(() => {});
    }
  } catch (error) {
    try {
      run.onError(error);
    } catch {
      // A throwing handler must not turn a cleanup failure into a processing failure.
    }
    return null;
  }
}
