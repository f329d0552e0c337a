/**
 * A commit's rollup deltas as the rows `SqliteRollups` upserts: typed-array columns in key order,
 * a null min/max as NaN, index names and keys as numbers into `texts` (each distinct text once),
 * and histograms as (bucket, count) pairs whose JSON text the upsert writer makes. It is what the
 * commit thread receives, and the one shape the writer reads on either thread.
 *
 * Why: a typed array crosses to the thread as its buffer, moved, not copied; a string is
 * serialised one by one (~0.1-0.2 µs each), while a batch repeats a few hundred index keys over
 * ten thousand rows. Histogram text is built on the thread that writes it: for hour and day rows
 * it is most of the strings a commit makes.
 */

import type { CommitBatch, Histogram, RollupColumns, RollupDelta } from "../../meter/rollups.ts";
import { TIER_CODE } from "./meter-statements.ts";

export interface RollupRows {
  size: number;
  /** Each distinct index name and key once; `indexName` and `indexKey` hold positions in it. */
  texts: string[];
  /** 0 minute, 1 hour, 2 day. */
  tier: Uint8Array;
  bucketStart: Float64Array;
  indexName: Int32Array;
  indexKey: Int32Array;
  count: Float64Array;
  successCount: Float64Array;
  failureCount: Float64Array;
  skippedCount: Float64Array;
  startedAtMin: Float64Array;
  startedAtMax: Float64Array;
  durationMsCount: Float64Array;
  durationMsSum: Float64Array;
  durationMsMin: Float64Array;
  durationMsMax: Float64Array;
  intervalMsCount: Float64Array;
  intervalMsSum: Float64Array;
  intervalMsMin: Float64Array;
  intervalMsMax: Float64Array;
  /** Histogram (bucket, count) pairs, row by row: the duration histogram's, then the interval one's. */
  hist: Float64Array;
  /** Row k's pairs are pairs `histFrom[k]` up to `histFrom[k + 1]`. */
  histFrom: Int32Array;
  /** How many of row k's pairs are the duration histogram's. */
  durationPairs: Int32Array;
}

function emptyRows(size: number, pairs: number): RollupRows {
  const f64 = (): Float64Array => new Float64Array(size);
  const i32 = (): Int32Array => new Int32Array(size);
  return {
    size,
    texts: [],
    tier: new Uint8Array(size),
    bucketStart: f64(),
    indexName: i32(),
    indexKey: i32(),
    count: f64(),
    successCount: f64(),
    failureCount: f64(),
    skippedCount: f64(),
    startedAtMin: f64(),
    startedAtMax: f64(),
    durationMsCount: f64(),
    durationMsSum: f64(),
    durationMsMin: f64(),
    durationMsMax: f64(),
    intervalMsCount: f64(),
    intervalMsSum: f64(),
    intervalMsMin: f64(),
    intervalMsMax: f64(),
    hist: new Float64Array(pairs * 2),
    histFrom: new Int32Array(size + 1),
    durationPairs: i32(),
  };
}

/** Positions of texts in `rows.texts`, adding each new text once. */
class TextTable {
  readonly #texts: string[];
  readonly #ids = new Map<string, number>();

  constructor(texts: string[]) {
    this.#texts = texts;
  }

  id(text: string): number {
    let id = this.#ids.get(text);
    if (id === undefined) {
      id = this.#texts.push(text) - 1;
      this.#ids.set(text, id);
    }
    return id;
  }
}

// Writing a histogram's pairs through forEach with a module-level callback: no closure per call.
let pairTarget: Float64Array = new Float64Array(0);
let pairAt = 0;
function writePair(count: number, bucket: number): void {
  pairTarget[pairAt++] = bucket;
  pairTarget[pairAt++] = count;
}

/** Appends row k's histograms as pairs; call for rows in order. */
function putHistograms(rows: RollupRows, k: number, duration: Histogram, interval: Histogram): void {
  pairTarget = rows.hist;
  pairAt = (rows.histFrom[k] as number) * 2;
  duration.forEach(writePair);
  interval.forEach(writePair);
  rows.durationPairs[k] = duration.size;
  rows.histFrom[k + 1] = pairAt / 2;
  pairTarget = EMPTY;
}
const EMPTY: Float64Array = new Float64Array(0);

// The JSON of a single sample in bucket b, made once per bucket.
const SINGLE_JSON: Array<string | undefined> = [];

/** JSON text of pairs [from, to) of `rows.hist`, null when there are none. */
export function histText(rows: RollupRows, from: number, to: number): string | null {
  if (from === to) return null;
  const hist = rows.hist;
  if (to - from === 1 && hist[from * 2 + 1] === 1) {
    const bucket = hist[from * 2] as number;
    let text = SINGLE_JSON[bucket];
    if (text === undefined) {
      text = `{"${bucket}":1}`;
      SINGLE_JSON[bucket] = text;
    }
    return text;
  }
  let out = "{";
  for (let i = from; i < to; i++) {
    if (i > from) out += ",";
    out += `"${hist[i * 2]}":${hist[i * 2 + 1]}`;
  }
  return `${out}}`;
}

