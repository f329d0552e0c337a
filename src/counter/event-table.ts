/**
 * The counter slab: every event of a store lives in one slot of a chunked slab. A slot is a
 * `Float64Array` part (bucket-0 ordinal per unit, first and last seen instants, change marks)
 * followed by a `Uint32Array` part (its local replica's ring set: the bucket-0 counts of every unit
 * side by side, then per unit a ring of size - 1 older buckets, ordinal o in ring slot
 * o mod (size - 1)). Both views share one ArrayBuffer per chunk, so a record touches the slot's
 * first two or three cache lines and nothing else. Rotation moves the head into the ring and
 * zeroes only the slots of skipped periods.
 *
 * Other replicas' contributions (from sync) are separate `RingSet`s beside the slot; they are rare,
 * so the hot path checks one array entry and moves on. Slots are never freed: the number of events
 * bounds memory, as in the crate.
 *
 * Change marks live in one float per slot, `state` = version x 4 + flags (1 = dirty, 2 = unsaved),
 * so a record bumps one number: the version counts changes; *unsaved* is cleared by `markSaved` of
 * the current version only (a change made during a persist stays unsaved); *dirty* is cleared by
 * `resetDirty`. Both sets are kept incrementally so persist/export never scan.
 */

import type { Layout } from "./config.ts";

export const MAX_BUCKET = 4_294_967_295;
const DIRTY = 1;
const UNSAVED = 2;

/** One replica's rings for one event, outside the slab. */
export interface RingSet {
  readonly counts: Uint32Array;
  readonly ords: Float64Array;
}

/** A pending reservation's claim on an event. */
export interface PendingEntry {
  readonly count: number;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Set when committed, cancelled or found expired: the entry no longer counts. */
  settled: boolean;
}

export function mod(a: number, b: number): number {
  const r = a % b;
  return r < 0 ? r + b : r;
}

export class EventTable {
  readonly layout: Layout;
  /** Floats per slot in a meta chunk: one ordinal per unit, then first, last, state. */
  readonly stride: number;
  readonly firstAt: number;
  readonly lastAt: number;
  /** version x 4 + flags (DIRTY | UNSAVED). */
  readonly stateAt: number;
  /** Events per chunk is 2^shift: chunks of about 64 KiB keep growth slack small and copy nothing. */
  readonly shift: number;
  readonly mask: number;
  readonly index = new Map<string, number>();
  readonly ids: string[] = [];
  readonly countChunks: Uint32Array[] = [];
  readonly metaChunks: Float64Array[] = [];
  /** Slot size in float64 units (meta, then counts, padded to 8 bytes). */
  readonly slotFloats: number;
  /** Other replicas' ring sets, by slot (rare: only events that were synced). */
  readonly remotes = new Map<number, Map<string, RingSet>>();
  /** Pending reservations, by slot. */
  readonly pending = new Map<number, PendingEntry[]>();
  readonly dirtySlots = new Set<number>();
  readonly unsavedSlots = new Set<number>();
  size = 0;
  /** Ring sets of other replicas currently held (for memoryUsage). */
  remoteCount = 0;

  constructor(layout: Layout) {
    this.layout = layout;
    const u = layout.units.length;
    this.stride = u + 3;
    this.firstAt = u;
    this.lastAt = u + 1;
    this.stateAt = u + 2;
    this.slotFloats = this.stride + Math.ceil(layout.total / 2);
    let shift = 0;
    while (shift < 12 && (2 << shift) * this.slotFloats * 8 <= 65_536) shift++;
    this.shift = shift;
    this.mask = (1 << shift) - 1;
  }

  counts(slot: number): Uint32Array {
    return this.countChunks[slot >> this.shift]!;
  }
  cbase(slot: number): number {
    return ((slot & this.mask) * this.slotFloats + this.stride) * 2;
  }
  meta(slot: number): Float64Array {
    return this.metaChunks[slot >> this.shift]!;
  }
  mbase(slot: number): number {
    return (slot & this.mask) * this.slotFloats;
  }

