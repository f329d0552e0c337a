/**
 * Limit windows (spec §3): a unit means `[1, unit]`; a tuple `[n, unit]` needs an integer n >= 1; a
 * duration maps to the largest of seconds, minutes, hours, days that divides it exactly and is
 * tracked ("7d" -> [7, "days"], never weeks: "7d" means seven days, not "this calendar week").
 *
 * Errors: a tuple unit that is not a unit `INVALID_UNIT`; a unit the store does not track, or a
 * duration no tracked unit divides, `UNTRACKED_UNIT`; a bad count, a duration that is not a whole
 * positive number of seconds, or anything that is neither unit nor duration, `INVALID_WINDOW`.
 * `checkWindowFits` rejects windows longer than the tracked buckets (`INVALID_WINDOW`).
 */

import { TallyError } from "../errors.ts";
import { type Duration, isDuration, toMs } from "../time/duration.ts";
import { isTimeUnit, NOMINAL_MS, type TimeUnit, toTimeUnit } from "../time/units.ts";

export type Window = TimeUnit | readonly [count: number, unit: TimeUnit] | Duration;

export interface WindowSpec {
  readonly count: number;
  readonly unit: TimeUnit;
}

/** Units a duration may map to, coarsest first. */
const DURATION_UNITS: readonly TimeUnit[] = ["days", "hours", "minutes", "seconds"];

/** Resolves a window against the tracked units. */
export function resolveWindow(window: unknown, isTracked: (unit: TimeUnit) => boolean): WindowSpec {
  if (isTimeUnit(window)) return tracked({ count: 1, unit: window }, isTracked);
  if (Array.isArray(window)) {
    if (window.length !== 2) throw invalidWindow(window, "a tuple window is [count, unit]");
    const [count, unitValue] = window as [unknown, unknown];
    const unit = toTimeUnit(unitValue, "window unit");
    if (typeof count !== "number" || !Number.isInteger(count) || count < 1) {
      throw invalidWindow(window, "the count of a [count, unit] window must be an integer >= 1");
    }
    return tracked({ count, unit }, isTracked);
  }
  if (isDuration(window)) {
    const ms = toMs(window, "window");
    if (ms <= 0 || ms % 1000 !== 0) {
      throw invalidWindow(window, "a duration window must be a whole, positive number of seconds");
    }
    for (const unit of DURATION_UNITS) {
      const size = NOMINAL_MS[unit];
      if (ms % size === 0 && isTracked(unit)) return { count: ms / size, unit };
    }
    throw new TallyError(
      "UNTRACKED_UNIT",
      `window ${JSON.stringify(window)} needs a tracked unit that divides it (seconds, minutes, hours or days): track one with trackSeconds(n)/trackMinutes(n)/trackHours(n)/trackDays(n)`,
      { details: { window } },
    );
  }
  throw invalidWindow(window, 'pass a unit ("minutes"), a tuple ([7, "days"]) or a duration ("15m", "7d")');
}

/** Throws `INVALID_WINDOW` when the window needs more buckets than tracked (sliding: one more). */
export function checkWindowFits(spec: WindowSpec, bucketCount: number, sliding: boolean): void {
  const needed = sliding ? spec.count + 1 : spec.count;
  if (needed <= bucketCount) return;
  throw new TallyError(
    "INVALID_WINDOW",
    `a ${sliding ? "sliding " : ""}window of ${spec.count} ${spec.unit} needs ${needed} ${spec.unit} buckets but the store tracks ${bucketCount}: track more with track${capitalised(spec.unit)}(${needed})`,
    { details: { window: spec, bucketCount, sliding } },
  );
}

export function formatWindow(spec: WindowSpec): string {
  return spec.count === 1 ? `1 ${spec.unit.slice(0, -1)}` : `${spec.count} ${spec.unit}`;
}

function tracked(spec: WindowSpec, isTracked: (unit: TimeUnit) => boolean): WindowSpec {
  if (isTracked(spec.unit)) return spec;
  throw new TallyError(
    "UNTRACKED_UNIT",
    `the store does not track ${spec.unit}: track them with track${capitalised(spec.unit)}(n) or use a window of a tracked unit`,
    { details: { unit: spec.unit } },
  );
}

function capitalised(unit: TimeUnit): string {
  return unit[0]!.toUpperCase() + unit.slice(1);
}

function invalidWindow(window: unknown, hint: string): TallyError {
  return new TallyError("INVALID_WINDOW", `invalid window ${JSON.stringify(window) ?? String(window)}: ${hint}`, {
    details: { window },
  });
}
