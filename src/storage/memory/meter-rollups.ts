/**
 * `MemoryRollups`: the reference `MeterRollups` (see `src/meter/rollups.ts` for the guarantees).
 * Plain maps; every method runs to completion synchronously inside its promise, so a commit is
 * atomic by construction. Lease times come from the `now` the caller passes. Stored records are
 * read back through the same sanitising path the database adapters use, so corrupt values read as
 * 0 or absent here too.
 */

import { randomBytes } from "node:crypto";
import { LockLostError } from "../../errors.ts";
import { checkStoredDefinition, definitionJson } from "../../meter/definition.ts";
import { indexNameOfKey } from "../../meter/index-key.ts";
import { copyRecord, mergeRecord, recordFromStored, type StoredFields } from "../../meter/rollup-record.ts";
import {
  type CleanupPlan,
  type CleanupResult,
  type CommitBatch,
  type CommitResult,
  type Histogram,
  type Lease,
  type MeterRollups,
  type ReportRef,
  type RollupRecord,
  type StoredDefinition,
  stateKey,
  TIER_MS,
  TIERS,
  type Tier,
} from "../../meter/rollups.ts";

interface ReportData {
  ref: ReportRef;
  definition: string | null;
  /** tier -> indexKey -> bucketStart -> stored fields */
  buckets: Map<Tier, Map<string, Map<number, Record<string, unknown>>>>;
  markers: Map<string, { high: number; createdAt: number }>;
  state: Map<string, number>;
}

/** A histogram's own copy (an empty one is common and cheapest to make fresh). */
const copyHistogram = (hist: Histogram): Histogram => (hist.size === 0 ? new Map() : new Map(hist));

const keyOf = (ref: ReportRef): string => JSON.stringify([ref.namespace, ref.name, ref.version]);

function toStored(record: RollupRecord): Record<string, unknown> {
  const { tier: _t, bucketStart: _b, indexName: _n, indexKey: _k, ...fields } = record;
  return { ...fields, durationMsHist: new Map(record.durationMsHist), intervalMsHist: new Map(record.intervalMsHist) };
}

export class MemoryRollups implements MeterRollups {
  readonly maxEntriesPerCommit = 100_000;
  readonly #reports = new Map<string, ReportData>();
  readonly #leases = new Map<string, { token: string; fence: number; expiresAt: number }>();
  readonly #fences = new Map<string, number>();
  readonly #watermarks = new Map<string, number>();

