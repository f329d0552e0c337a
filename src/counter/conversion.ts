/**
 * Converting a snapshot to another bucket geometry (spec §8.6): other units, bucket counts,
 * alignment or time zone. Used when `build()` loads an event saved under another config, and when
 * a store imports, merges or syncs a snapshot whose config differs from its own.
 *
 * Per replica:
 * 1. Stored bucket i of unit u is the period ord(start) − i under the stored alignment and zone,
 *    clipped at `now`.
 * 2. The counts are explained as disjoint *pieces*, finest stored unit first: coverage C = [c, now)
 *    starts empty; for each bucket [a, b) with count n, k = the pieces already inside it, and the
 *    rest r = n − k (if > 0) becomes a piece over the gap [a, min(b, c)) no finer unit covers (or
 *    over [a, b) if there is no gap). Then C grows by the unit's coverage.
 * 3. A piece sits at the midpoint of its span, after clipping the span to [firstSeenAt, lastSeenAt].
 * 4. A target unit the snapshot tracks with the same alignment and zone gets its stored buckets
 *    copied by ordinal (exact), and buckets older than the stored ones filled from pieces; any other
 *    target unit re-records every piece at its instant (older than its coverage: dropped; later than
 *    now: bucket 0). First/last instants carry over.
 * The same geometry (units and counts, alignment, zone) converts to an equal copy.
 *
 * Bucket boundaries are computed once per (zone, unit, ordinal) and cached, because calendar
 * boundaries cost an `Intl` call and a load converts many events over the same periods.
 */

import { TallyError } from "../errors.ts";
import { type Alignment, type Periods, periodsFor } from "../time/calendar.ts";
import { isTimeUnit, NOMINAL_MS, type TimeUnit } from "../time/units.ts";
import type { EventSnapshot } from "./snapshot.ts";

export interface ConversionTarget {
  alignment: Alignment;
  timeZone: string;
  units: ReadonlyArray<{ unit: TimeUnit; bucketCount: number }>;
}

/** A count the stored buckets attribute to one instant (step 2–3). */
export interface Piece {
  instant: number;
  count: number;
}

const MAX_COUNT = 4_294_967_295;
const MAX_BUCKETS = 1_000_000;

export function convertSnapshot(snapshot: EventSnapshot, target: ConversionTarget, now: number): EventSnapshot {
  checkTarget(target);
  if (sameGeometry(snapshot, target)) return reordered(snapshot, target);
  const stored = storedUnits(snapshot);
  const to = periodsFor(target.alignment, target.timeZone);
  const targets = target.units.map((t) => {
    const ordinal = to.ordinal(t.unit, now);
    const bounds = boundsOf(to, t.unit, ordinal - t.bucketCount + 1, t.bucketCount);
    const same = stored.find((s) => s.unit === t.unit && samePeriods(snapshot, target));
    return { unit: t.unit, bucketCount: t.bucketCount, ordinal, bounds, same };
  });
  const replicas = snapshot.replicas.map((replica) => {
    const pieces = explain(stored, replica.counts, snapshot, now);
    const counts = targets.map((t) => {
      const row = new Array<number>(t.bucketCount).fill(0);
      if (t.same !== undefined) {
        const storedRow = replica.counts[t.same.index] ?? [];
        for (let i = 0; i < storedRow.length; i++) {
          const value = storedRow[i] ?? 0;
          if (value === 0) continue;
          const at = Math.max(0, t.ordinal - (t.same.ordinal - i));
          if (at < t.bucketCount) row[at] = add(row[at] ?? 0, value);
        }
        // Buckets older than the stored ones come from the pieces there (a coarser unit's estimate).
        const oldest = t.same.bounds[0] ?? Number.NEGATIVE_INFINITY;
        for (const piece of pieces) if (piece.instant < oldest) place(row, t.bounds, piece);
      } else {
        for (const piece of pieces) place(row, t.bounds, piece);
      }
      return row;
    });
    return { replicaId: replica.replicaId, counts };
  });
  return {
    format: "tally.counter",
    version: 1,
    alignment: target.alignment,
    timeZone: target.timeZone,
    savedAt: now,
    firstSeenAt: snapshot.firstSeenAt,
    lastSeenAt: snapshot.lastSeenAt,
    units: targets.map((t) => ({ unit: t.unit, bucketCount: t.bucketCount, start: startOf(to, t.unit, t.ordinal) })),
    replicas,
  };
}