  /** Adds an event with its bucket-0 ordinals set to `ords`; returns its slot. */
  create(id: string, ords: Float64Array): number {
    const slot = this.size++;
    if ((slot & this.mask) === 0) {
      const buffer = new ArrayBuffer((this.mask + 1) * this.slotFloats * 8);
      this.countChunks.push(new Uint32Array(buffer));
      this.metaChunks.push(new Float64Array(buffer));
    }
    this.index.set(id, slot);
    this.ids.push(id);
    const meta = this.meta(slot);
    const base = this.mbase(slot);
    meta.set(ords, base);
    meta[base + this.firstAt] = Number.NaN;
    meta[base + this.lastAt] = Number.NaN;
    return slot;
  }

  /** Records that the event changed: bumps its version, marks it dirty and unsaved. */
  touch(slot: number): void {
    const meta = this.metaChunks[slot >> this.shift]!;
    const at = (slot & this.mask) * this.slotFloats + this.stateAt;
    const next = meta[at]! + 4;
    meta[at] = next % 4 === 3 ? next : this.touchMarks(slot, next);
  }

  /** The mark half of touch() for an already bumped state; returns the state with both marks set. */
  touchMarks(slot: number, state: number): number {
    const flags = state % 4;
    if ((flags & DIRTY) === 0) this.dirtySlots.add(slot);
    if ((flags & UNSAVED) === 0) this.unsavedSlots.add(slot);
    return state - flags + 3;
  }

  version(slot: number): number {
    return Math.floor(this.meta(slot)[this.mbase(slot) + this.stateAt]! / 4);
  }

  /** Marks `version` of the slot as written: clears unsaved only if nothing changed since. */
  markSaved(slot: number, version: number): void {
    const meta = this.meta(slot);
    const at = this.mbase(slot) + this.stateAt;
    const state = meta[at]!;
    if (Math.floor(state / 4) > version || ((state % 4) & UNSAVED) === 0) return;
    meta[at] = state - UNSAVED;
    this.unsavedSlots.delete(slot);
  }

  /** Clears the dirty mark of one slot (a load is not a change to upload). */
  clearDirty(slot: number): void {
    const meta = this.meta(slot);
    const at = this.mbase(slot) + this.stateAt;
    if (((meta[at]! % 4) & DIRTY) !== 0) meta[at]! -= DIRTY;
    this.dirtySlots.delete(slot);
  }

  resetDirty(): void {
    for (const slot of this.dirtySlots) {
      const meta = this.meta(slot);
      const at = this.mbase(slot) + this.stateAt;
      if (((meta[at]! % 4) & DIRTY) !== 0) meta[at]! -= DIRTY;
    }
    this.dirtySlots.clear();
  }

  /** Notes instants in the event's exact first/last seen. Returns true when either moved. */
  see(slot: number, first: number, last: number): boolean {
    const meta = this.meta(slot);
    const base = this.mbase(slot);
    let changed = false;
    if (!(meta[base + this.firstAt]! <= first)) {
      meta[base + this.firstAt] = first;
      changed = true;
    }
    if (!(meta[base + this.lastAt]! >= last)) {
      meta[base + this.lastAt] = last;
      changed = true;
    }
    return changed;
  }

  /** A fresh ring set for another replica, rotated to `ords`. */
  newRingSet(ords: Float64Array): RingSet {
    return { counts: new Uint32Array(this.layout.total), ords: Float64Array.from(ords) };
  }

  /** Bytes held: chunks, plus an estimate of the id index and other replicas' ring sets. */
  bytes(): number {
    const chunk = (this.mask + 1) * this.slotFloats * 8;
    let ids = 0;
    for (const id of this.ids) ids += 2 * id.length + 24;
    const ring = this.layout.total * 4 + this.layout.units.length * 8 + 120;
    return this.countChunks.length * chunk + ids + this.size * 40 + this.remoteCount * ring;
  }
}

/**
 * Index in `counts` of the bucket holding `ordinal` of unit u for a ring set whose bucket 0 is
 * `o0`, or -1 when the ring does not hold it (later than bucket 0, or rotated out).
 */
