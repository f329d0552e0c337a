/**
 * Export, import, additive merge and idempotent sync (spec §9) on the engine.
 *
 * - Export rotates the event to now and writes every replica's rings, bucket 0 first.
 * - Incoming snapshots are validated (and converted to this store's geometry) before anything is
 *   applied, then aligned by period ordinal: incoming buckets later than our bucket 0 fold into
 *   bucket 0, buckets older than our ring drop.
 * - import replaces the event's state (all replicas); merge adds the incoming totals into the local
 *   replica (not idempotent, crate semantics); sync keeps, per replica and aligned bucket, the
 *   maximum of ours and theirs (a grow-only counter per replica: idempotent, commutative,
 *   associative). A sync that changes nothing marks nothing.
 */

import { TallyError } from "../errors.ts";
import { convertSnapshot } from "./conversion.ts";
import type { CounterCore } from "./core.ts";
import { validateEventId } from "./event-id.ts";
import { indexOf, MAX_BUCKET, rotateUnit } from "./event-table.ts";
import type { EventSnapshot, SnapshotSet } from "./snapshot.ts";
import { validateSnapshot } from "./snapshot-validate.ts";

/** The event's full state as a snapshot (rotates it to now first). `refresh(now)` first. */
export function exportEvent(core: CounterCore, slot: number, now: number): EventSnapshot {
  core.rotateEvent(slot);
  const layout = core.layout;
  const t = core.table;
  const tops = layout.units.map((_, u) => core.topOrdinal(slot, u));
  const rows = (counts: Uint32Array, cbase: number, ords: Float64Array, obase: number): number[][] =>
    layout.units.map((_, u) => {
      const size = layout.sizes[u]!;
      const o0 = ords[obase + u]!;
      const row: number[] = [];
      let last = -1;
      for (let i = 0; i < size; i++) {
        const q = tops[u]! - i;
        const index = indexOf(layout, cbase, u, o0, q);
        const v = index < 0 ? 0 : counts[index]!;
        row.push(v);
        if (v !== 0) last = i;
      }
      row.length = last + 1;
      return row;
    });
  const replicas = [
    { replicaId: core.replicaId, counts: rows(t.counts(slot), t.cbase(slot), t.meta(slot), t.mbase(slot)) },
  ];
  const remotes = t.remotes.get(slot);
  if (remotes !== undefined) {
    for (const [replicaId, r] of remotes) replicas.push({ replicaId, counts: rows(r.counts, 0, r.ords, 0) });
  }
  return {
    format: "tally.counter",
    version: 1,
    alignment: core.alignment,
    timeZone: core.timeZone,
    savedAt: now,
    firstSeenAt: core.firstSeenAt(slot) ?? null,
    lastSeenAt: core.lastSeenAt(slot) ?? null,
    units: layout.units.map((unit, u) => ({ unit, bucketCount: layout.sizes[u]!, start: core.startOf(u, tops[u]!) })),
    replicas,
  };
}

/** The snapshot in this store's geometry, units in the store's order (converted when it differs). */
export function toStoreGeometry(core: CounterCore, snapshot: EventSnapshot, now: number): EventSnapshot {
  const same = inStoreGeometry(core, snapshot);
  if (same !== undefined) return same;
  const layout = core.layout;
  const target = {
    alignment: core.alignment,
    timeZone: core.timeZone,
    units: layout.units.map((unit, u) => ({ unit, bucketCount: layout.sizes[u]! })),
  };
  const converted = inStoreGeometry(core, convertSnapshot(snapshot, target, now));
  if (converted === undefined)
    throw new TallyError("CORRUPT_DATA", "snapshot conversion did not reach the store's geometry");
  return converted;
}

