/**
 * The rollup store contract: processed meter data (minute, hour and day buckets per index value
 * set), the processed-entry markers that gate it, interval state, report definitions, leases and
 * watermarks.
 *
 * Guarantees every `MeterRollups` gives (checked by `meterRollupsContract` in `tally/testing`):
 *
 * - **Rows** are keyed by (namespace, event, version, tier, bucketStart, indexName, indexKey);
 *   `indexKey` determines `indexName` (see `index-key.ts`). Merging adds counts, sums and histogram
 *   buckets and takes the min of mins and max of maxes: associative and commutative.
 * - **`commit` is the gate**, one atomic step. If any unit's stored high-water differs from its
 *   `expected` (0 = no marker yet), it writes **nothing** and returns `{ ok: false, conflicts }`
 *   with the conflicting units. With a `fence`, the lease `fence.key` must still hold that token
 *   and fence unexpired by the **store's** clock (`batch.now` for stores without a server clock),
 *   else it throws `LockLostError` and writes nothing. Then it sets each marker to `high` (stamped
 *   with the commit time `now`), merges the deltas and raises interval state (set-if-greater). An
 *   entry is therefore aggregated only by the commit that advanced its marker, never twice.
 * - A batch larger than `maxEntriesPerCommit` rollup deltas is split by the caller. When the batch
 *   carries `columns` too, they hold exactly the deltas of `rollups`; a store reads either.
 * - **Corrupt stored data never fails a commit or a read**: a non-numeric value counts as 0
 *   (additive) or absent (min/max), bad histogram keys are ignored, values past 2^53 are clamped
 *   with a warning, driver int8 strings become numbers.
 * - **Definitions.** `ensureDefinition` stores the definition when none is stored; a stored one
 *   with another fingerprint, or whose fingerprint does not match its own content, throws
 *   `DefinitionChangedError` (stores call `checkStoredDefinition`). `getDefinition` returns the
 *   stored one (validated the same way) or null.
 * - **Leases** (`acquireLease`) are exclusive per key until `now + ttl` by the store's clock.
 *   Acquiring a free or expired lease increments the key's `fence`, so a later holder always has a
 *   larger fence. `renewLease` extends only a lease still held with the same token and fence.
 *   `releaseLease` frees it only when still held by that token. Keys are opaque: the caller puts
 *   the namespace in them.
 * - **Reads.** `readBuckets` returns the stored records of one index value set at the given
 *   starts (absent buckets are omitted). `readIndex` merges, per index key of `indexName`, the
 *   records at the given starts. `listBuckets` returns up to `limit` records of one index value set
 *   in the tier, ascending by start (callers ask for `limit + 1` to detect overflow).
 * - **cleanup** (within `namespace`, restricted to `plan.events` names when given, every version):
 *   deletes buckets of tier T whose end (`start + size`) is <= `plan.before[T]`; interval state
 *   with `lastMs < plan.before.intervalState`; markers created before `plan.before.markers`. An
 *   absent target is not cleaned. It never touches definitions, leases or watermarks.
 * - **Watermarks** are plain per-key numbers (auto cleanup's `cleanup:last`).
 * - **close** releases what the store opened; a client or database passed in stays open.
 */

export type Tier = "minute" | "hour" | "day";

export const TIERS: readonly Tier[] = ["minute", "hour", "day"];

export const TIER_MS: Readonly<Record<Tier, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** Sparse log-linear histogram: bucket index -> count (see `histogram.ts`). */
export type Histogram = Map<number, number>;

export interface ReportRef {
  namespace: string;
  name: string;
  version: number;
}

export interface StoredDefinition {
  name: string;
  version: number;
  /** Sorted param sets, the all-events index `[]` first. */
  indexes: string[][];
  intervals: { param: string; groupBy: string[] }[];
  /** sha256 hex of the canonical compact JSON of the four fields above. */
  fingerprint: string;
}

/** One bucket of one index value set; also the shape of a delta to merge. */
export interface RollupRecord {
  tier: Tier;
  bucketStart: number;
  /** Sorted params joined by ","; "" for the all-events index. */
  indexName: string;
  /** "all", or `encodeURIComponent(param)=encodeURIComponent(value)` pairs joined by "&". */
  indexKey: string;
  count: number;
  successCount: number;
  failureCount: number;
  skippedCount: number;
  startedAtMin: number | null;
  startedAtMax: number | null;
  durationMsCount: number;
  durationMsSum: number;
  durationMsMin: number | null;
  durationMsMax: number | null;
  durationMsHist: Histogram;
  intervalMsCount: number;
  intervalMsSum: number;
  intervalMsMin: number | null;
  intervalMsMax: number | null;
  intervalMsHist: Histogram;
}

