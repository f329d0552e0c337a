/**
 * The arrays `PostgresRollups.commit` passes to `<p>_commit`, and the histogram merge it does in
 * JavaScript. Adding sparse jsonb histograms in SQL (`<p>_hist_add`) costs the server far more than
 * everything else in a commit, so the adapter reads the stored histograms of the batch's buckets
 * (with each row version's `xmin`), adds the deltas here, and sends the sums; the function keeps
 * them only where the row is still the version read, and adds the delta in SQL otherwise. Both
 * paths give the same result: a damaged stored count counts as 0 and a stored value that is not an
 * object as {} (reads ignore bad keys).
 */

import { histogramJson } from "../../meter/histogram.ts";
import { indexNameOfKey } from "../../meter/index-key.ts";
import { copyRecord, mergeRecord } from "../../meter/rollup-record.ts";
import { type Histogram, type IntervalStateUpdate, type RollupDelta, stateKey } from "../../meter/rollups.ts";
import { encodeStateValue } from "./meter-sql.ts";

export interface CommitRow {
  d: RollupDelta;
  name: string;
}

/** A stored bucket as read before the commit: its row version and histograms (jsonb text). */
export interface StoredHistograms {
  xmin: string;
  duration: string;
  interval: string;
}

const deltaKey = (d: RollupDelta): string => `${d.tier}\u0000${d.indexKey}\u0000${d.bucketStart}`;

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * One delta per primary key (duplicates merged: one statement may not update a row twice), sorted
 * in key order so concurrent commits lock rows in the same order.
 */
export function commitRows(deltas: readonly RollupDelta[]): CommitRow[] {
  const unique = new Map<string, RollupDelta>();
  for (const d of deltas) {
    const key = deltaKey(d);
    const seen = unique.get(key);
    if (seen === undefined) unique.set(key, d);
    else {
      const merged = copyRecord(seen);
      mergeRecord(merged, d);
      unique.set(key, merged);
    }
  }
  const rows = [...unique.values()].map((d) => ({ d, name: indexNameOfKey(d.indexKey) }));
  rows.sort(
    (a, b) =>
      cmp(a.d.tier, b.d.tier) ||
      cmp(a.name, b.name) ||
      cmp(a.d.indexKey, b.d.indexKey) ||
      a.d.bucketStart - b.d.bucketStart,
  );
  return rows;
}

/** Key columns and positions of the rows whose histograms are worth reading (any delta bucket). */
export function histogramKeys(rows: readonly CommitRow[]): unknown[][] {
  const columns: unknown[][] = [[], [], [], [], []];
  rows.forEach(({ d, name }, i) => {
    if (d.durationMsHist.size === 0 && d.intervalMsHist.size === 0) return;
    const values = [d.tier, name, d.indexKey, d.bucketStart, i];
    for (let c = 0; c < 5; c++) (columns[c] as unknown[]).push(values[c]);
  });
  return columns;
}

/** The 23 column arrays of `<p>_commit`'s rollup parameters; `stored` is keyed by row position. */
export function rollupColumns(rows: readonly CommitRow[], stored: ReadonlyMap<number, StoredHistograms>): unknown[][] {
  const columns: unknown[][] = Array.from({ length: 23 }, () => []);
  rows.forEach(({ d, name }, i) => {
    const read = stored.get(i);
    const values = [
      d.tier,
      name,
      d.indexKey,
      d.bucketStart,
      d.count,
      d.successCount,
      d.failureCount,
      d.skippedCount,
      d.startedAtMin,
      d.startedAtMax,
      d.durationMsCount,
      d.durationMsSum,
      d.durationMsMin,
      d.durationMsMax,
      histogramJson(d.durationMsHist),
      d.intervalMsCount,
      d.intervalMsSum,
      d.intervalMsMin,
      d.intervalMsMax,
      histogramJson(d.intervalMsHist),
      read?.xmin ?? null,
      read === undefined || d.durationMsHist.size === 0 ? null : addHistogram(read.duration, d.durationMsHist),
      read === undefined || d.intervalMsHist.size === 0 ? null : addHistogram(read.interval, d.intervalMsHist),
    ];
    for (let c = 0; c < values.length; c++) (columns[c] as unknown[]).push(values[c]);
  });
  return columns;
}

const COUNT = /^[0-9]{1,18}$/;

/** `<p>_hist_add(stored, delta)` in JavaScript: the stored jsonb text plus the delta, as JSON. */
export function addHistogram(stored: string, delta: Histogram): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stored);
  } catch {
    parsed = null;
  }
  const out: Record<string, unknown> =
    typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  for (const [index, n] of delta) {
    const key = String(index);
    const cur = Object.hasOwn(out, key) ? out[key] : undefined;
    const base =
      typeof cur === "number" ? Math.floor(cur) : typeof cur === "string" && COUNT.test(cur) ? Number(cur) : 0;
    out[key] = base + n;
  }
  return JSON.stringify(out);
}

/** Param, value and lastMs arrays, one row per identity (the largest lastMs), in key order. */
export function stateColumns(updates: readonly IntervalStateUpdate[]): unknown[][] {
  const best = new Map<string, IntervalStateUpdate>();
  for (const u of updates) {
    const key = stateKey(u.param, u.value);
    const seen = best.get(key);
    if (seen === undefined || u.lastMs > seen.lastMs) best.set(key, u);
  }
  const rows = [...best.values()].sort((a, b) => cmp(a.param, b.param) || cmp(a.value, b.value));
  return [rows.map((u) => u.param), rows.map((u) => encodeStateValue(u.value)), rows.map((u) => u.lastMs)];
}