/** The snapshot with units in the store's order when its geometry is the store's, else undefined. */
function inStoreGeometry(core: CounterCore, snapshot: EventSnapshot): EventSnapshot | undefined {
  const layout = core.layout;
  const sameFrame =
    snapshot.alignment === core.alignment && (core.alignment === "uniform" || snapshot.timeZone === core.timeZone);
  const order = layout.units.map((unit) => snapshot.units.findIndex((e) => e.unit === unit));
  const sameUnits =
    snapshot.units.length === layout.units.length &&
    order.every((i, u) => i >= 0 && snapshot.units[i]!.bucketCount === layout.sizes[u]);
  if (!sameFrame || !sameUnits) return undefined;
  if (order.every((i, u) => i === u)) return snapshot;
  return {
    ...snapshot,
    units: order.map((i) => snapshot.units[i]!),
    replicas: snapshot.replicas.map((r) => ({ replicaId: r.replicaId, counts: order.map((i) => r.counts[i] ?? []) })),
  };
}

/** Validates ids and snapshots of a set and converts them; throws before anything is applied. */
export function prepareSet(core: CounterCore, events: SnapshotSet, now: number): Array<[string, EventSnapshot]> {
  const entries: Iterable<readonly [string, EventSnapshot]> =
    events instanceof Map || isIterable(events)
      ? (events as Iterable<readonly [string, EventSnapshot]>)
      : Object.entries(events);
  const out: Array<[string, EventSnapshot]> = [];
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length < 2) {
      throw new TallyError("CORRUPT_DATA", "a snapshot set holds [id, snapshot] pairs, a Map or a plain object");
    }
    const [id, snapshot] = entry as [unknown, unknown];
    out.push(prepareOne(core, id, snapshot, now));
  }
  return out;
}

export function prepareOne(core: CounterCore, id: unknown, snapshot: unknown, now: number): [string, EventSnapshot] {
  const checked = validateEventId(id);
  return [checked, toStoreGeometry(core, validateSnapshot(snapshot, checked), now)];
}

/** Per unit, the incoming values of `rows` aligned to a ring whose bucket 0 is `tops[u]`. */
function aligned(
  core: CounterCore,
  snapshot: EventSnapshot,
  rows: readonly (readonly number[])[],
  tops: ArrayLike<number>,
): Float64Array[] {
  return core.layout.units.map((_, u) => {
    const size = core.layout.sizes[u]!;
    const out = new Float64Array(size);
    const row = rows[u];
    if (row === undefined) return out;
    const incoming = core.ordinalOf(u, snapshot.units[u]!.start);
    for (let i = 0; i < row.length; i++) {
      const v = row[i]!;
      if (v === 0) continue;
      let j = tops[u]! - (incoming - i);
      if (j < 0) j = 0;
      if (j >= size) continue;
      out[j]! += v;
    }
    return out;
  });
}

type Combine = "set" | "add" | "max";

/** Applies aligned values to one ring set; returns whether a bucket changed. */
function applyRows(core: CounterCore, slot: number, replicaId: string, values: Float64Array[], how: Combine): boolean {
  const ring = core.ringSet(slot, replicaId, true)!;
  const layout = core.layout;
  let changed = false;
  values.forEach((row, u) => {
    const size = layout.sizes[u]!;
    const top = ring.ords[ring.obase + u]!;
    for (let j = 0; j < size; j++) {
      const v = row[j]!;
      if (v === 0) continue;
      const i = indexOf(layout, ring.cbase, u, top, top - j);
      const current = ring.counts[i]!;
      let next = how === "add" ? current + v : how === "max" ? Math.max(current, v) : v;
      if (next > MAX_BUCKET) next = MAX_BUCKET;
      if (next !== current) {
        ring.counts[i] = next;
        changed = true;
      }
    }
  });
  return changed;
}

function tops(core: CounterCore, slot: number, replicaId: string): Float64Array {
  const ring = core.ringSet(slot, replicaId, false);
  const out = Float64Array.from(core.ordNow);
  if (ring !== undefined) {
    for (let u = 0; u < out.length; u++) out[u] = Math.max(ring.ords[ring.obase + u]!, out[u]!);
  }
  return out;
}

