/**
 * Mergeable log-linear histograms for duration and interval percentiles.
 *
 * An integer `v < 32` has bucket `v` (exact). Otherwise `e = floor(log2 v)`,
 * `s = floor(v / 2^(e-4)) - 16` (0..15) and `index = 32 + (e-5)*16 + s`: 16 equal sub-buckets per
 * power of two. Bucket `i >= 32` covers `[lo, lo + 2^(e-4) - 1]` with `lo = (16+s)*2^(e-4)`; its
 * midpoint is within `lo/32` of any value in it, so a percentile read from it has a relative error
 * of at most 1/32. Buckets are additive counters: histograms merge by adding counts, in memory,
 * SQL and Lua alike, which keeps merging associative and commutative.
 */

import type { Histogram } from "./rollups.ts";

/** The largest bucket index (values up to 2^54). */
export const MAX_BUCKET = 815;

export function bucketOf(value: number): number {
  const v = value < 0 ? 0 : Math.floor(value);
  if (v < 32) return v;
  if (v < 2 ** 31) {
    // Integer shifts: \`2 ** n\` compiles to a call into a generic pow (measurable per event).
    const e = 31 - Math.clz32(v);
    return 32 + (e - 5) * 16 + ((v >>> (e - 4)) - 16);
  }
  const e = exponentOf(v);
  const width = 2 ** (e - 4);
  const s = Math.floor(v / width) - 16;
  const index = 32 + (e - 5) * 16 + s;
  return Math.min(index, MAX_BUCKET);
}

function exponentOf(v: number): number {
  let e = Math.floor(Math.log2(v));
  // log2 can round up just below a power of two.
  if (2 ** e > v) e -= 1;
  else if (2 ** (e + 1) <= v) e += 1;
  return e;
}

/** The inclusive value range a bucket covers. */
export function bucketRange(index: number): [number, number] {
  if (index < 32) return [index, index];
  const e = 5 + Math.floor((index - 32) / 16);
  const s = (index - 32) % 16;
  const width = 2 ** (e - 4);
  const lo = (16 + s) * width;
  return [lo, lo + width - 1];
}

export function bucketMidpoint(index: number): number {
  const [lo, hi] = bucketRange(index);
  return (lo + hi) / 2;
}

export function addToHistogram(hist: Histogram, value: number, times = 1): void {
  const index = bucketOf(value);
  hist.set(index, (hist.get(index) ?? 0) + times);
}

/** Adds `from` into `into`. */
export function mergeHistogram(into: Histogram, from: Histogram): void {
  from.forEach((count, index) => {
    into.set(index, (into.get(index) ?? 0) + count);
  });
}

/**
 * The nearest-rank percentile `q` (0 < q <= 1): the midpoint of the first bucket whose cumulative
 * count reaches `max(1, ceil(q * n))`, clamped to `[min, max]`. Null for an empty histogram.
 */
