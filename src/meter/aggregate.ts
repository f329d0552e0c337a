/**
 * Aggregation of one batch of parsed events into rollup deltas: one delta per (tier, bucket,
 * index key). Events are first summed into minute records (one map lookup per event and index);
 * hour and day records are then merged from those minutes, which is far cheaper than touching
 * three tiers per event.
 *
 * Interval rules (spec §6 step 3): per interval param, the events carrying an indexable identity
 * are stable-sorted by (identity, startedAt) and walked against the stored state. A rule accepts an
 * event when the identity and every `groupBy` value are indexable. When some rule accepts and the
 * start is later than the state (or there is no state), each accepting rule records the gap into
 * its group index (when there was a state) and the state moves to the start. State only moves
 * forward; late events still count in their own buckets.
 */

import { addToHistogram } from "./histogram.ts";
import { ALL_KEY, canonicalValue, indexNameOf } from "./index-key.ts";
import type { ParsedEvent } from "./parse-row.ts";
import { emptyRecord, mergeRecord } from "./rollup-record.ts";
import { type IntervalStateUpdate, type RollupDelta, type StoredDefinition, stateKey, TIER_MS } from "./rollups.ts";

interface CompiledIndex {
  params: string[];
  name: string;
}

export interface CompiledDefinition {
  indexes: CompiledIndex[];
  /** Interval rules grouped by identity param. */
  intervals: Map<string, CompiledIndex[]>;
}

export function compileDefinition(def: StoredDefinition): CompiledDefinition {
  const indexes = def.indexes.map((params) => ({ params, name: indexNameOf(params) }));
  const intervals = new Map<string, CompiledIndex[]>();
  for (const rule of def.intervals) {
    const list = intervals.get(rule.param) ?? [];
    list.push({ params: rule.groupBy, name: indexNameOf(rule.groupBy) });
    intervals.set(rule.param, list);
  }
  return { indexes, intervals };
}

/**
 * Builds index keys for one event at a time. Each param's encoded `param=value` pair is computed
 * once per event and shared by every index that uses it, and encodings are cached per value, so
 * the hot loop does one small string join per index instead of repeated `encodeURIComponent`.
 */
class KeyBuilder {
  readonly #params: string[];
  readonly #slot = new Map<string, number>();
  readonly #encodedParam: string[];
  readonly #pairs: Array<string | null>;
  readonly #cache = new Map<string, string>();
  readonly #slots: Map<CompiledIndex, number[]> = new Map();

