/**
 * The parameters `PostgresRollups.commit` passes to `<p>_commit` (see `meter-schema.sql`), built as
 * array literals in one pass over the batch, and what the reply teaches the adapter's cache of
 * known histograms (`meter-known-histograms.ts`).
 *
 * Per rollup row, one element of each array literal: the key, the delta's counts and min/max, and
 * the delta histograms as JSON text, or, for a row whose stored histograms the cache knows,
 * `[xid8 of that row version, new absolute counts of the duration delta's buckets]` and the new
 * interval counts (`known + delta`), which the function lays over the stored histograms only
 * while the row is still that version. (One jsonb document for the whole batch would parse far
 * slower: PostgreSQL reads numbers nested in a large document several times slower than the same
 * numbers in many small ones.)
 */

import { MAX_BUCKET } from "../../meter/histogram.ts";
import { indexNameOfKey } from "../../meter/index-key.ts";
import { mergeByBucket } from "../../meter/rollup-record.ts";
import {
  type CommitBatch,
  type Histogram,
  type IntervalStateUpdate,
  type ReportRef,
  type RollupColumns,
  type RollupDelta,
  stateKey,
  type Tier,
} from "../../meter/rollups.ts";
import { ArrayLiteral, AsciiArrayLiteral, quoteElement } from "./meter-array-literals.ts";
import { DenseCounts, type KnownHistograms, type KnownRow } from "./meter-known-histograms.ts";
import { encodeStateValue } from "./meter-sql.ts";

const TIER_NAMES: readonly Tier[] = ["minute", "hour", "day"];
const TIER_NUMBER: Readonly<Record<Tier, number>> = { minute: 0, hour: 1, day: 2 };

/** A commit's rollup rows: the deltas as columns and the records to write, one per primary key. */
export interface CommitRows {
  cols: RollupColumns;
  /** Record numbers in write order. */
  order: ArrayLike<number>;
  /** Per position in `order`: the row's key in the cache of known histograms. */
  keys: string[];
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The batch's rows: its columns as they come (the processor's, in key order: tier, index name,
 * bucket start, index key), or else its delta objects with duplicates merged (one statement may
 * not write a row twice) and sorted the same way, so concurrent commits lock rows in one order.
 */
export function commitRows(ref: ReportRef, batch: CommitBatch): CommitRows {
  const base = `${ref.namespace}\u0000${ref.name}\u0000${ref.version}\u0000`;
  const cols = batch.columns;
  if (cols !== undefined) {
    const keys: string[] = new Array(cols.order.length);
    const seen = new Set<string>();
    for (let k = 0; k < cols.order.length; k++) {
      const r = cols.order[k] as number;
      const key = `${base}${cols.tier[r]}\u0000${cols.bucketStart[r]}\u0000${cols.indexKey[r]}`;
      seen.add(key);
      keys[k] = key;
    }
    if (seen.size === keys.length) return { cols, order: cols.order, keys };
  }
  const unique = mergeByBucket(
    batch.rollups,
    (d) => `${base}${TIER_NUMBER[d.tier]}\u0000${d.bucketStart}\u0000${d.indexKey}`,
  );
  const rows = [...unique].map(([key, d]) => ({ key, d, name: indexNameOfKey(d.indexKey) }));
  rows.sort(
    (a, b) =>
      TIER_NUMBER[a.d.tier] - TIER_NUMBER[b.d.tier] ||
      cmp(a.name, b.name) ||
      a.d.bucketStart - b.d.bucketStart ||
      cmp(a.d.indexKey, b.d.indexKey),
  );
  return {
    cols: columnsOf(
      rows.map((r) => r.d),
      rows.map((r) => r.name),
    ),
    order: Int32Array.from(rows, (_, i) => i),
    keys: rows.map((r) => r.key),
  };
}

/** Delta objects as columns (absent min/max as +/-Infinity, as the processor gives them). */
function columnsOf(deltas: readonly RollupDelta[], names: string[]): RollupColumns {
  const f64 = (pick: (d: RollupDelta) => number) => Float64Array.from(deltas, pick);
  return {
    order: Int32Array.from(deltas, (_, i) => i),
    tier: Uint8Array.from(deltas, (d) => TIER_NUMBER[d.tier]),
    bucketStart: f64((d) => d.bucketStart),
    indexName: names,
    indexKey: deltas.map((d) => d.indexKey),
    count: f64((d) => d.count),
    successCount: f64((d) => d.successCount),
    failureCount: f64((d) => d.failureCount),
    skippedCount: f64((d) => d.skippedCount),
    startedAtMin: f64((d) => d.startedAtMin ?? Number.POSITIVE_INFINITY),
    startedAtMax: f64((d) => d.startedAtMax ?? Number.NEGATIVE_INFINITY),
    durationMsCount: f64((d) => d.durationMsCount),
    durationMsSum: f64((d) => d.durationMsSum),
    durationMsMin: f64((d) => d.durationMsMin ?? Number.POSITIVE_INFINITY),
    durationMsMax: f64((d) => d.durationMsMax ?? Number.NEGATIVE_INFINITY),
    durationMsHist: deltas.map((d) => d.durationMsHist),
    intervalMsCount: f64((d) => d.intervalMsCount),
    intervalMsSum: f64((d) => d.intervalMsSum),
    intervalMsMin: f64((d) => d.intervalMsMin ?? Number.POSITIVE_INFINITY),
    intervalMsMax: f64((d) => d.intervalMsMax ?? Number.NEGATIVE_INFINITY),
    intervalMsHist: deltas.map((d) => d.intervalMsHist),
  };
}