export function percentile(hist: Histogram, q: number, min: number | null, max: number | null): number | null {
  let total = 0;
  for (const count of hist.values()) total += count;
  if (total <= 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  const indexes = [...hist.keys()].sort((a, b) => a - b);
  let seen = 0;
  let value = bucketMidpoint(indexes[indexes.length - 1] ?? 0);
  for (const index of indexes) {
    seen += hist.get(index) ?? 0;
    if (seen >= rank) {
      value = bucketMidpoint(index);
      break;
    }
  }
  if (min !== null && value < min) value = min;
  if (max !== null && value > max) value = max;
  return value;
}

/** A histogram from stored JSON-ish data, ignoring bad keys and non-positive or bad counts. */
export function histogramFrom(data: unknown): Histogram {
  const hist: Histogram = new Map();
  let source: unknown = data;
  if (typeof source === "string") {
    try {
      source = JSON.parse(source);
    } catch {
      return hist;
    }
  }
  if (source instanceof Map) source = Object.fromEntries(source);
  if (typeof source !== "object" || source === null || Array.isArray(source)) return hist;
  for (const [key, raw] of Object.entries(source)) {
    const index = Number(key);
    if (!Number.isInteger(index) || index < 0 || index > MAX_BUCKET || String(index) !== key) continue;
    const count = typeof raw === "number" ? raw : typeof raw === "string" ? Number(raw) : Number.NaN;
    if (!Number.isFinite(count) || count <= 0) continue;
    hist.set(index, (hist.get(index) ?? 0) + Math.floor(count));
  }
  return hist;
}

/**
 * A histogram that refuses writes, for one value shared by many records (aggregation shares the
 * empty one and one per single-sample bucket). It keeps its JSON once made, so a store writing
 * thousands of single-sample rows builds each text once. A consumer that tried to mutate it fails
 * loudly instead of corrupting every record that shares it.
 */
export class FrozenHistogram extends Map<number, number> {
  #json: string | null = null;

  constructor(entries: Iterable<readonly [number, number]> = []) {
    super();
    for (const [index, count] of entries) super.set(index, count);
  }

  override set(_index: number, _count: number): this {
    throw new TypeError("this histogram is shared and read-only");
  }

  get json(): string {
    this.#json ??= buildJson(this);
    return this.#json;
  }
}

/** Compact JSON `{"index":count}` for stores that keep histograms as text. */
export function histogramJson(hist: Histogram): string {
  return hist instanceof FrozenHistogram ? hist.json : buildJson(hist);
}

function buildJson(hist: Histogram): string {
  if (hist.size === 0) return "{}";
  let out = "";
  // forEach: no [key, value] array per entry (a rollup commit serialises one or two per delta).
  hist.forEach((count, index) => {
    out += `,"${index}":${count}`;
  });
  return `{${out.slice(1)}}`;
}

// Scratch for adding canonical texts: counts by bucket, the buckets touched, and which text last
// named each bucket (a key repeated within one text is not canonical: JSON.parse keeps the last).
const SUMS = new Float64Array(MAX_BUCKET + 1);
const TOUCHED: number[] = [];
const SEEN_IN = new Float64Array(MAX_BUCKET + 1);
let textStamp = 0;

/**
 * Adds the counts of canonical histogram text (`{"bucket":count,...}`, what `histogramJson` and
 * `JSON.stringify` write: buckets without leading zeros up to MAX_BUCKET, positive safe-integer
 * counts) into SUMS. False when the text is not in that form; SUMS may then hold part of it.
 */
function addCanonical(text: unknown): boolean {
  if (typeof text !== "string") return false;
  const n = text.length;
  if (n < 2 || text.charCodeAt(0) !== 123 || text.charCodeAt(n - 1) !== 125) return false;
  let i = 1;
  if (n === 2) return true;
  const stamp = ++textStamp;
  for (;;) {
    if (text.charCodeAt(i) !== 34) return false;
    i++;
    let bucket = 0;
    const keyStart = i;
    for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) bucket = bucket * 10 + (c - 48);
    const digits = i - keyStart;
    if (digits === 0 || (digits > 1 && text.charCodeAt(keyStart) === 48) || bucket > MAX_BUCKET) return false;
    if (text.charCodeAt(i) !== 34 || text.charCodeAt(i + 1) !== 58) return false;
    i += 2;
    let count = 0;
    const countStart = i;
    for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) count = count * 10 + (c - 48);
    if (i === countStart || count <= 0 || count > Number.MAX_SAFE_INTEGER || text.charCodeAt(countStart) === 48) {
      return false;
    }
    if (SEEN_IN[bucket] === stamp) return false;
    SEEN_IN[bucket] = stamp;
    if (SUMS[bucket] === 0) TOUCHED.push(bucket);
    SUMS[bucket] = (SUMS[bucket] as number) + count;
    const c = text.charCodeAt(i);
    if (c === 125 && i === n - 1) return true;
    if (c !== 44) return false;
    i++;
  }
}

function clearSums(): void {
  for (const bucket of TOUCHED) SUMS[bucket] = 0;
  TOUCHED.length = 0;
}

/**
 * Two stored histograms added, as JSON text: the merge the SQL stores run when an upsert meets a
 * stored row. Canonical text (what `histogramJson` writes) is scanned straight into a scratch
 * array, without parsing to objects; anything else (corrupt data) goes through `histogramFrom`'s
 * rules, so both give the same histogram.
 */
export function addHistogramJson(a: unknown, b: unknown): string {
  try {
    if (addCanonical(a) && addCanonical(b)) {
      if (TOUCHED.length === 0) return "{}";
      TOUCHED.sort((x, y) => x - y);
      let out = "{";
      for (let k = 0; k < TOUCHED.length; k++) {
        const bucket = TOUCHED[k] as number;
        if (k > 0) out += ",";
        out += `"${bucket}":${SUMS[bucket]}`;
      }
      return `${out}}`;
    }
  } finally {
    clearSums();
  }
  const hist = histogramFrom(a);
  mergeHistogram(hist, histogramFrom(b));
  return histogramJson(hist);
}