/** The buffers of the rows' columns, to move (not copy) them to the commit thread. */
export function rowBuffers(rows: RollupRows): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const value of Object.values(rows)) {
    if (ArrayBuffer.isView(value)) buffers.push(value.buffer as ArrayBuffer);
  }
  return buffers;
}

/** Index name or key `id` of the rows. */
export function textOf(rows: RollupRows, id: number): string {
  return rows.texts[id] as string;
}

const orNaN = (value: number | null): number => (value === null ? Number.NaN : value);
/** A column's absent min (+Infinity) or max (-Infinity) as NaN. */
const finite = (value: number): number =>
  value === Number.POSITIVE_INFINITY || value === Number.NEGATIVE_INFINITY ? Number.NaN : value;

function fromColumns(c: RollupColumns): RollupRows {
  let pairs = 0;
  for (const r of c.order) pairs += (c.durationMsHist[r] as Histogram).size + (c.intervalMsHist[r] as Histogram).size;
  const rows = emptyRows(c.order.length, pairs);
  const texts = new TextTable(rows.texts);
  for (let k = 0; k < rows.size; k++) {
    const r = c.order[k] as number;
    rows.tier[k] = c.tier[r] as number;
    rows.bucketStart[k] = c.bucketStart[r] as number;
    rows.indexName[k] = texts.id(c.indexName[r] as string);
    rows.indexKey[k] = texts.id(c.indexKey[r] as string);
    rows.count[k] = c.count[r] as number;
    rows.successCount[k] = c.successCount[r] as number;
    rows.failureCount[k] = c.failureCount[r] as number;
    rows.skippedCount[k] = c.skippedCount[r] as number;
    rows.startedAtMin[k] = finite(c.startedAtMin[r] as number);
    rows.startedAtMax[k] = finite(c.startedAtMax[r] as number);
    rows.durationMsCount[k] = c.durationMsCount[r] as number;
    rows.durationMsSum[k] = c.durationMsSum[r] as number;
    rows.durationMsMin[k] = finite(c.durationMsMin[r] as number);
    rows.durationMsMax[k] = finite(c.durationMsMax[r] as number);
    rows.intervalMsCount[k] = c.intervalMsCount[r] as number;
    rows.intervalMsSum[k] = c.intervalMsSum[r] as number;
    rows.intervalMsMin[k] = finite(c.intervalMsMin[r] as number);
    rows.intervalMsMax[k] = finite(c.intervalMsMax[r] as number);
    putHistograms(rows, k, c.durationMsHist[r] as Histogram, c.intervalMsHist[r] as Histogram);
  }
  return rows;
}

function fromDeltas(deltas: readonly RollupDelta[]): RollupRows {
  let pairs = 0;
  for (const d of deltas) pairs += d.durationMsHist.size + d.intervalMsHist.size;
  const rows = emptyRows(deltas.length, pairs);
  const texts = new TextTable(rows.texts);
  deltas.forEach((d, k) => {
    rows.tier[k] = TIER_CODE[d.tier];
    rows.bucketStart[k] = d.bucketStart;
    rows.indexName[k] = texts.id(d.indexName);
    rows.indexKey[k] = texts.id(d.indexKey);
    rows.count[k] = d.count;
    rows.successCount[k] = d.successCount;
    rows.failureCount[k] = d.failureCount;
    rows.skippedCount[k] = d.skippedCount;
    rows.startedAtMin[k] = orNaN(d.startedAtMin);
    rows.startedAtMax[k] = orNaN(d.startedAtMax);
    rows.durationMsCount[k] = d.durationMsCount;
    rows.durationMsSum[k] = d.durationMsSum;
    rows.durationMsMin[k] = orNaN(d.durationMsMin);
    rows.durationMsMax[k] = orNaN(d.durationMsMax);
    rows.intervalMsCount[k] = d.intervalMsCount;
    rows.intervalMsSum[k] = d.intervalMsSum;
    rows.intervalMsMin[k] = orNaN(d.intervalMsMin);
    rows.intervalMsMax[k] = orNaN(d.intervalMsMax);
    putHistograms(rows, k, d.durationMsHist, d.intervalMsHist);
  });
  return rows;
}

/** The batch's deltas as rows: from its columns when it has them (no delta objects are made). */
export function rollupRows(batch: CommitBatch): RollupRows {
  return batch.columns === undefined ? fromDeltas(batch.rollups) : fromColumns(batch.columns);
}
