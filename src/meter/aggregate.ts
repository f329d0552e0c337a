/**
 * Aggregation of one batch of parsed events into rollup deltas: one delta per (tier, bucket,
 * index key). Events are first summed into minute records; hour and day records are then merged
 * from those minutes, which is far cheaper than touching three tiers per event.
 *
 * Why it is fast: param values arrive interned (`interned-batch.ts`), so finding an event's record
 * is a numeric map lookup per index, and an index key string is built once per distinct value
 * set, never per event. Each index value set caches its last minute record, since batches arrive
 * roughly in time order.
 *
 * Interval rules (spec §6 step 3): per interval param, the events carrying an indexable identity
 * are grouped by identity and walked in (startedAt, arrival) order against the stored state. A
 * rule accepts an event when the identity and every `groupBy` value are indexable. When some rule
 * accepts and the start is later than the state (or there is no state), each accepting rule
 * records the gap into its group index (when there was a state) and the state moves to the start.
 * State only moves forward; late events still count in their own buckets.
 */

import { addToHistogram } from "./histogram.ts";
import { ALL_KEY } from "./index-key.ts";
import type { CompiledIndex, InternedBatch, ValueIds } from "./interned-batch.ts";
import { emptyRecord, mergeRecord } from "./rollup-record.ts";
import { type Histogram, type IntervalStateUpdate, type RollupDelta, stateKey, type Tier } from "./rollups.ts";

/**
 * Most deltas (every value set without an interval rule) never get an interval sample. They share
 * this empty histogram instead of allocating one each; it refuses writes, so a consumer that tried
 * to mutate a delta would fail loudly instead of corrupting every other delta.
 */
class EmptyHistogram extends Map<number, number> {
  override set(): this {
    throw new TypeError("a rollup delta's empty histogram is shared and read-only");
  }
}
const EMPTY_HIST: Histogram = new EmptyHistogram();

function newDelta(tier: Tier, bucketStart: number, indexName: string, indexKey: string): RollupDelta {
  return emptyRecord(tier, bucketStart, indexName, indexKey, EMPTY_HIST);
}

function addHistogram(into: Histogram, from: Histogram): Histogram {
  if (from.size === 0) return into;
  const target = into === EMPTY_HIST ? new Map<number, number>() : into;
  from.forEach((count, index) => {
    target.set(index, (target.get(index) ?? 0) + count);
  });
  return target;
}

/** `mergeRecord` for deltas that may hold the shared empty histogram. */
function mergeDelta(into: RollupDelta, from: RollupDelta): void {
  mergeRecord(into, from, addHistogram);
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** One index value set: its key, and its records per tier and bucket. */
interface Leaf {
  indexKey: string;
  minutes: Map<number, RollupDelta>;
  lastMinute: number;
  last: RollupDelta | null;
}

// Value ids below 2^17 pack three to a number (51 bits); larger sets fall back to string keys.
const PACK = 131_072;

class IndexTable {
  readonly index: CompiledIndex;
  readonly leaves = new Map<number | string, Leaf>();
  readonly #ids: ValueIds[];

  constructor(index: CompiledIndex, ids: ValueIds[]) {
    this.index = index;
    this.#ids = ids;
  }

  /** The leaf of the event whose value ids start at `row[base]`, or null when one is not indexable. */
  leaf(row: Int32Array, base: number): Leaf | null {
    const slots = this.index.slots;
    let packed: number | string = 0;
    if (slots.length <= 3) {
      for (let i = 0; i < slots.length; i++) {
        const id = row[base + (slots[i] as number)] as number;
        if (id < 0) return null;
        if (id >= PACK) {
          packed = -1;
          break;
        }
        packed = (packed as number) * PACK + id;
      }
    } else packed = -1;
    if (packed === -1) {
      let key = "";
      for (const slot of slots) {
        const id = row[base + slot] as number;
        if (id < 0) return null;
        key += `${id},`;
      }
      packed = key;
    }
    let leaf = this.leaves.get(packed);
    if (leaf === undefined) {
      leaf = { indexKey: this.#keyOf(row, base), minutes: new Map(), lastMinute: Number.NaN, last: null };
      this.leaves.set(packed, leaf);
    }
    return leaf;
  }

  #keyOf(row: Int32Array, base: number): string {
    const slots = this.index.slots;
    if (slots.length === 0) return ALL_KEY;
    let key = "";
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i] as number;
      if (i > 0) key += "&";
      key += (this.#ids[slot] as ValueIds).pair(row[base + slot] as number);
    }
    return key;
  }

  minuteRecord(leaf: Leaf, minute: number): RollupDelta {
    if (leaf.lastMinute === minute) return leaf.last as RollupDelta;
    let record = leaf.minutes.get(minute);
    if (record === undefined) {
      record = newDelta("minute", minute, this.index.name, leaf.indexKey);
      leaf.minutes.set(minute, record);
    }
    leaf.lastMinute = minute;
    leaf.last = record;
    return record;
  }
}

export interface Aggregate {
  rollups: RollupDelta[];
  intervalState: IntervalStateUpdate[];
}

