/**
 * A batch's events reduced to what aggregation reads (see `aggregate.ts`), and the compiled form
 * of a report definition it is built against: every param value is interned once into a small
 * integer per param (`42` and `"42"` share one, as their canonical strings do), and an index key
 * string is built once per distinct value set, never per event.
 */

import { indexNameOf } from "./index-key.ts";
import type { EventSink, ParsedEvent } from "./parse-row.ts";
import type { StoredDefinition } from "./rollups.ts";

export interface CompiledIndex {
  params: string[];
  name: string;
  /** Positions of `params` in `CompiledDefinition.params`. */
  slots: number[];
}

export interface CompiledInterval {
  param: string;
  slot: number;
  rules: CompiledIndex[];
}

export interface CompiledDefinition {
  /** Every param any index or rule reads, each once. */
  params: string[];
  indexes: CompiledIndex[];
  /** Interval rules grouped by identity param. */
  intervals: CompiledInterval[];
}

export function compileDefinition(def: StoredDefinition): CompiledDefinition {
  const params: string[] = [];
  const slotOf = (p: string): number => {
    let slot = params.indexOf(p);
    if (slot < 0) slot = params.push(p) - 1;
    return slot;
  };
  const compile = (list: string[]): CompiledIndex => ({
    params: list,
    name: indexNameOf(list),
    slots: list.map(slotOf),
  });
  const indexes = def.indexes.map(compile);
  const intervals: CompiledInterval[] = [];
  for (const rule of def.intervals) {
    let entry = intervals.find((i) => i.param === rule.param);
    if (entry === undefined) {
      entry = { param: rule.param, slot: slotOf(rule.param), rules: [] };
      intervals.push(entry);
    }
    // A rule's group index is normally one of the indexes (measureIntervalBy adds it): share it.
    entry.rules.push(indexes.find((i) => i.name === indexNameOf(rule.groupBy)) ?? compile(rule.groupBy));
  }
  return { params, indexes, intervals };
}

/** Canonical values of one param interned to 0, 1, 2, …; -1 means "not indexable". */
export class ValueIds {
  readonly #byString = new Map<string, number>();
  readonly #byNumber = new Map<number, number>();
  /** Canonical string per id. */
  readonly values: string[] = [];
  /** `encodeURIComponent(param)=encodeURIComponent(value)` per id, built on first use. */
  readonly #pairs: Array<string | undefined> = [];
  readonly #encodedParam: string;

  constructor(param: string) {
    this.#encodedParam = `${encodeURIComponent(param)}=`;
  }

  #intern(canonical: string): number {
    let id = this.#byString.get(canonical);
    if (id === undefined) {
      id = this.values.push(canonical) - 1;
      this.#byString.set(canonical, id);
    }
    return id;
  }

  idOf(value: unknown): number {
    switch (typeof value) {
      case "string":
        return this.#byString.get(value) ?? this.#intern(value);
      case "number": {
        if (!Number.isFinite(value)) return -1;
        let id = this.#byNumber.get(value);
        if (id === undefined) {
          id = this.#intern(String(value));
          this.#byNumber.set(value, id);
        }
        return id;
      }
      case "boolean":
        return this.#intern(value ? "true" : "false");
      default:
        return -1;
    }
  }

  pair(id: number): string {
    let pair = this.#pairs[id];
    if (pair === undefined) {
      pair = this.#encodedParam + encodeURIComponent(this.values[id] as string);
      this.#pairs[id] = pair;
    }
    return pair;
  }
}

export interface IntervalKey {
  param: string;
  value: string;
}

const STATUS_CODE = { success: 0, failure: 1, skipped: 2 } as const;

/**
 * A batch's events reduced to what aggregation reads, in flat typed arrays: status, start,
 * duration, and each param's value id (`row[e * width + slot]`, -1 when not indexable). Events are
 * added one at a time, so a parsed row is garbage as soon as it was added: keeping a batch's
 * parsed objects alive made the young-generation GC copy them over and over. A stream that reads
 * its rows itself adds them piece by piece (`start`, `param`, `end`) without a parsed object.
 */
export class InternedBatch implements EventSink {
  readonly compiled: CompiledDefinition;
  readonly ids: ValueIds[];
  readonly width: number;
  count = 0;
  status: Uint8Array;
  startedAt: Float64Array;
  /** -1 when the event had no duration. */
  durationMs: Float64Array;
  row: Int32Array;
  /** Slot of each param the definition reads. */
  readonly #slotOf: Map<string, number>;

  constructor(compiled: CompiledDefinition, capacity = 1024) {
    this.compiled = compiled;
    this.width = compiled.params.length;
    this.ids = compiled.params.map((p) => new ValueIds(p));
    this.#slotOf = new Map(compiled.params.map((p, slot) => [p, slot]));
    const n = Math.max(1, capacity);
    this.status = new Uint8Array(n);
    this.startedAt = new Float64Array(n);
    this.durationMs = new Float64Array(n);
    this.row = new Int32Array(Math.max(1, n * this.width));
  }

  add(event: ParsedEvent): void {
    const e = this.count;
    if (e === this.status.length) this.#grow();
    this.status[e] = STATUS_CODE[event.status];
    this.startedAt[e] = event.startedAt;
    this.durationMs[e] = event.durationMs;
    const params = this.compiled.params;
    const values = event.params;
    const base = e * this.width;
    for (let s = 0; s < this.width; s++) {
      this.row[base + s] = (this.ids[s] as ValueIds).idOf(values[params[s] as string]);
    }
    this.count = e + 1;
  }

  /** Starts an event; its params are absent (-1) until `param`; it counts once `end` is called. */
  start(status: ParsedEvent["status"], startedAt: number, durationMs: number): void {
    const e = this.count;
    if (e === this.status.length) this.#grow();
    this.status[e] = STATUS_CODE[status];
    this.startedAt[e] = startedAt;
    this.durationMs[e] = durationMs;
    const base = e * this.width;
    this.row.fill(-1, base, base + this.width);
  }

  /** A param of the started event; a later value of the same key replaces an earlier one. */
  param(key: string, value: string | number | boolean | null): void {
    const slot = this.#slotOf.get(key);
    if (slot !== undefined) this.row[this.count * this.width + slot] = (this.ids[slot] as ValueIds).idOf(value);
  }

  end(): void {
    this.count++;
  }

  #grow(): void {
    const n = this.status.length * 2;
    const status = new Uint8Array(n);
    status.set(this.status);
    this.status = status;
    const startedAt = new Float64Array(n);
    startedAt.set(this.startedAt);
    this.startedAt = startedAt;
    const durationMs = new Float64Array(n);
    durationMs.set(this.durationMs);
    this.durationMs = durationMs;
    const row = new Int32Array(Math.max(1, n * this.width));
    row.set(this.row);
    this.row = row;
  }

  /** The (param, value) identities whose stored state the interval walk needs. */
  intervalKeys(): IntervalKey[] {
    const keys: IntervalKey[] = [];
    for (const interval of this.compiled.intervals) {
      const ids = this.ids[interval.slot] as ValueIds;
      const seen = new Uint8Array(ids.values.length);
      for (let e = 0; e < this.count; e++) {
        const id = this.row[e * this.width + interval.slot] as number;
        if (id < 0 || seen[id] === 1) continue;
        seen[id] = 1;
        keys.push({ param: interval.param, value: ids.values[id] as string });
      }
    }
    return keys;
  }
}