/** True when converting would only copy: same alignment, zone (calendar) and units with the same counts. */
export function sameGeometry(snapshot: EventSnapshot, target: ConversionTarget): boolean {
  if (!samePeriods(snapshot, target) || snapshot.units.length !== target.units.length) return false;
  return target.units.every((t) => snapshot.units.some((s) => s.unit === t.unit && s.bucketCount === t.bucketCount));
}

/** The pieces (steps 1–3) that explain one replica's counts; exported for the property tests. */
export function explainPieces(snapshot: EventSnapshot, replicaIndex: number, now: number): Piece[] {
  const replica = snapshot.replicas[replicaIndex];
  if (replica === undefined) return [];
  return explain(storedUnits(snapshot), replica.counts, snapshot, now);
}

interface StoredUnit {
  unit: TimeUnit;
  /** Position in `snapshot.units` (and in each replica's `counts`). */
  index: number;
  bucketCount: number;
  /** Ordinal of bucket 0. */
  ordinal: number;
  /** bucketCount + 1 period starts, oldest first: bucket i spans [bounds[n-1-i], bounds[n-i]). */
  bounds: number[];
}

function storedUnits(snapshot: EventSnapshot): StoredUnit[] {
  const from = periodsFor(snapshot.alignment, snapshot.timeZone);
  return snapshot.units
    .map((u, index) => {
      const ordinal = ordinalOf(from, u.unit, u.start);
      return {
        unit: u.unit,
        index,
        bucketCount: u.bucketCount,
        ordinal,
        bounds: boundsOf(from, u.unit, ordinal - u.bucketCount + 1, u.bucketCount),
      };
    })
    .sort((a, b) => NOMINAL_MS[a.unit] - NOMINAL_MS[b.unit]);
}

function explain(
  stored: readonly StoredUnit[],
  counts: readonly (readonly number[])[],
  snapshot: EventSnapshot,
  now: number,
): Piece[] {
  const pieces: Piece[] = [];
  let coverage = now;
  for (const unit of stored) {
    const row = counts[unit.index] ?? [];
    const n = unit.bucketCount;
    // k per bucket: the pieces of finer units whose instant lies in it.
    const known = new Float64Array(n);
    for (const piece of pieces) {
      const j = slot(unit.bounds, piece.instant);
      if (j >= 0 && j < n) known[n - 1 - j] = (known[n - 1 - j] ?? 0) + piece.count;
    }
    const added: Piece[] = [];
    for (let i = 0; i < row.length && i < n; i++) {
      const rest = (row[i] ?? 0) - (known[i] ?? 0);
      if (rest <= 0) continue;
      const a = unit.bounds[n - 1 - i] ?? 0;
      const end = unit.bounds[n - i] ?? a;
      const b = end > now && a < now ? now : end;
      const gapEnd = Math.min(b, coverage);
      const [lo, hi] = gapEnd > a ? [a, gapEnd] : [a, b];
      added.push({ instant: midpoint(lo, hi, snapshot.firstSeenAt, snapshot.lastSeenAt), count: rest });
    }
    pieces.push(...added);
    coverage = Math.min(coverage, unit.bounds[0] ?? coverage);
  }
  return pieces;
}

/** Midpoint of [lo, hi) after clipping it to [first, last] when that leaves something. */
function midpoint(lo: number, hi: number, first: number | null, last: number | null): number {
  const clippedLo = first === null ? lo : Math.max(lo, first);
  const clippedHi = last === null ? hi : Math.min(hi, last + 1);
  const [x, y] = clippedHi > clippedLo ? [clippedLo, clippedHi] : [lo, hi];
  return y > x ? Math.floor((x + y - 1) / 2) : x;
}

/** Adds a piece to the row whose periods `bounds` describes (oldest first, bucketCount + 1 starts). */
function place(row: number[], bounds: readonly number[], piece: Piece): void {
  const n = row.length;
  const j = slot(bounds, piece.instant);
  if (j < 0) return; // older than the unit's coverage: dropped for this unit only
  const i = j >= n ? 0 : n - 1 - j; // later than now: bucket 0
  row[i] = add(row[i] ?? 0, piece.count);
}

