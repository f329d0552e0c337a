/**
 * The histograms of the rollup rows a `PostgresRollups` wrote, as they are stored, with the
 * transaction that wrote each row version. Adding sparse jsonb histograms in SQL costs the server
 * far more than the rest of a commit, so for a row it knows the adapter sends the new absolute
 * counts of the buckets a delta touches, and `<p>_commit` lays them over the stored histogram only
 * while the row's xmin is still that transaction (anything else is merged in SQL, see
 * `meter-schema.sql`).
 *
 * Contract: an entry `(xid, duration, interval)` holds exactly the histograms of the row version
 * written by transaction `xid`, sanitised the way `<p>_hist_add` reads a stored count (a number is
 * floored, a digit string is its value, anything else counts as 0; keys that are not bucket indexes
 * are never looked up). An entry that might be wrong is dropped, never kept: a dropped entry only
 * costs one SQL merge. The cache is bounded (least recently written rows leave first).
 */

import { MAX_BUCKET } from "../../meter/histogram.ts";
import type { Histogram } from "../../meter/rollups.ts";

/** Bucket counts from index `lo` on (indexes are small integers, so a dense array is compact). */
export class DenseCounts {
  lo = 0;
  counts: Float64Array = EMPTY;

  get(index: number): number {
    const i = index - this.lo;
    return i >= 0 && i < this.counts.length ? (this.counts[i] as number) : 0;
  }

  /** Makes room for indexes `lo..hi` (one allocation however many buckets follow). */
  cover(lo: number, hi: number): void {
    const end = this.lo + this.counts.length;
    if (this.counts.length > 0 && lo >= this.lo && hi < end) return;
    const from = this.counts.length === 0 ? lo : Math.min(this.lo, lo);
    const to = this.counts.length === 0 ? hi + 1 : Math.max(end, hi + 1);
    const grown = new Float64Array(to - from);
    if (this.counts.length > 0) grown.set(this.counts, this.lo - from);
    this.lo = from;
    this.counts = grown;
  }

  set(index: number, value: number): void {
    this.cover(index, index);
    this.counts[index - this.lo] = value;
  }

  addAll(delta: Histogram): void {
    if (delta.size === 0) return;
    let lo = MAX_BUCKET;
    let hi = 0;
    delta.forEach((_, index) => {
      if (index < lo) lo = index;
      if (index > hi) hi = index;
    });
    this.cover(lo, hi);
    const counts = this.counts;
    const base = this.lo;
    delta.forEach((n, index) => {
      counts[index - base] = (counts[index - base] as number) + n;
    });
  }

  static of(delta: Histogram): DenseCounts {
    const out = new DenseCounts();
    out.addAll(delta);
    return out;
  }

  /** A stored jsonb histogram (parsed) read as `<p>_hist_add` reads it. */
  static fromStored(stored: unknown): DenseCounts {
    const out = new DenseCounts();
    if (typeof stored !== "object" || stored === null || Array.isArray(stored)) return out;
    for (const [key, value] of Object.entries(stored as Record<string, unknown>)) {
      const index = Number(key);
      if (!Number.isInteger(index) || index < 0 || index > MAX_BUCKET || String(index) !== key) continue;
      out.set(index, storedCount(value));
    }
    return out;
  }
}

const EMPTY = new Float64Array(0);
const COUNT = /^[0-9]{1,18}$/;

/** One stored histogram count as `<p>_hist_add` reads it. */
export function storedCount(value: unknown): number {
  if (typeof value === "number") return Number.isFinite(value) ? Math.floor(value) : 0;
  return typeof value === "string" && COUNT.test(value) ? Number(value) : 0;
}

export interface KnownRow {
  /** xid8 of the transaction that wrote the row version described. */
  xid: number;
  duration: DenseCounts;
  interval: DenseCounts;
}

export class KnownHistograms {
  readonly #rows = new Map<string, KnownRow>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.#rows.size;
  }

  get(key: string): KnownRow | undefined {
    return this.#rows.get(key);
  }

  /** Records `row` as the newest written, evicting the least recently written beyond capacity. */
  remember(key: string, row: KnownRow): void {
    this.#rows.delete(key);
    this.#rows.set(key, row);
    if (this.#rows.size > this.capacity) {
      for (const oldest of this.#rows.keys()) {
        this.#rows.delete(oldest);
        if (this.#rows.size <= this.capacity) break;
      }
    }
  }

  forget(key: string): void {
    this.#rows.delete(key);
  }

  clear(): void {
    this.#rows.clear();
  }
}
