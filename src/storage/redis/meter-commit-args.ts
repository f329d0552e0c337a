/**
 * The KEYS and ARGV of one `meter-commit.lua` call (layout at the top of the script), built in one
 * pass over the batch's rows: the processor's columns when the batch carries them (so the delta
 * objects are never made), else its delta objects with duplicates merged (the script reads each
 * bucket hash once before writing it).
 */

import { indexNameOfKey } from "../../meter/index-key.ts";
import { mergeByBucket } from "../../meter/rollup-record.ts";
import {
  type CommitBatch,
  type Histogram,
  type RollupDelta,
  stateKey,
  TIER_MS,
  type Tier,
} from "../../meter/rollups.ts";
import { type ReportKeys, TIER_NUMBER } from "./meter-keys.ts";

/** Expiry past a bucket's end per tier, and of interval state; null keeps everything. */
export interface Ttls {
  minute: number;
  hour: number;
  day: number;
  intervalState: number;
}

const TIER_NAMES: readonly Tier[] = ["minute", "hour", "day"];

function extreme(v: number): number | null {
  return v === Number.POSITIVE_INFINITY || v === Number.NEGATIVE_INFINITY ? null : v;
}

function flatHistogram(hist: Histogram): number[] {
  const out: number[] = [];
  hist.forEach((count, index) => {
    out.push(index, count);
  });
  return out;
}

/** Whether the batch's columns name each bucket once (else the objects are merged). */
function uniqueColumns(batch: CommitBatch): boolean {
  const c = batch.columns;
  if (c === undefined) return false;
  const seen = new Set<string>();
  for (let k = 0; k < c.order.length; k++) {
    const r = c.order[k] as number;
    seen.add(`${c.tier[r]}\u0000${c.bucketStart[r]}\u0000${c.indexKey[r]}`);
  }
  return seen.size === c.order.length;
}

/** One delta per bucket key. */
function uniqueDeltas(deltas: readonly RollupDelta[]): RollupDelta[] {
  return [...mergeByBucket(deltas, (d) => `${d.tier}\u0000${d.bucketStart}\u0000${d.indexKey}`).values()];
}

/** A bucket's TTL: the tier's retention past the bucket's end (0 = none). */
function rowTtl(ttl: Ttls | null, tier: Tier, start: number, now: number): number {
  if (ttl === null) return 0;
  return ttl[tier] + Math.max(0, start + TIER_MS[tier] - now);
}

export function commitArgs(
  rk: ReportKeys,
  batch: CommitBatch,
  fenceKey: string,
  ttl: Ttls | null,
): { keys: string[]; args: string[] } {
  const now = batch.now;
  const rowKeys: string[] = [];
  const rows: unknown[] = [];
  const ixKeys = new Map<string, { pos: number; ttl: number; name: string }>();
  const zKeys = new Map<string, { pos: number; ttl: number }>();
  const tierStarts = new Map<string, [number, number]>();
  /** Registers a bucket; the head of its script row: [ix, z, indexKey, start, ttl]. */
  const head = (tier: Tier, bucketStart: number, indexName: string, indexKey: string): unknown[] => {
    const rowTtlMs = rowTtl(ttl, tier, bucketStart, now);
    const ixKey = rk.indexSet(tier, bucketStart, indexName);
    let ix = ixKeys.get(ixKey);
    if (ix === undefined) {
      ix = { pos: ixKeys.size + 1, ttl: rowTtlMs, name: indexName };
      ixKeys.set(ixKey, ix);
    }
    const zKey = rk.starts(tier, indexKey);
    const zTtl = rowTtlMs === 0 ? 0 : rowTtlMs + TIER_MS[tier];
    let z = zKeys.get(zKey);
    if (z === undefined) {
      z = { pos: zKeys.size + 1, ttl: zTtl };
      zKeys.set(zKey, z);
    } else if (zTtl > z.ttl) z.ttl = zTtl;
    tierStarts.set(`${tier}:${bucketStart}`, [TIER_NUMBER[tier], bucketStart]);
    rowKeys.push(rk.row(tier, bucketStart, indexKey));
    return [ix.pos, z.pos, indexKey, bucketStart, rowTtlMs];
  };
  const c = batch.columns;
  if (c !== undefined && uniqueColumns(batch)) {
    for (let k = 0; k < c.order.length; k++) {
      const r = c.order[k] as number;
      const row = head(
        TIER_NAMES[c.tier[r] as number] as Tier,
        c.bucketStart[r] as number,
        c.indexName[r] as string,
        c.indexKey[r] as string,
      );
      row.push(
        c.count[r],
        c.successCount[r],
        c.failureCount[r],
        c.skippedCount[r],
        extreme(c.startedAtMin[r] as number),
        extreme(c.startedAtMax[r] as number),
        c.durationMsCount[r],
        c.durationMsSum[r],
        extreme(c.durationMsMin[r] as number),
        extreme(c.durationMsMax[r] as number),
        flatHistogram(c.durationMsHist[r] as Histogram),
        c.intervalMsCount[r],
        c.intervalMsSum[r],
        extreme(c.intervalMsMin[r] as number),
        extreme(c.intervalMsMax[r] as number),
        flatHistogram(c.intervalMsHist[r] as Histogram),
      );
      rows.push(row);
    }
  } else {
    for (const d of uniqueDeltas(batch.rollups)) {
      const row = head(d.tier, d.bucketStart, indexNameOfKey(d.indexKey), d.indexKey);
      row.push(
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
        flatHistogram(d.durationMsHist),
        d.intervalMsCount,
        d.intervalMsSum,
        d.intervalMsMin,
        d.intervalMsMax,
        flatHistogram(d.intervalMsHist),
      );
      rows.push(row);
    }
  }
  const keys = [
    rk.markers,
    rk.state,
    fenceKey,
    rk.indexNames,
    rk.tierStarts("minute"),
    rk.tierStarts("hour"),
    rk.tierStarts("day"),
    ...rowKeys,
    ...ixKeys.keys(),
    ...zKeys.keys(),
  ];
  const fence = batch.fence === null ? "" : `${batch.fence.fence}:${batch.fence.token}`;
  const markerTtl = ttl === null ? 0 : ttl.minute;
  const stateTtl = ttl === null ? 0 : ttl.intervalState;
  const ixList = [...ixKeys.values()].map((ix) => [ix.ttl, ix.name]);
  const zList = [...zKeys.values()].map((z) => z.ttl);
  const args = [
    fence,
    String(now),
    String(markerTtl),
    String(stateTtl),
    JSON.stringify([rows, ixList, zList, [...tierStarts.values()]]),
    String(batch.markers.length),
  ];
  for (const m of batch.markers) args.push(m.unit, String(m.expected), String(m.high));
  for (const s of batch.intervalState) args.push(stateKey(s.param, s.value), String(s.lastMs));
  return { keys, args };
}
