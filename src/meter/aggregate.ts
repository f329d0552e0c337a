/**
 * Aggregation of one batch of parsed events into rollup deltas: one delta per (tier, bucket,
 * index key). Events are first summed into minute records; hour and day records are then merged
 * from those minutes, which is far cheaper than touching three tiers per event.
 *
 * Why it is fast: param values arrive interned (`interned-batch.ts`), so finding an event's record
 * is an array or numeric map lookup per index, and an index key string is built once per distinct
 * value set, never per event. Each index value set caches its last minute record, since batches
 * arrive roughly in time order. Records live in flat arrays (`aggregate-records.ts`) until the
 * deltas are made at the end.
 *
 * Interval rules (spec §6 step 3): per interval param, the events carrying an indexable identity
 * are grouped by identity and walked in (startedAt, arrival) order against the stored state. A
 * rule accepts an event when the identity and every `groupBy` value are indexable. When some rule
 * accepts and the start is later than the state (or there is no state), each accepting rule
 * records the gap into its group index (when there was a state) and the state moves to the start.
 * State only moves forward; late events still count in their own buckets.
 */

import { Records } from "./aggregate-records.ts";
import { bucketOf } from "./histogram.ts";
import { ALL_KEY } from "./index-key.ts";
import type { CompiledIndex, InternedBatch, ValueIds } from "./interned-batch.ts";
import { type IntervalStateUpdate, type RollupColumns, type RollupDelta, stateKey } from "./rollups.ts";

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/**
 * One index value set: its key and its minute records, in creation order, with their minute
 * numbers (ms / 60 000). Batches arrive roughly in time order, so a minute is almost always the
 * last one or a new latest one; only a leaf that sees an earlier minute again builds a Map.
 */
interface Leaf {
  indexKey: string;
  records: number[];
  minutes: number[];
  lastMinute: number;
  last: number;
  latest: number;
  byMinute: Map<number, number> | null;
}

// Value ids below 2^17 pack three to a number (51 bits); larger sets fall back to string keys.
const PACK = 131_072;

class IndexTable {
  readonly index: CompiledIndex;
  /** Every leaf, in creation order. */
  readonly leaves: Leaf[] = [];
  readonly #ids: ValueIds[];
  readonly #records: Records;
  // Lookup by the index's kind: the all-events index has one leaf, a one-param index looks its
  // leaf up by value id in an array, others by packed ids in a Map.
  #only: Leaf | null = null;
  readonly #byId: Array<Leaf | undefined> = [];
  readonly #byKey = new Map<number | string, Leaf>();

  constructor(index: CompiledIndex, ids: ValueIds[], records: Records) {
    this.index = index;
    this.#ids = ids;
    this.#records = records;
  }

  /** The leaf of the event whose value ids start at `row[base]`, or null when one is not indexable. */
  leaf(row: Int32Array, base: number): Leaf | null {
    const slots = this.index.slots;
    if (slots.length === 1) {
      const id = row[base + (slots[0] as number)] as number;
      if (id < 0) return null;
      return this.#byId[id] ?? this.#add(row, base, null, id);
    }
    if (slots.length === 0) return this.#only ?? this.#add(row, base, null, -1);
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
    return this.#byKey.get(packed) ?? this.#add(row, base, packed, -1);
  }

  #add(row: Int32Array, base: number, packed: number | string | null, id: number): Leaf {
    const leaf: Leaf = {
      indexKey: this.#keyOf(row, base),
      records: [],
      minutes: [],
      lastMinute: Number.NaN,
      last: -1,
      latest: Number.NEGATIVE_INFINITY,
      byMinute: null,
    };
    this.leaves.push(leaf);
    if (packed !== null) this.#byKey.set(packed, leaf);
    else if (id >= 0) this.#byId[id] = leaf;
    else this.#only = leaf;
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