/** Replaces the event's state. `refresh(now)` first. */
export function importEvent(core: CounterCore, id: string, snapshot: EventSnapshot): void {
  const t = core.table;
  const slot = core.ensure(id);
  const counts = t.counts(slot);
  const cbase = t.cbase(slot);
  counts.fill(0, cbase, cbase + core.layout.total);
  const meta = t.meta(slot);
  meta.set(core.ordNow, t.mbase(slot));
  const remotes = t.remotes.get(slot);
  if (remotes !== undefined) {
    t.remoteCount -= remotes.size;
    t.remotes.delete(slot);
  }
  meta[t.mbase(slot) + t.firstAt] = snapshot.firstSeenAt ?? Number.NaN;
  meta[t.mbase(slot) + t.lastAt] = snapshot.lastSeenAt ?? Number.NaN;
  for (const r of snapshot.replicas) {
    const values = aligned(core, snapshot, r.counts, core.ordNow);
    if (values.some((row) => row.some((v) => v !== 0))) applyRows(core, slot, r.replicaId, values, "set");
  }
  t.touch(slot);
}

/** Adds the incoming totals into the local replica. `refresh(now)` first. */
export function mergeEvent(core: CounterCore, id: string, snapshot: EventSnapshot): void {
  const created = core.slotOf(id) === undefined;
  const slot = core.ensure(id);
  core.rotateEvent(slot);
  const summed = core.layout.units.map((_, u) => {
    const row: number[] = [];
    for (const r of snapshot.replicas) {
      (r.counts[u] ?? []).forEach((v, i) => {
        row[i] = (row[i] ?? 0) + v;
      });
    }
    return Array.from(row, (v) => v ?? 0);
  });
  let changed = applyRows(
    core,
    slot,
    core.replicaId,
    aligned(core, snapshot, summed, tops(core, slot, core.replicaId)),
    "add",
  );
  if (seeSnapshot(core, slot, snapshot)) changed = true;
  if (changed && !created) core.table.touch(slot);
}

/** Keeps the maximum per replica and aligned bucket. `refresh(now)` first. */
export function syncEvent(core: CounterCore, id: string, snapshot: EventSnapshot): void {
  const created = core.slotOf(id) === undefined;
  const slot = core.ensure(id);
  core.rotateEvent(slot);
  let changed = false;
  for (const r of snapshot.replicas) {
    const values = aligned(core, snapshot, r.counts, tops(core, slot, r.replicaId));
    if (!values.some((row) => row.some((v) => v !== 0))) continue;
    const ring = core.ringSet(slot, r.replicaId, true)!;
    for (let u = 0; u < core.ordNow.length; u++) {
      rotateUnit(core.layout, ring.counts, ring.cbase, ring.ords, ring.obase, u, core.ordNow[u]!);
    }
    if (applyRows(core, slot, r.replicaId, values, "max")) changed = true;
  }
  if (seeSnapshot(core, slot, snapshot)) changed = true;
  if (changed && !created) core.table.touch(slot);
}

function seeSnapshot(core: CounterCore, slot: number, snapshot: EventSnapshot): boolean {
  const first = snapshot.firstSeenAt ?? Number.POSITIVE_INFINITY;
  const last = snapshot.lastSeenAt ?? Number.NEGATIVE_INFINITY;
  if (snapshot.firstSeenAt === null && snapshot.lastSeenAt === null) return false;
  const t = core.table;
  const meta = t.meta(slot);
  const base = t.mbase(slot);
  let changed = false;
  if (first !== Number.POSITIVE_INFINITY && !(meta[base + t.firstAt]! <= first)) {
    meta[base + t.firstAt] = first;
    changed = true;
  }
  if (last !== Number.NEGATIVE_INFINITY && !(meta[base + t.lastAt]! >= last)) {
    meta[base + t.lastAt] = last;
    changed = true;
  }
  return changed;
}

function isIterable(value: unknown): boolean {
  return typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function";
}