function addEvent(r: RollupDelta, status: number, t: number, d: number): void {
  r.count++;
  if (status === 0) r.successCount++;
  else if (status === 1) r.failureCount++;
  else r.skippedCount++;
  if (r.startedAtMin === null || t < r.startedAtMin) r.startedAtMin = t;
  if (r.startedAtMax === null || t > r.startedAtMax) r.startedAtMax = t;
  if (d >= 0) {
    r.durationMsCount++;
    r.durationMsSum += d;
    if (r.durationMsMin === null || d < r.durationMsMin) r.durationMsMin = d;
    if (r.durationMsMax === null || d > r.durationMsMax) r.durationMsMax = d;
    addToHistogram(r.durationMsHist, d);
  }
}

function addInterval(r: RollupDelta, gap: number): void {
  r.intervalMsCount++;
  r.intervalMsSum += gap;
  if (r.intervalMsMin === null || gap < r.intervalMsMin) r.intervalMsMin = gap;
  if (r.intervalMsMax === null || gap > r.intervalMsMax) r.intervalMsMax = gap;
  if (r.intervalMsHist === EMPTY_HIST) r.intervalMsHist = new Map();
  addToHistogram(r.intervalMsHist, gap);
}

export function aggregate(batch: InternedBatch, state: ReadonlyMap<string, number>): Aggregate {
  const { compiled, row, width, count, status, startedAt, durationMs } = batch;
  const tables = new Map<CompiledIndex, IndexTable>();
  const tableOf = (index: CompiledIndex): IndexTable => {
    let table = tables.get(index);
    if (table === undefined) {
      table = new IndexTable(index, batch.ids);
      tables.set(index, table);
    }
    return table;
  };
  const indexTables = compiled.indexes.map(tableOf);

  for (let e = 0; e < count; e++) {
    const t = startedAt[e] as number;
    const minute = t - (t % MINUTE);
    const base = e * width;
    const s = status[e] as number;
    const d = durationMs[e] as number;
    for (const table of indexTables) {
      const leaf = table.leaf(row, base);
      if (leaf !== null) addEvent(table.minuteRecord(leaf, minute), s, t, d);
    }
  }

  const intervalState: IntervalStateUpdate[] = [];
  for (const interval of compiled.intervals) {
    const ids = batch.ids[interval.slot] as ValueIds;
    const ruleTables = interval.rules.map(tableOf);
    // Group event positions by identity, keeping arrival order within each group.
    const groups: number[][] = [];
    for (let e = 0; e < count; e++) {
      const id = row[e * width + interval.slot] as number;
      if (id < 0) continue;
      const group = groups[id];
      if (group === undefined) groups[id] = [e];
      else group.push(e);
    }
    for (let id = 0; id < groups.length; id++) {
      const group = groups[id];
      if (group === undefined) continue;
      let sorted = true;
      for (let i = 1; i < group.length && sorted; i++) {
        sorted = (startedAt[group[i - 1] as number] as number) <= (startedAt[group[i] as number] as number);
      }
      // Array.prototype.sort is stable: equal starts keep their arrival order.
      if (!sorted) group.sort((a, b) => (startedAt[a] as number) - (startedAt[b] as number));
      const value = ids.values[id] as string;
      let previous = state.get(stateKey(interval.param, value)) ?? null;
      let moved = false;
      for (const e of group) {
        const t = startedAt[e] as number;
        if (previous !== null && t <= previous) continue;
        let accepted = false;
        for (const table of ruleTables) {
          const leaf = table.leaf(row, e * width);
          if (leaf === null) continue;
          accepted = true;
          if (previous !== null) addInterval(table.minuteRecord(leaf, t - (t % MINUTE)), t - previous);
        }
        if (accepted) {
          previous = t;
          moved = true;
        }
      }
      if (moved && previous !== null) intervalState.push({ param: interval.param, value, lastMs: previous });
    }
  }

  const rollups: RollupDelta[] = [];
  for (const table of tables.values()) {
    const name = table.index.name;
    for (const leaf of table.leaves.values()) {
      let hour: RollupDelta | null = null;
      let day: RollupDelta | null = null;
      const hours = new Map<number, RollupDelta>();
      const days = new Map<number, RollupDelta>();
      for (const record of leaf.minutes.values()) {
        rollups.push(record);
        const start = record.bucketStart;
        const hourStart = start - (start % HOUR);
        if (hour === null || hour.bucketStart !== hourStart) {
          hour = hours.get(hourStart) ?? null;
          if (hour === null) {
            hour = newDelta("hour", hourStart, name, leaf.indexKey);
            hours.set(hourStart, hour);
          }
        }
        mergeDelta(hour, record);
        const dayStart = start - (start % DAY);
        if (day === null || day.bucketStart !== dayStart) {
          day = days.get(dayStart) ?? null;
          if (day === null) {
            day = newDelta("day", dayStart, name, leaf.indexKey);
            days.set(dayStart, day);
          }
        }
        mergeDelta(day, record);
      }
      for (const record of hours.values()) rollups.push(record);
      for (const record of days.values()) rollups.push(record);
    }
  }
  return { rollups, intervalState };
}