  /** The leaf's record of minute number `minute`. */
  minuteRecord(leaf: Leaf, minute: number): number {
    if (leaf.lastMinute === minute) return leaf.last;
    let record: number | undefined;
    if (minute <= leaf.latest) {
      if (leaf.byMinute === null) {
        leaf.byMinute = new Map();
        for (let i = 0; i < leaf.records.length; i++)
          leaf.byMinute.set(leaf.minutes[i] as number, leaf.records[i] as number);
      }
      record = leaf.byMinute.get(minute);
    } else leaf.latest = minute;
    if (record === undefined) {
      record = this.#records.add(0, minute * MINUTE, this.index.name, leaf.indexKey);
      leaf.records.push(record);
      leaf.minutes.push(minute);
      leaf.byMinute?.set(minute, record);
    }
    leaf.lastMinute = minute;
    leaf.last = record;
    return record;
  }
}

/** Code-unit order: byte order (as SQL stores compare) for ASCII, which index keys always are. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** An aggregation's deltas, as columns and (made on first read) as objects. */
export class Aggregate {
  readonly columns: RollupColumns;
  readonly intervalState: IntervalStateUpdate[];
  readonly #records: Records;
  #rollups: RollupDelta[] | null = null;

  constructor(records: Records, intervalState: IntervalStateUpdate[]) {
    this.#records = records;
    this.columns = records;
    this.intervalState = intervalState;
  }

  /** In key order: tier (minute, hour, day), index name, bucket start, index key. */
  get rollups(): RollupDelta[] {
    if (this.#rollups === null) {
      const records = this.#records;
      this.#rollups = Array.from(records.order, (r) => records.delta(r));
    }
    return this.#rollups;
  }
}

export function aggregate(batch: InternedBatch, state: ReadonlyMap<string, number>): Aggregate {
  const { compiled, row, width, count, status, startedAt, durationMs } = batch;
  const records = new Records(count + (count >> 2));
  const tables = new Map<CompiledIndex, IndexTable>();
  const tableOf = (index: CompiledIndex): IndexTable => {
    let table = tables.get(index);
    if (table === undefined) {
      table = new IndexTable(index, batch.ids, records);
      tables.set(index, table);
    }
    return table;
  };
  const indexTables = compiled.indexes.map(tableOf);

  for (let e = 0; e < count; e++) {
    const t = startedAt[e] as number;
    const minute = Math.floor(t / MINUTE);
    const base = e * width;
    const s = status[e] as number;
    const d = durationMs[e] as number;
    const bucket = d >= 0 ? bucketOf(d) : 0;
    for (let i = 0; i < indexTables.length; i++) {
      const table = indexTables[i] as IndexTable;
      const leaf = table.leaf(row, base);
      if (leaf !== null) records.addEvent(table.minuteRecord(leaf, minute), s, t, d, bucket);
    }
  }

  const intervalState: IntervalStateUpdate[] = [];
  for (const interval of compiled.intervals) {
    const ids = batch.ids[interval.slot] as ValueIds;
    const ruleTables = interval.rules.map(tableOf);
    // Event positions grouped by identity (a counting sort: arrival order kept within a group);
    // group `id` is order[first[id] .. first[id + 1]).
    const first = new Int32Array(ids.values.length + 1);
    for (let e = 0; e < count; e++) {
      const id = row[e * width + interval.slot] as number;
      if (id >= 0) first[id + 1] = (first[id + 1] as number) + 1;
    }
    for (let id = 1; id < first.length; id++) first[id] = (first[id] as number) + (first[id - 1] as number);
    const order = new Int32Array(first[first.length - 1] as number);
    const fill = first.slice(0, -1);
    for (let e = 0; e < count; e++) {
      const id = row[e * width + interval.slot] as number;
      if (id >= 0) order[(fill[id] as number)++] = e;
    }
    for (let id = 0; id + 1 < first.length; id++) {
      const from = first[id] as number;
      const to = first[id + 1] as number;
      if (from === to) continue;
      let sorted = true;
      for (let i = from + 1; i < to && sorted; i++) {
        sorted = (startedAt[order[i - 1] as number] as number) <= (startedAt[order[i] as number] as number);
      }
      // Array.prototype.sort is stable: equal starts keep their arrival order.
      if (!sorted) {
        const group = Array.from(order.subarray(from, to)).sort(
          (a, b) => (startedAt[a] as number) - (startedAt[b] as number),
        );
        order.set(group, from);
      }
      const value = ids.values[id] as string;
      let previous = state.get(stateKey(interval.param, value)) ?? null;
      let moved = false;
      for (let i = from; i < to; i++) {
        const e = order[i] as number;
        const t = startedAt[e] as number;
        if (previous !== null && t <= previous) continue;
        let accepted = false;
        for (let k = 0; k < ruleTables.length; k++) {
          const table = ruleTables[k] as IndexTable;
          const leaf = table.leaf(row, e * width);
          if (leaf === null) continue;
          accepted = true;
          if (previous !== null) {
            const gap = t - previous;
            records.addInterval(table.minuteRecord(leaf, Math.floor(t / MINUTE)), gap, bucketOf(gap));
          }
        }
        if (accepted) {
          previous = t;
          moved = true;
        }
      }
      if (moved && previous !== null) intervalState.push({ param: interval.param, value, lastMs: previous });
    }
  }
  records.order = keyOrder(records, tables);
  return new Aggregate(records, intervalState);
}