/** Index j of the period [bounds[j], bounds[j+1]) holding t; -1 before bounds[0]; n at or after bounds[n]. */
function slot(bounds: readonly number[], t: number): number {
  const n = bounds.length - 1;
  if (t < (bounds[0] ?? 0)) return -1;
  if (t >= (bounds[n] ?? 0)) return n;
  let lo = 0;
  let hi = n;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((bounds[mid] ?? 0) <= t) lo = mid;
    else hi = mid;
  }
  return lo;
}

function add(a: number, b: number): number {
  return Math.min(MAX_COUNT, a + b);
}

function samePeriods(snapshot: EventSnapshot, target: ConversionTarget): boolean {
  return (
    snapshot.alignment === target.alignment && (target.alignment === "uniform" || snapshot.timeZone === target.timeZone)
  );
}

/** An equal copy in the target's unit order (and zone, which uniform buckets ignore). */
function reordered(snapshot: EventSnapshot, target: ConversionTarget): EventSnapshot {
  const order = target.units.map((t) => snapshot.units.findIndex((s) => s.unit === t.unit));
  return {
    format: "tally.counter",
    version: 1,
    alignment: snapshot.alignment,
    timeZone: target.timeZone,
    savedAt: snapshot.savedAt,
    firstSeenAt: snapshot.firstSeenAt,
    lastSeenAt: snapshot.lastSeenAt,
    units: order.map((u) => ({ ...(snapshot.units[u] as EventSnapshot["units"][number]) })),
    replicas: snapshot.replicas.map((r) => ({
      replicaId: r.replicaId,
      counts: order.map((u) => [...(r.counts[u] ?? [])]),
    })),
  };
}

function checkTarget(target: ConversionTarget): void {
  const bad = (what: string): TallyError =>
    new TallyError("INVALID_CONFIG", `cannot convert to this config: ${what}`, { details: { target } });
  if (target.alignment !== "calendar" && target.alignment !== "uniform")
    throw bad("alignment must be calendar or uniform");
  if (!Array.isArray(target.units) || target.units.length === 0) throw bad("it tracks no unit");
  const seen = new Set<string>();
  for (const u of target.units) {
    if (!isTimeUnit(u.unit) || seen.has(u.unit)) throw bad(`unit ${String(u.unit)} is unknown or repeated`);
    seen.add(u.unit);
    if (!Number.isInteger(u.bucketCount) || u.bucketCount < 1 || u.bucketCount > MAX_BUCKETS) {
      throw bad(`bucket count ${String(u.bucketCount)} for ${u.unit} is not an integer from 1 to ${MAX_BUCKETS}`);
    }
  }
}

// ── cached period math ─────────────────────────────────────────────────────────────────────────

const CACHE_LIMIT = 200_000;
const cache = new Map<string, number>();

/** Calendar hours and coarser need the zone's offsets; everything else is arithmetic. */
function needsZone(periods: Periods, unit: TimeUnit): boolean {
  return periods.alignment === "calendar" && unit !== "seconds" && unit !== "minutes";
}

function remember(key: string, compute: () => number): number {
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  if (cache.size >= CACHE_LIMIT) cache.clear();
  const value = compute();
  cache.set(key, value);
  return value;
}

function startOf(periods: Periods, unit: TimeUnit, ordinal: number): number {
  if (!needsZone(periods, unit)) return periods.start(unit, ordinal);
  return remember(`s|${periods.timeZone}|${unit}|${ordinal}`, () => periods.start(unit, ordinal));
}

function ordinalOf(periods: Periods, unit: TimeUnit, t: number): number {
  if (!needsZone(periods, unit)) return periods.ordinal(unit, t);
  return remember(`o|${periods.timeZone}|${unit}|${t}`, () => periods.ordinal(unit, t));
}

/** count + 1 period starts from `oldest` on: the boundaries of `count` consecutive periods. */
function boundsOf(periods: Periods, unit: TimeUnit, oldest: number, count: number): number[] {
  const bounds = new Array<number>(count + 1);
  for (let j = 0; j <= count; j++) bounds[j] = startOf(periods, unit, oldest + j);
  return bounds;
}