/** The rows' parameters ($11..$31 of `<p>_commit`) and the cache entries they were built from. */
export interface RollupParams {
  columns: string[];
  /** Per row position, the cache entry whose counts the totals were built from (if any)... */
  known: (KnownRow | undefined)[];
  /** ...and the row version it described then. */
  knownXids: number[];
}

/** `"<tier>|<bucketStart>|<indexKey>"`: how `<p>_commit` names a row in `merged`. */
export function histKey(cols: RollupColumns, r: number): string {
  return `${TIER_NAMES[cols.tier[r] as number]}|${cols.bucketStart[r]}|${cols.indexKey[r]}`;
}

/** A min or max column value: null where the delta has none (+/-Infinity). */
function extreme(v: number): number | null {
  return v === Number.POSITIVE_INFINITY || v === Number.NEGATIVE_INFINITY ? null : v;
}

/** `\"<index>\":` for every bucket index: the escaped JSON key, as bytes, built once. */
const KEYS: Buffer[] = Array.from({ length: MAX_BUCKET + 1 }, (_, i) => Buffer.from(`\\"${i}\\":`, "latin1"));

function bucketKey(index: number): Buffer {
  return KEYS[index] ?? Buffer.from(`\\"${index}\\":`, "latin1");
}

const QUOTE = 34;
const COMMA = 44;
const OPEN = 123;
const CLOSE = 125;
const OPEN_ARRAY = 91;
const CLOSE_ARRAY = 93;
/** Bytes per histogram bucket at most: key, count, comma. */
const BUCKET_BYTES = 32;

/** The histogram's buckets as a JSON object, quotes escaped; `known` counts are added when given. */
function writeBuckets(out: AsciiArrayLiteral, hist: Histogram, known: DenseCounts | null): void {
  out.byte(OPEN);
  let first = true;
  hist.forEach((count, index) => {
    if (!first) out.byte(COMMA);
    first = false;
    out.bytes(bucketKey(index));
    out.digits(known === null ? count : known.get(index) + count);
  });
  out.byte(CLOSE);
}

/** A delta histogram as a quoted array element, or NULL when empty. */
function writeDelta(out: AsciiArrayLiteral, hist: Histogram): void {
  if (hist.size === 0) {
    out.null();
    return;
  }
  out.element(hist.size * BUCKET_BYTES + 8);
  out.byte(QUOTE);
  writeBuckets(out, hist, null);
  out.byte(QUOTE);
}

/** `"[xid,{totals}]"`: the known row version and the new absolute counts of the delta's buckets. */
function writeKnownDuration(out: AsciiArrayLiteral, xid: number, hist: Histogram, known: DenseCounts): void {
  out.element(hist.size * BUCKET_BYTES + 40);
  out.byte(QUOTE);
  out.byte(OPEN_ARRAY);
  out.digits(xid);
  out.byte(COMMA);
  writeBuckets(out, hist, known);
  out.byte(CLOSE_ARRAY);
  out.byte(QUOTE);
}

/** `"{totals}"`, or NULL when the delta has no interval buckets. */
function writeKnownInterval(out: AsciiArrayLiteral, hist: Histogram, known: DenseCounts): void {
  if (hist.size === 0) {
    out.null();
    return;
  }
  out.element(hist.size * BUCKET_BYTES + 8);
  out.byte(QUOTE);
  writeBuckets(out, hist, known);
  out.byte(QUOTE);
}

