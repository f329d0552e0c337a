/**
 * Rollup records: creating, merging and reading them back from stores. Merging adds counters and
 * histogram buckets and takes min of mins and max of maxes, so it is associative and commutative;
 * averages are never stored.
 */

import { histogramFrom, mergeHistogram } from "./histogram.ts";
import type { RollupRecord, Tier } from "./rollups.ts";

export function emptyRecord(tier: Tier, bucketStart: number, indexName: string, indexKey: string): RollupRecord {
  return {
    tier,
    bucketStart,
    indexName,
    indexKey,
    count: 0,
    successCount: 0,
    failureCount: 0,
    skippedCount: 0,
    startedAtMin: null,
    startedAtMax: null,
    durationMsCount: 0,
    durationMsSum: 0,
    durationMsMin: null,
    durationMsMax: null,
    durationMsHist: new Map(),
    intervalMsCount: 0,
    intervalMsSum: 0,
    intervalMsMin: null,
    intervalMsMax: null,
    intervalMsHist: new Map(),
  };
}

export function minOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return a < b ? a : b;
}

export function maxOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}

/** Adds `from` into `into` (keys of `into` are kept). */
export function mergeRecord(into: RollupRecord, from: RollupRecord): void {
  into.count += from.count;
  into.successCount += from.successCount;
  into.failureCount += from.failureCount;
  into.skippedCount += from.skippedCount;
  into.startedAtMin = minOf(into.startedAtMin, from.startedAtMin);
  into.startedAtMax = maxOf(into.startedAtMax, from.startedAtMax);
  into.durationMsCount += from.durationMsCount;
  into.durationMsSum += from.durationMsSum;
  into.durationMsMin = minOf(into.durationMsMin, from.durationMsMin);
  into.durationMsMax = maxOf(into.durationMsMax, from.durationMsMax);
  mergeHistogram(into.durationMsHist, from.durationMsHist);
  into.intervalMsCount += from.intervalMsCount;
  into.intervalMsSum += from.intervalMsSum;
  into.intervalMsMin = minOf(into.intervalMsMin, from.intervalMsMin);
  into.intervalMsMax = maxOf(into.intervalMsMax, from.intervalMsMax);
  mergeHistogram(into.intervalMsHist, from.intervalMsHist);
}

export function copyRecord(record: RollupRecord, tier = record.tier, bucketStart = record.bucketStart): RollupRecord {
  const copy = emptyRecord(tier, bucketStart, record.indexName, record.indexKey);
  mergeRecord(copy, record);
  return copy;
}

let warnedClamp = false;

/**
 * One delta per bucket key (`keyOf`): deltas of the same bucket in one batch are merged into a copy,
 * never into the caller's objects. Stores that write each bucket once per statement need this.
 */
export function mergeByBucket<D extends RollupRecord>(
  deltas: Iterable<D>,
  keyOf: (delta: D) => string,
): Map<string, RollupRecord> {
  const unique = new Map<string, RollupRecord>();
  for (const d of deltas) {
    const key = keyOf(d);
    const seen = unique.get(key);
    if (seen === undefined) unique.set(key, d);
    else {
      const merged = copyRecord(seen);
      mergeRecord(merged, d);
      unique.set(key, merged);
    }
  }
  return unique;
}

/** A stored additive value as a safe number: non-numeric -> 0, past 2^53 -> clamped (warned once). */
export function storedCount(value: unknown): number {
  const n = storedNumber(value);
  return n === null ? 0 : n;
}

/** A stored min/max value: non-numeric -> null (absent), past 2^53 -> clamped. */
export function storedNumber(value: unknown): number | null {
  let n: number;
  if (typeof value === "number") n = value;
  else if (typeof value === "bigint") n = Number(value);
  else if (typeof value === "string" && value.trim() !== "") n = Number(value);
  else return null;
  if (!Number.isFinite(n)) return null;
  if (Math.abs(n) > Number.MAX_SAFE_INTEGER) {
    if (!warnedClamp) {
      warnedClamp = true;
      process.emitWarning(`tally meter: a stored rollup value ${String(value)} exceeds 2^53 and was clamped`);
    }
    return n > 0 ? Number.MAX_SAFE_INTEGER : -Number.MAX_SAFE_INTEGER;
  }
  return n;
}

/** Field values as stores keep them (any JSON-ish type) -> a clean record. */
export interface StoredFields {
  count?: unknown;
  successCount?: unknown;
  failureCount?: unknown;
  skippedCount?: unknown;
  startedAtMin?: unknown;
  startedAtMax?: unknown;
  durationMsCount?: unknown;
  durationMsSum?: unknown;
  durationMsMin?: unknown;
  durationMsMax?: unknown;
  durationMsHist?: unknown;
  intervalMsCount?: unknown;
  intervalMsSum?: unknown;
  intervalMsMin?: unknown;
  intervalMsMax?: unknown;
  intervalMsHist?: unknown;
}

export function recordFromStored(
  tier: Tier,
  bucketStart: number,
  indexName: string,
  indexKey: string,
  f: StoredFields,
): RollupRecord {
  return {
    tier,
    bucketStart,
    indexName,
    indexKey,
    count: storedCount(f.count),
    successCount: storedCount(f.successCount),
    failureCount: storedCount(f.failureCount),
    skippedCount: storedCount(f.skippedCount),
    startedAtMin: storedNumber(f.startedAtMin),
    startedAtMax: storedNumber(f.startedAtMax),
    durationMsCount: storedCount(f.durationMsCount),
    durationMsSum: storedCount(f.durationMsSum),
    durationMsMin: storedNumber(f.durationMsMin),
    durationMsMax: storedNumber(f.durationMsMax),
    durationMsHist: histogramFrom(f.durationMsHist),
    intervalMsCount: storedCount(f.intervalMsCount),
    intervalMsSum: storedCount(f.intervalMsSum),
    intervalMsMin: storedNumber(f.intervalMsMin),
    intervalMsMax: storedNumber(f.intervalMsMax),
    intervalMsHist: histogramFrom(f.intervalMsHist),
  };
}

/** The SQL stores (SQLite, PostgreSQL) name the same fields in snake_case columns. */
export function fieldsFromColumns(row: Record<string, unknown>): StoredFields {
  return {
    count: row.count,
    successCount: row.success_count,
    failureCount: row.failure_count,
    skippedCount: row.skipped_count,
    startedAtMin: row.started_at_min,
    startedAtMax: row.started_at_max,
    durationMsCount: row.duration_ms_count,
    durationMsSum: row.duration_ms_sum,
    durationMsMin: row.duration_ms_min,
    durationMsMax: row.duration_ms_max,
    durationMsHist: row.duration_ms_hist,
    intervalMsCount: row.interval_ms_count,
    intervalMsSum: row.interval_ms_sum,
    intervalMsMin: row.interval_ms_min,
    intervalMsMax: row.interval_ms_max,
    intervalMsHist: row.interval_ms_hist,
  };
}