export function indexOf(layout: Layout, cbase: number, u: number, o0: number, ordinal: number): number {
  if (ordinal === o0) return cbase + u;
  const size = layout.sizes[u]!;
  if (ordinal > o0 || o0 - ordinal >= size) return -1;
  return cbase + layout.offsets[u]! + mod(ordinal, size - 1);
}

/**
 * Rotates unit u of a ring set to `ordinal` (lazy rotation): the head moves into the ring, the slots
 * of skipped periods are zeroed (at most size of them). An ordinal at or before bucket 0 (clock
 * going backwards) changes nothing.
 */
export function rotateUnit(
  layout: Layout,
  counts: Uint32Array,
  cbase: number,
  ords: Float64Array,
  obase: number,
  u: number,
  ordinal: number,
): void {
  const o0 = ords[obase + u]!;
  if (!(ordinal > o0)) return;
  const ringSize = layout.sizes[u]! - 1;
  const off = cbase + layout.offsets[u]!;
  const skipped = ordinal - o0;
  if (skipped > ringSize) {
    counts.fill(0, off, off + ringSize);
  } else if (ringSize > 0) {
    let s = mod(o0, ringSize);
    counts[off + s] = counts[cbase + u]!;
    for (let j = 1; j < skipped; j++) {
      if (++s === ringSize) s = 0;
      counts[off + s] = 0;
    }
  }
  counts[cbase + u] = 0;
  ords[obase + u] = ordinal;
}

/**
 * Adds c to the bucket of `ordinal` (already rotated). An ordinal later than bucket 0 folds into
 * bucket 0; one older than the ring drops. Saturates at 2^32-1. Returns whether it landed.
 */
export function addAtOrdinal(
  layout: Layout,
  counts: Uint32Array,
  cbase: number,
  ords: Float64Array,
  obase: number,
  u: number,
  ordinal: number,
  c: number,
): boolean {
  const o0 = ords[obase + u]!;
  const i = indexOf(layout, cbase, u, o0, Math.min(ordinal, o0));
  if (i < 0) return false;
  const v = counts[i]! + c;
  counts[i] = Math.min(v, MAX_BUCKET);
  return true;
}

/**
 * Reads the count held for `ordinal` without rotating (0 when the ring does not hold it): bucket i
 * of a read at time t is ordinal max(bucket-0 ordinal, ord(t)) - i, so reads are pure.
 */
export function countAt(
  layout: Layout,
  counts: Uint32Array,
  cbase: number,
  ords: Float64Array,
  obase: number,
  u: number,
  ordinal: number,
): number {
  const i = indexOf(layout, cbase, u, ords[obase + u]!, ordinal);
  return i < 0 ? 0 : counts[i]!;
}

/** Sum of buckets [start, end) of unit u as seen at current ordinal `ordNow`, without rotating. */
export function sumRange(
  layout: Layout,
  counts: Uint32Array,
  cbase: number,
  ords: Float64Array,
  obase: number,
  u: number,
  ordNow: number,
  start: number,
  end: number,
): number {
  const o0 = ords[obase + u]!;
  const size = layout.sizes[u]!;
  const top = Math.max(o0, ordNow);
  const hi = top - start;
  const lo = top - end + 1;
  let sum = 0;
  if (o0 <= hi && o0 >= lo) sum = counts[cbase + u]!;
  let ringHi = o0 - 1;
  if (ringHi > hi) ringHi = hi;
  let ringLo = o0 - size + 1;
  if (ringLo < lo) ringLo = lo;
  if (ringHi < ringLo) return sum;
  const ringSize = size - 1;
  const off = cbase + layout.offsets[u]!;
  let s = mod(ringLo, ringSize);
  for (let q = ringLo; q <= ringHi; q++) {
    sum += counts[off + s]!;
    if (++s === ringSize) s = 0;
  }
  return sum;
}

/** True when every bucket of a ring set is zero. */
export function allZero(counts: Uint32Array, from = 0, to = counts.length): boolean {
  for (let i = from; i < to; i++) if (counts[i] !== 0) return false;
  return true;
}
