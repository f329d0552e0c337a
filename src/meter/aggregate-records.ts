/**
 * The records one aggregation builds, in flat arrays addressed by record number: counters, sums,
 * min/max and histograms per (tier, bucket, index value set). They are the `RollupColumns` a
 * commit carries; `delta(r)` turns one into a `RollupDelta` for stores that read objects.
 *
 * Why flat arrays: a batch builds about one record per event (a minute of a high-cardinality
 * index), and as objects they lived for the whole batch; the young-generation collector copied
 * every one of them (and a fresh boxed number for each min/max update) once or twice. Numbers in
 * typed arrays are neither boxed nor traced, and a store that reads the columns never needs the
 * objects at all.
 *
 * Histograms: most records hold one sample, so a record without its own Map points at a shared
 * `FrozenHistogram` (empty, or one sample in one bucket) and gets its own Map only with its second
 * sample.
 */

import { FrozenHistogram } from "./histogram.ts";
import type { Histogram, RollupColumns, RollupDelta, Tier } from "./rollups.ts";

const EMPTY_HIST: Histogram = new FrozenHistogram();
const SINGLES: Array<Histogram | undefined> = [];

function singleSample(bucket: number): Histogram {
  let hist = SINGLES[bucket];
  if (hist === undefined) {
    hist = new FrozenHistogram([[bucket, 1]]);
    SINGLES[bucket] = hist;
  }
  return hist;
}

/** `hist` with one more sample in `bucket`: the same Map when the record owns it. */
function withSample(hist: Histogram, bucket: number): Histogram {
  if (hist === EMPTY_HIST) return singleSample(bucket);
  const own = hist instanceof FrozenHistogram ? new Map(hist) : hist;
  own.set(bucket, (own.get(bucket) ?? 0) + 1);
  return own;
}

// The Map `addCount` adds into: a module-level callback, so merging allocates no closure.
let target: Histogram = EMPTY_HIST;
function addCount(count: number, index: number): void {
  target.set(index, (target.get(index) ?? 0) + count);
}

/** `into` plus `from`'s counts: `into` itself when the record owns it. */
function withHistogram(into: Histogram, from: Histogram): Histogram {
  if (from.size === 0) return into;
  if (into === EMPTY_HIST) return from instanceof FrozenHistogram ? from : new Map(from);
  const own = into instanceof FrozenHistogram ? new Map(into) : into;
  target = own;
  from.forEach(addCount);
  target = EMPTY_HIST;
  return own;
}

const TIERS: readonly Tier[] = ["minute", "hour", "day"];

function inc(column: Float64Array, r: number, by: number): void {
  column[r] = (column[r] as number) + by;
}

function lower(column: Float64Array, r: number, value: number): void {
  if (value < (column[r] as number)) column[r] = value;
}

function raise(column: Float64Array, r: number, value: number): void {
  if (value > (column[r] as number)) column[r] = value;
}

export class Records implements RollupColumns {
  size = 0;
  /** Set by the aggregation once every record exists: record numbers in key order. */
  order: Int32Array = new Int32Array(0);
  // Columns hold `capacity` rows (grown by doubling), so rows are written in place, not pushed.
  readonly indexName: string[] = [];
  readonly indexKey: string[] = [];
  tier: Uint8Array = new Uint8Array(0);
  bucketStart: Float64Array = new Float64Array(0);
  count: Float64Array = new Float64Array(0);
  successCount: Float64Array = new Float64Array(0);
  failureCount: Float64Array = new Float64Array(0);
  skippedCount: Float64Array = new Float64Array(0);
  /** +Infinity / -Infinity until the record gets an event. */
  startedAtMin: Float64Array = new Float64Array(0);
  startedAtMax: Float64Array = new Float64Array(0);
  durationMsCount: Float64Array = new Float64Array(0);
  durationMsSum: Float64Array = new Float64Array(0);
  durationMsMin: Float64Array = new Float64Array(0);
  durationMsMax: Float64Array = new Float64Array(0);
  intervalMsCount: Float64Array = new Float64Array(0);
  intervalMsSum: Float64Array = new Float64Array(0);
  intervalMsMin: Float64Array = new Float64Array(0);
  intervalMsMax: Float64Array = new Float64Array(0);
  durationMsHist: Histogram[] = [];
  intervalMsHist: Histogram[] = [];

  constructor(capacity: number) {
    this.#resize(Math.max(16, capacity));
  }