/** `cache` null: every row is sent as unknown (after a TL410, or while the known path is paused). */
export function rollupParams(rows: CommitRows, cache: KnownHistograms | null): RollupParams {
  const { cols, order, keys } = rows;
  const n = order.length;
  const tier = new ArrayLiteral();
  const names = new ArrayLiteral();
  const indexKeys = new ArrayLiteral();
  const numbers = Array.from({ length: 16 }, () => new AsciiArrayLiteral(n * 14 + 64));
  const duration = new AsciiArrayLiteral(n * 256 + 64);
  const interval = new AsciiArrayLiteral(n * 16 + 64);
  const known: (KnownRow | undefined)[] = new Array(n);
  const knownXids: number[] = new Array(n);
  const quotedNames = new Map<string, string>();
  const [start, count, success, failure, skipped, startedMin, startedMax, dCount, dSum, dMin, dMax] = numbers as [
    AsciiArrayLiteral,
    AsciiArrayLiteral,
    AsciiArrayLiteral,
    AsciiArrayLiteral,
    AsciiArrayLiteral,
    AsciiArrayLiteral,
    AsciiArrayLiteral,
    AsciiArrayLiteral,
    AsciiArrayLiteral,
    AsciiArrayLiteral,
    AsciiArrayLiteral,
  ];
  const [iCount, iSum, iMin, iMax, isKnown] = numbers.slice(11) as [
    AsciiArrayLiteral,
    AsciiArrayLiteral,
    AsciiArrayLiteral,
    AsciiArrayLiteral,
    AsciiArrayLiteral,
  ];
  for (let i = 0; i < n; i++) {
    const r = order[i] as number;
    const name = cols.indexName[r] as string;
    let quotedName = quotedNames.get(name);
    if (quotedName === undefined) {
      quotedName = quoteElement(name);
      quotedNames.set(name, quotedName);
    }
    const k = cache?.get(keys[i] as string);
    known[i] = k;
    knownXids[i] = k === undefined ? 0 : k.xid;
    tier.raw(TIER_NAMES[cols.tier[r] as number] as string);
    names.raw(quotedName);
    indexKeys.text(cols.indexKey[r] as string);
    start.number(cols.bucketStart[r] as number);
    count.number(cols.count[r] as number);
    success.number(cols.successCount[r] as number);
    failure.number(cols.failureCount[r] as number);
    skipped.number(cols.skippedCount[r] as number);
    startedMin.number(extreme(cols.startedAtMin[r] as number));
    startedMax.number(extreme(cols.startedAtMax[r] as number));
    dCount.number(cols.durationMsCount[r] as number);
    dSum.number(cols.durationMsSum[r] as number);
    dMin.number(extreme(cols.durationMsMin[r] as number));
    dMax.number(extreme(cols.durationMsMax[r] as number));
    iCount.number(cols.intervalMsCount[r] as number);
    iSum.number(cols.intervalMsSum[r] as number);
    iMin.number(extreme(cols.intervalMsMin[r] as number));
    iMax.number(extreme(cols.intervalMsMax[r] as number));
    const dh = cols.durationMsHist[r] as Histogram;
    const ih = cols.intervalMsHist[r] as Histogram;
    isKnown.element(1);
    if (k === undefined) {
      isKnown.byte(102); // f
      writeDelta(duration, dh);
      writeDelta(interval, ih);
    } else {
      isKnown.byte(116); // t
      writeKnownDuration(duration, k.xid, dh, k.duration);
      writeKnownInterval(interval, ih, k.interval);
    }
  }
  const columns = [tier, names, indexKeys, ...numbers, duration, interval].map(String);
  return { columns, known, knownXids };
}

/**
 * Teaches the cache what a successful commit wrote: `written` is the commit's xid8 and `merged` the
 * function's `[[key, duration, interval], ...]` for unknown rows whose stored histograms are not
 * their delta. A known row holds what the cache knew plus the delta (the function raises instead
 * when it cannot), an unknown row not in `merged` its delta. A known entry that another commit of
 * this store replaced meanwhile is dropped.
 */
export function learnCommit(
  rows: CommitRows,
  params: RollupParams,
  cache: KnownHistograms,
  written: number,
  merged: unknown,
): void {
  const { cols, order, keys } = rows;
  const stored = new Map<string, [unknown, unknown]>();
  if (Array.isArray(merged)) {
    for (const m of merged as unknown[]) {
      if (Array.isArray(m)) stored.set(String(m[0]), [m[1], m[2]]);
    }
  }
  for (let i = 0; i < order.length; i++) {
    const r = order[i] as number;
    const key = keys[i] as string;
    const m = stored.size === 0 ? undefined : stored.get(histKey(cols, r));
    if (m !== undefined) {
      cache.remember(key, {
        xid: written,
        duration: DenseCounts.fromStored(m[0]),
        interval: DenseCounts.fromStored(m[1]),
      });
      continue;
    }
    const dh = cols.durationMsHist[r] as Histogram;
    const ih = cols.intervalMsHist[r] as Histogram;
    const k = params.known[i];
    if (k === undefined) {
      cache.remember(key, { xid: written, duration: DenseCounts.of(dh), interval: DenseCounts.of(ih) });
    } else if (cache.get(key) === k && k.xid === params.knownXids[i]) {
      k.duration.addAll(dh);
      k.interval.addAll(ih);
      k.xid = written;
      cache.remember(key, k);
    } else cache.forget(key);
  }
}

/** Param, value and lastMs literals, one row per identity (the largest lastMs), in key order. */
export function stateParams(updates: readonly IntervalStateUpdate[]): string[] {
  const best = new Map<string, IntervalStateUpdate>();
  for (const u of updates) {
    const key = stateKey(u.param, u.value);
    const seen = best.get(key);
    if (seen === undefined || u.lastMs > seen.lastMs) best.set(key, u);
  }
  const rows = [...best.values()].sort((a, b) => cmp(a.param, b.param) || cmp(a.value, b.value));
  const param = new ArrayLiteral();
  const value = new ArrayLiteral();
  const last = new ArrayLiteral();
  for (const u of rows) {
    param.text(u.param);
    value.text(encodeStateValue(u.value));
    last.number(u.lastMs);
  }
  return [String(param), String(value), String(last)];
}