/**
 * Hour and day records merged from the minutes, and every record's number in key order (tier,
 * index name, bucket start, index key): the order of the SQL stores' primary keys, so consecutive
 * upserts touch the same B-tree pages instead of one page per row (for SQLite that also kept each
 * multi-row statement's journal small).
 */
/** Bucket spans of the hour and day tiers (tiers 1 and 2), which are merged from the minutes. */
const PARENT_SPANS = [HOUR, DAY] as const;

function keyOrder(records: Records, tables: Map<CompiledIndex, IndexTable>): Int32Array {
  const byName = [...tables.values()].sort((a, b) => compareText(a.index.name, b.index.name));
  // Per tier, per table: record numbers in leaf key order.
  const lists: number[][][] = [[], [], []];
  for (const table of byName) {
    const name = table.index.name;
    const minutes: number[] = [];
    const hours: number[] = [];
    const days: number[] = [];
    const parents = [hours, days];
    for (const leaf of table.leaves.sort((a, b) => compareText(a.indexKey, b.indexKey))) {
      // Per parent tier (hour, day): the record found last (a leaf's minutes mostly come in order,
      // so it usually holds the next one too) and every one made for this leaf, by bucket start.
      const last = [-1, -1];
      const made = [new Map<number, number>(), new Map<number, number>()];
      for (let i = 0; i < leaf.records.length; i++) {
        const record = leaf.records[i] as number;
        minutes.push(record);
        const start = records.bucketStart[record] as number;
        for (let p = 0; p < 2; p++) {
          const bucket = start - (start % (PARENT_SPANS[p] as number));
          let parent = last[p] as number;
          if (parent < 0 || records.bucketStart[parent] !== bucket) {
            const byStart = made[p] as Map<number, number>;
            parent = byStart.get(bucket) ?? -1;
            if (parent < 0) {
              parent = records.add((p + 1) as 1 | 2, bucket, name, leaf.indexKey);
              byStart.set(bucket, parent);
              (parents[p] as number[]).push(parent);
            }
            last[p] = parent;
          }
          records.merge(parent, record);
        }
      }
    }
    lists[0]?.push(minutes);
    lists[1]?.push(hours);
    lists[2]?.push(days);
  }
  const order = new Int32Array(records.size);
  let k = 0;
  const start = records.bucketStart;
  for (const tier of lists) {
    for (const list of tier) {
      // The list holds the leaves in key order; a stable sort by start keeps that order per start.
      list.sort((a, b) => (start[a] as number) - (start[b] as number));
      for (const record of list) order[k++] = record;
    }
  }
  return order;
}