  #report(ref: ReportRef): ReportData {
    const key = keyOf(ref);
    let data = this.#reports.get(key);
    if (data === undefined) {
      data = {
        ref: { namespace: ref.namespace, name: ref.name, version: ref.version },
        definition: null,
        buckets: new Map(TIERS.map((t) => [t, new Map()])),
        markers: new Map(),
        state: new Map(),
      };
      this.#reports.set(key, data);
    }
    return data;
  }

  // Stored values are clean records (merged in place, copied on read) unless the testing hook wrote
  // raw fields into them; those go through the same sanitising path the database adapters use.
  readonly #raw = new WeakSet<object>();

  #record(tier: Tier, start: number, indexKey: string, fields: Record<string, unknown>): RollupRecord {
    if (!this.#raw.has(fields)) return copyRecord(fields as unknown as RollupRecord);
    return recordFromStored(tier, start, indexNameOfKey(indexKey), indexKey, fields as StoredFields);
  }

  async ensureDefinition(ref: ReportRef, def: StoredDefinition): Promise<void> {
    const data = this.#report(ref);
    if (data.definition === null) data.definition = definitionJson(def);
    else checkStoredDefinition(data.definition, ref.name, ref.version, def);
  }

  async getDefinition(ref: ReportRef): Promise<StoredDefinition | null> {
    const stored = this.#reports.get(keyOf(ref))?.definition ?? null;
    return stored === null ? null : checkStoredDefinition(stored, ref.name, ref.version);
  }

  async acquireLease(key: string, ttlMs: number, now: number): Promise<Lease | null> {
    const held = this.#leases.get(key);
    if (held !== undefined && held.expiresAt > now) return null;
    const fence = (this.#fences.get(key) ?? 0) + 1;
    this.#fences.set(key, fence);
    const token = randomBytes(8).toString("hex");
    this.#leases.set(key, { token, fence, expiresAt: now + ttlMs });
    return { key, token, fence };
  }

  async renewLease(lease: Lease, ttlMs: number, now: number): Promise<boolean> {
    const held = this.#leases.get(lease.key);
    if (held === undefined || held.token !== lease.token || held.fence !== lease.fence || held.expiresAt <= now) {
      return false;
    }
    held.expiresAt = now + ttlMs;
    return true;
  }

  async releaseLease(lease: Lease): Promise<void> {
    const held = this.#leases.get(lease.key);
    if (held !== undefined && held.token === lease.token) this.#leases.delete(lease.key);
  }

  async readMarkers(ref: ReportRef, units: readonly string[]): Promise<Map<string, number>> {
    const markers = this.#reports.get(keyOf(ref))?.markers;
    const out = new Map<string, number>();
    if (markers === undefined) return out;
    for (const unit of units) {
      const m = markers.get(unit);
      if (m !== undefined) out.set(unit, m.high);
    }
    return out;
  }

  async readIntervalState(
    ref: ReportRef,
    keys: readonly { param: string; value: string }[],
  ): Promise<Map<string, number>> {
    const state = this.#reports.get(keyOf(ref))?.state;
    const out = new Map<string, number>();
    if (state === undefined) return out;
    for (const { param, value } of keys) {
      const key = stateKey(param, value);
      const last = state.get(key);
      if (last !== undefined) out.set(key, last);
    }
    return out;
  }

  async commit(ref: ReportRef, batch: CommitBatch): Promise<CommitResult> {
    const data = this.#report(ref);
    if (batch.fence !== null) {
      const held = this.#leases.get(batch.fence.key);
      if (
        held === undefined ||
        held.token !== batch.fence.token ||
        held.fence !== batch.fence.fence ||
        held.expiresAt <= batch.now
      ) {
        throw new LockLostError(`the lease ${batch.fence.key} (fence ${batch.fence.fence}) is no longer held`);
      }
    }
    const conflicts: string[] = [];
    for (const m of batch.markers) {
      if ((data.markers.get(m.unit)?.high ?? 0) !== m.expected) conflicts.push(m.unit);
    }
    if (conflicts.length > 0) return { ok: false, conflicts };
    for (const m of batch.markers) data.markers.set(m.unit, { high: m.high, createdAt: batch.now });
    for (const delta of batch.rollups) {
      const byKey = data.buckets.get(delta.tier) as Map<string, Map<number, Record<string, unknown>>>;
      let byStart = byKey.get(delta.indexKey);
      if (byStart === undefined) {
        byStart = new Map();
        byKey.set(delta.indexKey, byStart);
      }
      const existing = byStart.get(delta.bucketStart);
      if (existing === undefined) {
        // A copy, so the caller's delta never aliases stored state (histograms copied natively).
        const copy: RollupRecord = {
          ...delta,
          durationMsHist: copyHistogram(delta.durationMsHist),
          intervalMsHist: copyHistogram(delta.intervalMsHist),
        };
        byStart.set(delta.bucketStart, copy as unknown as Record<string, unknown>);
      } else if (!this.#raw.has(existing)) mergeRecord(existing as unknown as RollupRecord, delta);
      else {
        const merged = this.#record(delta.tier, delta.bucketStart, delta.indexKey, existing);
        mergeRecord(merged, delta);
        byStart.set(delta.bucketStart, merged as unknown as Record<string, unknown>);
      }
    }
    for (const s of batch.intervalState) {
      const key = stateKey(s.param, s.value);
      const last = data.state.get(key);
      if (last === undefined || s.lastMs > last) data.state.set(key, s.lastMs);
    }
    return { ok: true };
  }

  async forgetMarkers(ref: ReportRef, units: readonly string[]): Promise<void> {
    const markers = this.#reports.get(keyOf(ref))?.markers;
    if (markers !== undefined) for (const unit of units) markers.delete(unit);
  }

  async countMarkers(ref: ReportRef): Promise<number> {
    return this.#reports.get(keyOf(ref))?.markers.size ?? 0;
  }

  async readBuckets(ref: ReportRef, tier: Tier, starts: readonly number[], indexKey: string): Promise<RollupRecord[]> {
    const byStart = this.#reports.get(keyOf(ref))?.buckets.get(tier)?.get(indexKey);
    const out: RollupRecord[] = [];
    if (byStart === undefined) return out;
    for (const start of starts) {
      const fields = byStart.get(start);
      if (fields !== undefined) out.push(this.#record(tier, start, indexKey, fields));
    }
    return out;
  }

  async listBuckets(ref: ReportRef, tier: Tier, indexKey: string, limit: number): Promise<RollupRecord[]> {
    const byStart = this.#reports.get(keyOf(ref))?.buckets.get(tier)?.get(indexKey);
    if (byStart === undefined) return [];
    return [...byStart.keys()]
      .sort((a, b) => a - b)
      .slice(0, limit)
      .map((start) => this.#record(tier, start, indexKey, byStart.get(start) as Record<string, unknown>));
  }

  async readIndex(
    ref: ReportRef,
    tier: Tier,
    starts: readonly number[],
    indexName: string,
  ): Promise<Map<string, RollupRecord>> {
    const byKey = this.#reports.get(keyOf(ref))?.buckets.get(tier);
    const out = new Map<string, RollupRecord>();
    if (byKey === undefined) return out;
    for (const [indexKey, byStart] of byKey) {
      if (indexNameOfKey(indexKey) !== indexName) continue;
      for (const start of starts) {
        const fields = byStart.get(start);
        if (fields === undefined) continue;
        const record = this.#record(tier, start, indexKey, fields);
        const existing = out.get(indexKey);
        if (existing === undefined) out.set(indexKey, record);
        else mergeRecord(existing, record);
      }
    }
    return out;
  }

  async cleanup(namespace: string, plan: CleanupPlan): Promise<CleanupResult> {
    const result: CleanupResult = { rollupKeysDeleted: 0, intervalStateKeysDeleted: 0, processedEntriesDeleted: 0 };
    const events = plan.events === null ? null : new Set(plan.events);
    for (const data of this.#reports.values()) {
      if (data.ref.namespace !== namespace || (events !== null && !events.has(data.ref.name))) continue;
      for (const tier of TIERS) {
        const before = plan.before[tier];
        if (before === undefined) continue;
        for (const byStart of (data.buckets.get(tier) as Map<string, Map<number, unknown>>).values()) {
          for (const start of [...byStart.keys()]) {
            if (start + TIER_MS[tier] <= before) {
              byStart.delete(start);
              result.rollupKeysDeleted++;
            }
          }
        }
      }
      const stateBefore = plan.before.intervalState;
      if (stateBefore !== undefined) {
        for (const [key, last] of [...data.state]) {
          if (last < stateBefore) {
            data.state.delete(key);
            result.intervalStateKeysDeleted++;
          }
        }
      }
      const markersBefore = plan.before.markers;
      if (markersBefore !== undefined) {
        for (const [unit, m] of [...data.markers]) {
          if (m.createdAt < markersBefore) {
            data.markers.delete(unit);
            result.processedEntriesDeleted++;
          }
        }
      }
    }
    return result;
  }

  async readWatermark(key: string): Promise<number | null> {
    return this.#watermarks.get(key) ?? null;
  }

  async writeWatermark(key: string, ms: number): Promise<void> {
    this.#watermarks.set(key, ms);
  }

  async close(): Promise<void> {}

  /**
   * Overwrites one stored field as a broken writer might have left it (a string, a huge number, a
   * bad histogram). For tests of the corrupt-data guarantee only.
   */
  setRawFieldForTesting(
    ref: ReportRef,
    tier: Tier,
    bucketStart: number,
    indexKey: string,
    field: keyof StoredFields,
    value: unknown,
  ): void {
    const byKey = this.#report(ref).buckets.get(tier) as Map<string, Map<number, Record<string, unknown>>>;
    let byStart = byKey.get(indexKey);
    if (byStart === undefined) {
      byStart = new Map();
      byKey.set(indexKey, byStart);
    }
    const existing = byStart.get(bucketStart);
    const fields: Record<string, unknown> =
      existing === undefined ? {} : this.#raw.has(existing) ? existing : toStored(existing as unknown as RollupRecord);
    fields[field] = value;
    this.#raw.add(fields);
    byStart.set(bucketStart, fields);
  }
}