export type RollupDelta = RollupRecord;

/**
 * A commit's deltas as columns (`CommitBatch.columns`): the k-th delta of `CommitBatch.rollups` is
 * row `order[k]` of every column, field for field (columns may be longer than the row count). `tier` holds 0 (minute), 1 (hour) or 2 (day).
 * Where a delta's min is null its min column holds +Infinity and its max column -Infinity. A store
 * that writes rows one field at a time may read these instead of `rollups`, whose objects are then
 * never made (they were about a tenth of processing time).
 */
export interface RollupColumns {
  readonly order: Int32Array;
  readonly tier: Uint8Array;
  readonly bucketStart: Float64Array;
  readonly indexName: readonly string[];
  readonly indexKey: readonly string[];
  readonly count: Float64Array;
  readonly successCount: Float64Array;
  readonly failureCount: Float64Array;
  readonly skippedCount: Float64Array;
  readonly startedAtMin: Float64Array;
  readonly startedAtMax: Float64Array;
  readonly durationMsCount: Float64Array;
  readonly durationMsSum: Float64Array;
  readonly durationMsMin: Float64Array;
  readonly durationMsMax: Float64Array;
  readonly durationMsHist: readonly Histogram[];
  readonly intervalMsCount: Float64Array;
  readonly intervalMsSum: Float64Array;
  readonly intervalMsMin: Float64Array;
  readonly intervalMsMax: Float64Array;
  readonly intervalMsHist: readonly Histogram[];
}

export interface Lease {
  key: string;
  token: string;
  fence: number;
}

/** Move the unit's high-water from `expected` (0 = no marker yet) to `high`. */
export interface MarkerUpdate {
  unit: string;
  expected: number;
  high: number;
}

export interface IntervalStateUpdate {
  param: string;
  value: string;
  lastMs: number;
}

export interface CommitBatch {
  rollups: RollupDelta[];
  /** The same deltas as columns, when the caller has them (the processor does); stores may ignore it. */
  columns?: RollupColumns;
  intervalState: IntervalStateUpdate[];
  markers: MarkerUpdate[];
  fence: Lease | null;
  /** The committer's clock; stores without a server clock use it for leases and marker stamps. */
  now: number;
}

export type CommitResult = { ok: true } | { ok: false; conflicts: string[] };

export interface CleanupPlan {
  /** Event names to clean (every version); null = every event of the namespace. */
  events: readonly string[] | null;
  before: { minute?: number; hour?: number; day?: number; intervalState?: number; markers?: number };
}

export interface CleanupResult {
  rollupKeysDeleted: number;
  intervalStateKeysDeleted: number;
  processedEntriesDeleted: number;
}

/** The key of `readIntervalState`'s map: unambiguous for any param and value. */
export function stateKey(param: string, value: string): string {
  return `${param}\u0000${value}`;
}

export interface MeterRollups {
  /** The processor splits batches with more rollup deltas than this. */
  readonly maxEntriesPerCommit: number;
  ensureDefinition(ref: ReportRef, def: StoredDefinition): Promise<void>;
  getDefinition(ref: ReportRef): Promise<StoredDefinition | null>;
  acquireLease(key: string, ttlMs: number, now: number): Promise<Lease | null>;
  renewLease(lease: Lease, ttlMs: number, now: number): Promise<boolean>;
  releaseLease(lease: Lease): Promise<void>;
  /** Stored high-water per unit; units without a marker are absent. */
  readMarkers(ref: ReportRef, units: readonly string[]): Promise<Map<string, number>>;
  /** Stored `lastMs` keyed by `stateKey(param, value)`; absent keys have no state. */
  readIntervalState(ref: ReportRef, keys: readonly { param: string; value: string }[]): Promise<Map<string, number>>;
  commit(ref: ReportRef, batch: CommitBatch): Promise<CommitResult>;
  forgetMarkers(ref: ReportRef, units: readonly string[]): Promise<void>;
  countMarkers(ref: ReportRef): Promise<number>;
  readBuckets(ref: ReportRef, tier: Tier, starts: readonly number[], indexKey: string): Promise<RollupRecord[]>;
  listBuckets(ref: ReportRef, tier: Tier, indexKey: string, limit: number): Promise<RollupRecord[]>;
  readIndex(
    ref: ReportRef,
    tier: Tier,
    starts: readonly number[],
    indexName: string,
  ): Promise<Map<string, RollupRecord>>;
  cleanup(namespace: string, plan: CleanupPlan): Promise<CleanupResult>;
  readWatermark(key: string): Promise<number | null>;
  writeWatermark(key: string, ms: number): Promise<void>;
  close(): Promise<void>;
}