  #resize(n: number): void {
    const f64 = (old: Float64Array): Float64Array => {
      const next = new Float64Array(n);
      next.set(old);
      return next;
    };
    const tier = new Uint8Array(n);
    tier.set(this.tier);
    this.tier = tier;
    this.indexName.length = n;
    this.indexKey.length = n;
    this.durationMsHist.length = n;
    this.intervalMsHist.length = n;
    this.bucketStart = f64(this.bucketStart);
    this.count = f64(this.count);
    this.successCount = f64(this.successCount);
    this.failureCount = f64(this.failureCount);
    this.skippedCount = f64(this.skippedCount);
    this.startedAtMin = f64(this.startedAtMin);
    this.startedAtMax = f64(this.startedAtMax);
    this.durationMsCount = f64(this.durationMsCount);
    this.durationMsSum = f64(this.durationMsSum);
    this.durationMsMin = f64(this.durationMsMin);
    this.durationMsMax = f64(this.durationMsMax);
    this.intervalMsCount = f64(this.intervalMsCount);
    this.intervalMsSum = f64(this.intervalMsSum);
    this.intervalMsMin = f64(this.intervalMsMin);
    this.intervalMsMax = f64(this.intervalMsMax);
  }

  /** A new empty record; its number. */
  add(tier: 0 | 1 | 2, start: number, indexName: string, indexKey: string): number {
    const r = this.size;
    if (r === this.bucketStart.length) this.#resize(r * 2);
    this.size = r + 1;
    this.tier[r] = tier;
    this.bucketStart[r] = start;
    this.indexName[r] = indexName;
    this.indexKey[r] = indexKey;
    this.startedAtMin[r] = Number.POSITIVE_INFINITY;
    this.startedAtMax[r] = Number.NEGATIVE_INFINITY;
    this.durationMsMin[r] = Number.POSITIVE_INFINITY;
    this.durationMsMax[r] = Number.NEGATIVE_INFINITY;
    this.intervalMsMin[r] = Number.POSITIVE_INFINITY;
    this.intervalMsMax[r] = Number.NEGATIVE_INFINITY;
    this.durationMsHist[r] = EMPTY_HIST;
    this.intervalMsHist[r] = EMPTY_HIST;
    return r;
  }

  /** One event: status 0 success, 1 failure, 2 skipped; duration `d` (ms, -1 for none) in `bucket`. */
  addEvent(r: number, status: number, t: number, d: number, bucket: number): void {
    inc(this.count, r, 1);
    inc(status === 0 ? this.successCount : status === 1 ? this.failureCount : this.skippedCount, r, 1);
    lower(this.startedAtMin, r, t);
    raise(this.startedAtMax, r, t);
    if (d >= 0) {
      inc(this.durationMsCount, r, 1);
      inc(this.durationMsSum, r, d);
      lower(this.durationMsMin, r, d);
      raise(this.durationMsMax, r, d);
      this.durationMsHist[r] = withSample(this.durationMsHist[r] as Histogram, bucket);
    }
  }

  addInterval(r: number, gap: number, bucket: number): void {
    inc(this.intervalMsCount, r, 1);
    inc(this.intervalMsSum, r, gap);
    lower(this.intervalMsMin, r, gap);
    raise(this.intervalMsMax, r, gap);
    this.intervalMsHist[r] = withSample(this.intervalMsHist[r] as Histogram, bucket);
  }

  /** Adds record `from` into record `into` (an hour or day from its minutes). */
  merge(into: number, from: number): void {
    inc(this.count, into, this.count[from] as number);
    inc(this.successCount, into, this.successCount[from] as number);
    inc(this.failureCount, into, this.failureCount[from] as number);
    inc(this.skippedCount, into, this.skippedCount[from] as number);
    lower(this.startedAtMin, into, this.startedAtMin[from] as number);
    raise(this.startedAtMax, into, this.startedAtMax[from] as number);
    inc(this.durationMsCount, into, this.durationMsCount[from] as number);
    inc(this.durationMsSum, into, this.durationMsSum[from] as number);
    lower(this.durationMsMin, into, this.durationMsMin[from] as number);
    raise(this.durationMsMax, into, this.durationMsMax[from] as number);
    this.durationMsHist[into] = withHistogram(
      this.durationMsHist[into] as Histogram,
      this.durationMsHist[from] as Histogram,
    );
    inc(this.intervalMsCount, into, this.intervalMsCount[from] as number);
    inc(this.intervalMsSum, into, this.intervalMsSum[from] as number);
    lower(this.intervalMsMin, into, this.intervalMsMin[from] as number);
    raise(this.intervalMsMax, into, this.intervalMsMax[from] as number);
    this.intervalMsHist[into] = withHistogram(
      this.intervalMsHist[into] as Histogram,
      this.intervalMsHist[from] as Histogram,
    );
  }

  /** Record `r` as a delta; min/max of what it never got are null. */
  delta(r: number): RollupDelta {
    const startedAtMin = this.startedAtMin[r] as number;
    const durationMsMin = this.durationMsMin[r] as number;
    const intervalMsMin = this.intervalMsMin[r] as number;
    return {
      tier: TIERS[this.tier[r] as number] as Tier,
      bucketStart: this.bucketStart[r] as number,
      indexName: this.indexName[r] as string,
      indexKey: this.indexKey[r] as string,
      count: this.count[r] as number,
      successCount: this.successCount[r] as number,
      failureCount: this.failureCount[r] as number,
      skippedCount: this.skippedCount[r] as number,
      startedAtMin: startedAtMin === Number.POSITIVE_INFINITY ? null : startedAtMin,
      startedAtMax: startedAtMin === Number.POSITIVE_INFINITY ? null : (this.startedAtMax[r] as number),
      durationMsCount: this.durationMsCount[r] as number,
      durationMsSum: this.durationMsSum[r] as number,
      durationMsMin: durationMsMin === Number.POSITIVE_INFINITY ? null : durationMsMin,
      durationMsMax: durationMsMin === Number.POSITIVE_INFINITY ? null : (this.durationMsMax[r] as number),
      durationMsHist: this.durationMsHist[r] as Histogram,
      intervalMsCount: this.intervalMsCount[r] as number,
      intervalMsSum: this.intervalMsSum[r] as number,
      intervalMsMin: intervalMsMin === Number.POSITIVE_INFINITY ? null : intervalMsMin,
      intervalMsMax: intervalMsMin === Number.POSITIVE_INFINITY ? null : (this.intervalMsMax[r] as number),
      intervalMsHist: this.intervalMsHist[r] as Histogram,
    };
  }
}