  constructor(compiled: CompiledDefinition) {
    const names = new Set<string>();
    for (const index of compiled.indexes) for (const p of index.params) names.add(p);
    for (const rules of compiled.intervals.values()) for (const r of rules) for (const p of r.params) names.add(p);
    this.#params = [...names];
    for (const [i, p] of this.#params.entries()) this.#slot.set(p, i);
    this.#encodedParam = this.#params.map((p) => `${encodeURIComponent(p)}=`);
    this.#pairs = this.#params.map(() => null);
  }

  /** Reads the event's params once. */
  load(params: Record<string, unknown>): void {
    for (let i = 0; i < this.#params.length; i++) {
      const value = canonicalValue(params[this.#params[i] as string]);
      if (value === null) {
        this.#pairs[i] = null;
        continue;
      }
      let encoded = this.#cache.get(value);
      if (encoded === undefined) {
        encoded = encodeURIComponent(value);
        this.#cache.set(value, encoded);
      }
      this.#pairs[i] = this.#encodedParam[i] + encoded;
    }
  }

  /** The loaded event's key for an index, or null when a value is not indexable. */
  key(index: CompiledIndex): string | null {
    let slots = this.#slots.get(index);
    if (slots === undefined) {
      slots = index.params.map((p) => this.#slot.get(p) as number);
      this.#slots.set(index, slots);
    }
    if (slots.length === 0) return ALL_KEY;
    let key = this.#pairs[slots[0] as number] ?? null;
    if (key === null) return null;
    for (let i = 1; i < slots.length; i++) {
      const pair = this.#pairs[slots[i] as number] ?? null;
      if (pair === null) return null;
      key += `&${pair}`;
    }
    return key;
  }
}

export interface IntervalKey {
  param: string;
  value: string;
}

/** The (param, value) identities whose stored state the interval walk needs. */
export function intervalKeys(compiled: CompiledDefinition, events: readonly ParsedEvent[]): IntervalKey[] {
  const keys: IntervalKey[] = [];
  for (const param of compiled.intervals.keys()) {
    const seen = new Set<string>();
    for (const event of events) {
      const value = canonicalValue(event.params[param]);
      if (value === null || seen.has(value)) continue;
      seen.add(value);
      keys.push({ param, value });
    }
  }
  return keys;
}

export interface Aggregate {
  rollups: RollupDelta[];
  intervalState: IntervalStateUpdate[];
}

export function aggregate(
  compiled: CompiledDefinition,
  events: readonly ParsedEvent[],
  state: ReadonlyMap<string, number>,
): Aggregate {
  const minutes = new Map<string, Map<number, RollupDelta>>();
  const keys = new KeyBuilder(compiled);
  const recordAt = (index: CompiledIndex, key: string, minute: number): RollupDelta => {
    let byMinute = minutes.get(key);
    if (byMinute === undefined) {
      byMinute = new Map();
      minutes.set(key, byMinute);
    }
    let record = byMinute.get(minute);
    if (record === undefined) {
      record = emptyRecord("minute", minute, index.name, key);
      byMinute.set(minute, record);
    }
    return record;
  };

  for (const event of events) {
    const t = event.startedAt;
    const minute = t - (t % 60_000);
    keys.load(event.params);
    for (const index of compiled.indexes) {
      const key = keys.key(index);
      if (key === null) continue;
      const r = recordAt(index, key, minute);
      r.count++;
      if (event.status === "success") r.successCount++;
      else if (event.status === "failure") r.failureCount++;
      else r.skippedCount++;
      if (r.startedAtMin === null || t < r.startedAtMin) r.startedAtMin = t;
      if (r.startedAtMax === null || t > r.startedAtMax) r.startedAtMax = t;
      const d = event.durationMs;
      if (d >= 0) {
        r.durationMsCount++;
        r.durationMsSum += d;
        if (r.durationMsMin === null || d < r.durationMsMin) r.durationMsMin = d;
        if (r.durationMsMax === null || d > r.durationMsMax) r.durationMsMax = d;
        addToHistogram(r.durationMsHist, d);
      }
    }
  }

  const intervalState: IntervalStateUpdate[] = [];
  for (const [param, rules] of compiled.intervals) {
    const items: { value: string; event: ParsedEvent }[] = [];
    for (const event of events) {
      const value = canonicalValue(event.params[param]);
      if (value !== null) items.push({ value, event });
    }
    items.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : a.event.startedAt - b.event.startedAt));
    let current: string | null = null;
    let previous: number | null = null;
    let moved = false;
    const flush = (): void => {
      if (current !== null && moved && previous !== null)
        intervalState.push({ param, value: current, lastMs: previous });
    };
    for (const { value, event } of items) {
      if (value !== current) {
        flush();
        current = value;
        previous = state.get(stateKey(param, value)) ?? null;
        moved = false;
      }
      const t = event.startedAt;
      if (previous !== null && t <= previous) continue;
      let accepted = false;
      keys.load(event.params);
      for (const rule of rules) {
        const key = keys.key(rule);
        if (key === null) continue;
        accepted = true;
        if (previous === null) continue;
        const gap = t - previous;
        const r = recordAt(rule, key, t - (t % 60_000));
        r.intervalMsCount++;
        r.intervalMsSum += gap;
        if (r.intervalMsMin === null || gap < r.intervalMsMin) r.intervalMsMin = gap;
        if (r.intervalMsMax === null || gap > r.intervalMsMax) r.intervalMsMax = gap;
        addToHistogram(r.intervalMsHist, gap);
      }
      if (accepted) {
        previous = t;
        moved = true;
      }
    }
    flush();
  }

  const rollups: RollupDelta[] = [];
  const coarse = new Map<string, RollupDelta>();
  for (const byMinute of minutes.values()) {
    for (const record of byMinute.values()) {
      rollups.push(record);
      for (const tier of ["hour", "day"] as const) {
        const size = TIER_MS[tier];
        const start = record.bucketStart - (record.bucketStart % size);
        const mapKey = `${tier}|${start}|${record.indexKey}`;
        let target = coarse.get(mapKey);
        if (target === undefined) {
          target = emptyRecord(tier, start, record.indexName, record.indexKey);
          coarse.set(mapKey, target);
        }
        mergeRecord(target, record);
      }
    }
  }
  for (const record of coarse.values()) rollups.push(record);
  return { rollups, intervalState };
}
