/**
 * The bucket geometry of a store: which units it tracks and how many buckets each keeps, plus the
 * defaults and presets of spec §7. A `Layout` is the geometry compiled for the slab: units finest
 * first, each with its bucket count and its offset inside one ring set of `total` uint32 counts.
 */

import { TallyError } from "../errors.ts";
import { NOMINAL_MS, TIME_UNITS, type TimeUnit } from "../time/units.ts";

export const MAX_BUCKETS = 1_000_000;

export type UnitCounts = Partial<Record<TimeUnit, number>>;

/** 60 minutes, 72 hours, 56 days, 52 weeks, 12 months, 4 years: 256 buckets. */
export const DEFAULT_UNITS: Readonly<UnitCounts> = Object.freeze({
  minutes: 60,
  hours: 72,
  days: 56,
  weeks: 52,
  months: 12,
  years: 4,
});

/** Seconds make sliding minute limits precise. */
export const RATE_LIMITING_UNITS: Readonly<UnitCounts> = Object.freeze({ seconds: 60, minutes: 60, hours: 24 });

/** 30-day and year-over-year reads. */
export const ANALYTICS_UNITS: Readonly<UnitCounts> = Object.freeze({ days: 90, weeks: 52, months: 24 });

export interface Layout {
  /** Tracked units, finest first. */
  readonly units: readonly TimeUnit[];
  readonly sizes: Int32Array;
  /** Start of unit u's ring of older buckets (its head is at index u). */
  readonly offsets: Int32Array;
  /** Buckets in one ring set. */
  readonly total: number;
  /** Index of each of the seven units (TIME_UNITS order) in `units`, or -1 when untracked. */
  readonly indexOf: Int8Array;
  /** Index of the unit with the longest coverage (ties go to the coarser unit). */
  readonly everIndex: number;
}

export function validateBucketCount(n: unknown, unit: TimeUnit): number {
  if (typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= MAX_BUCKETS) return n;
  throw new TallyError(
    "INVALID_CONFIG",
    `invalid bucket count ${String(n)} for ${unit}: pass an integer from 1 to ${MAX_BUCKETS}`,
    { details: { unit, value: n } },
  );
}

export function makeLayout(counts: UnitCounts): Layout {
  const units = TIME_UNITS.filter((u) => counts[u] !== undefined);
  if (units.length === 0) throw new TallyError("INVALID_CONFIG", "a store must track at least one unit");
  const sizes = new Int32Array(units.length);
  const offsets = new Int32Array(units.length);
  const indexOf = new Int8Array(TIME_UNITS.length).fill(-1);
  let total = units.length;
  let everIndex = 0;
  let best = -1;
  units.forEach((unit, i) => {
    const size = validateBucketCount(counts[unit], unit);
    sizes[i] = size;
    offsets[i] = total;
    total += size - 1;
    indexOf[TIME_UNITS.indexOf(unit)] = i;
    const coverage = size * NOMINAL_MS[unit];
    if (coverage >= best) {
      best = coverage;
      everIndex = i;
    }
  });
  return { units, sizes, offsets, total, indexOf, everIndex };
}

const UNIT_CODE: Readonly<Record<TimeUnit, number>> = Object.freeze({
  seconds: 0,
  minutes: 1,
  hours: 2,
  days: 3,
  weeks: 4,
  months: 5,
  years: 6,
});

/** Index of `unit` in the layout, or -1. */
export function unitIndex(layout: Layout, unit: TimeUnit): number {
  return layout.indexOf[UNIT_CODE[unit]] ?? -1;
}
