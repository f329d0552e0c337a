/**
 * `EventStore`: named events counted in many time windows at once with fixed memory per event
 * (spec §§ 4–7, 9). Recording, queries and limits are synchronous; persistence is async.
 *
 * Guarantees:
 * - One clock read per public call; a record compares `now` with the cached period span and adds to
 *   bucket 0 of every tracked unit (lazy rotation, no timers). Counts saturate at 2^32-1.
 * - `recordAt(t)` adds to bucket ord(now) - ord(t) of each unit that still holds t; t > now is
 *   `FUTURE_EVENT` and changes nothing. A clock that goes back rotates nothing: records land in
 *   bucket 0.
 * - Queries never change the store. first/last seen instants are exact.
 * - Every change marks the event dirty (cleared by `resetDirty`) and unsaved (cleared when
 *   persisted); a sync that changes nothing marks nothing.
 * - A set given to import/merge/sync is validated (and converted) whole before any of it applies.
 */

import { randomUUID } from "node:crypto";
import { TallyError } from "../errors.ts";
import { type Alignment, periodsFor, systemTimeZone } from "../time/calendar.ts";
import { type Clock, type Instant, systemClock, toInstant } from "../time/clock.ts";
import { type Duration, toMs } from "../time/duration.ts";
import { NOMINAL_MS, type TimeUnit } from "../time/units.ts";
import { EventStoreBuilder } from "./builder.ts";
import { DEFAULT_UNITS, makeLayout, type UnitCounts } from "./config.ts";
import { validateRecordCount } from "./constraints.ts";
import { CounterCore, closedError } from "./core.ts";
import { validateReplicaId } from "./event-id.ts";
import { Limiter } from "./limiter.ts";
import { DeltaQuery, lookup, Query, RangeSource, RatioQuery } from "./query.ts";
import type { EventSnapshot, SnapshotSet } from "./snapshot.ts";
import { exportEvent, importEvent, mergeEvent, prepareOne, prepareSet, syncEvent } from "./snapshots.ts";

/** What `build()` loaded from storage (spec §8.6). */
export interface LoadReport {
  loaded: number;
  converted: number;
  failed: Array<{ key: string; error: TallyError; bytes: Uint8Array | undefined }>;
}

/** How a store persists; attached by the persistence module when a storage is configured. */
export interface Persister {
  /** Writes unsaved events (or all of them) and resolves to the number written. */
  persist(all: boolean): Promise<number>;
  /** Stops background work and writes what is unsaved. */
  close(): Promise<void>;
}

export interface EventStoreOptions {
  /** @default systemClock */
  clock?: Clock;
  /** @default the system zone */
  timeZone?: string;
  /** @default "calendar" */
  alignment?: Alignment;
  /** @default 60 minutes, 72 hours, 56 days, 52 weeks, 12 months, 4 years */
  units?: UnitCounts;
  /** @default crypto.randomUUID() */
  replicaId?: string;
  /** Background failures (auto-persist). @default process.emitWarning */
  onError?: (error: TallyError) => void;
}

const NO_LOAD: LoadReport = Object.freeze({ loaded: 0, converted: 0, failed: [] }) as LoadReport;

export class EventStore {
  readonly #core: CounterCore;
  readonly #onError: (error: TallyError) => void;
  #persister: Persister | undefined;
  #loadReport: LoadReport = NO_LOAD;

  /** A store with the default configuration, the system clock and zone, and no storage. */
  constructor(options: EventStoreOptions = {}) {
    const replicaId = options.replicaId === undefined ? randomUUID() : validateReplicaId(options.replicaId);
    const timeZone = options.timeZone ?? systemTimeZone();
    const periods = periodsFor(options.alignment ?? "calendar", timeZone);
    this.#core = new CounterCore(
      options.clock ?? systemClock,
      periods,
      makeLayout(options.units ?? DEFAULT_UNITS),
      replicaId,
      timeZone,
    );
    this.#onError = options.onError ?? ((error) => process.emitWarning(error));
  }

  static builder(): EventStoreBuilder {
    return new EventStoreBuilder();
  }

  get replicaId(): string {
    return this.#core.replicaId;
  }
  get timeZone(): string {
    return this.#core.timeZone;
  }
  get alignment(): Alignment {
    return this.#core.alignment;
  }
  /** What build() loaded from storage. */
  get loadReport(): LoadReport {
    return this.#loadReport;
  }

  // ── recording ────────────────────────────────────────────────────────────────────────────────

  record(id: string): void {
    const core = this.#core;
    const now = core.now();
    core.refresh(now);
    core.addNow(core.ensure(id), 1, now);
  }

  recordCount(id: string, count: number): void {
    const c = validateRecordCount(count);
    const core = this.#core;
    const now = core.now();
    core.refresh(now);
    const slot = core.ensure(id);
    if (c > 0) core.addNow(slot, c, now);
  }

  recordAt(id: string, at: Instant): void {
    this.#recordAt(id, 1, at, undefined);
  }

  recordCountAt(id: string, count: number, at: Instant): void {
    this.#recordAt(id, validateRecordCount(count), at, undefined);
  }

  recordAgo(id: string, ago: Duration): void {
    this.#recordAt(id, 1, undefined, toMs(ago, "recordAgo duration"));
  }

  recordCountAgo(id: string, count: number, ago: Duration): void {
    this.#recordAt(id, validateRecordCount(count), undefined, toMs(ago, "recordCountAgo duration"));
  }

  #recordAt(id: string, count: number, at: Instant | undefined, ago: number | undefined): void {
    const core = this.#core;
    const now = core.now();
    const t = ago === undefined ? toInstant(at, "recordAt instant") : now - ago;
    if (t > now) {
      throw new TallyError(
        "FUTURE_EVENT",
        `cannot record ${JSON.stringify(id)} at ${new Date(t).toISOString()}: it is after now (${new Date(now).toISOString()})`,
        {
          details: { id, at: t, now },
        },
      );
    }
    core.refresh(now);
    let slot = lookup(core, id);
    if (!core.reaches(slot, t)) return;
    slot ??= core.ensure(id);
    if (count === 0) return;
    core.addAt(slot, count, t);
    core.table.see(slot, t, t);
    core.table.touch(slot);
  }

  // ── queries ──────────────────────────────────────────────────────────────────────────────────

  query(id: string): Query {
    if (this.#core.closed) throw closedError();
    return new Query(this.#core, id, lookup(this.#core, id) ?? -1);
  }

  /** One event whose buckets are the bucket-wise sum of the ids that exist (duplicates once). */
  queryMany(ids: readonly string[]): RangeSource {
    if (this.#core.closed) throw closedError();
    for (const id of ids) lookup(this.#core, id);
    return new RangeSource(this.#core, ids);
  }

  queryRatio(numerator: string, denominator: string): RatioQuery {
    if (this.#core.closed) throw closedError();
    lookup(this.#core, numerator);
    lookup(this.#core, denominator);
    return new RatioQuery(this.#core, numerator, denominator);
  }

  queryDelta(positive: string, negative: string): DeltaQuery {
    if (this.#core.closed) throw closedError();
    lookup(this.#core, positive);
    lookup(this.#core, negative);
    return new DeltaQuery(this.#core, positive, negative);
  }

  /** Records |ever() delta| on the lower side, now, so the ever() delta becomes 0; returns it. */
  balanceDelta(positive: string, negative: string): number {
    const core = this.#core;
    const now = core.now();
    const pos = lookup(core, positive);
    const neg = lookup(core, negative);
    core.refresh(now);
    const u = core.layout.everIndex;
    const size = core.layout.sizes[u]!;
    const d = (pos === undefined ? 0 : core.sum(pos, u, 0, size)) - (neg === undefined ? 0 : core.sum(neg, u, 0, size));
    if (d === 0) return 0;
    const target = d > 0 ? negative : positive;
    core.addNow(core.ensure(target), Math.abs(d), now);
    return Math.abs(d);
  }

  limit(): Limiter {
    if (this.#core.closed) throw closedError();
    return new Limiter(this.#core);
  }

  /** Bytes held by counters (an estimate: slabs exactly, ids and maps approximately). */
  memoryUsage(): number {
    return this.#core.table.bytes();
  }

  /** Tracked units and their bucket counts, finest first. */
  trackedIntervals(): Array<[TimeUnit, number]> {
    const layout = this.#core.layout;
    return layout.units.map((unit, u) => [unit, layout.sizes[u]!]);
  }

  // ── dirty tracking and persistence ───────────────────────────────────────────────────────────

  /** True when an event changed since the last resetDirty(). */
  isDirty(): boolean {
    return this.#core.table.dirtySlots.size > 0;
  }

  resetDirty(): void {
    this.#core.table.resetDirty();
  }

  /** True when an event changed since it was last persisted. */
  hasUnsavedChanges(): boolean {
    return this.#core.table.unsavedSlots.size > 0;
  }

  /** Writes unsaved events; resolves to the number written (0 without storage). */
  async persist(): Promise<number> {
    if (this.#core.closed) throw closedError();
    return this.#persister === undefined ? 0 : this.#persister.persist(false);
  }

  /** Writes every event; resolves to the number written (0 without storage). */
  async persistAll(): Promise<number> {
    if (this.#core.closed) throw closedError();
    return this.#persister === undefined ? 0 : this.#persister.persist(true);
  }

  /** Stops auto-persist, persists, then every call but close() throws `STORE_CLOSED`. */
  async close(): Promise<void> {
    if (this.#core.closed) return;
    await this.#persister?.close();
    this.#core.closed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ── export, import, merge, sync ──────────────────────────────────────────────────────────────

  /** Every event as a snapshot, rotated to now (all-zero events included). */
  exportAll(): Map<string, EventSnapshot> {
    return this.#export(this.#core.table.index.values());
  }

  /** Events changed since the last resetDirty(). */
  exportDirty(): Map<string, EventSnapshot> {
    return this.#export(this.#core.table.dirtySlots);
  }

  #export(slots: Iterable<number>): Map<string, EventSnapshot> {
    const core = this.#core;
    const now = core.now();
    core.refresh(now);
    const out = new Map<string, EventSnapshot>();
    for (const slot of [...slots].sort((a, b) => a - b)) out.set(core.table.ids[slot]!, exportEvent(core, slot, now));
    return out;
  }

  /** Replaces the state of each given id (all replicas); other ids are untouched. */
  importAll(events: SnapshotSet): void {
    this.#apply(events, importEvent);
  }

  importEvent(id: string, snapshot: EventSnapshot): void {
    this.#applyOne(id, snapshot, importEvent);
  }

  /** Adds the incoming totals into this replica (not idempotent: merging twice counts twice). */
  mergeAll(events: SnapshotSet): void {
    this.#apply(events, mergeEvent);
  }

  mergeEvent(id: string, snapshot: EventSnapshot): void {
    this.#applyOne(id, snapshot, mergeEvent);
  }

  merge(other: EventStore): void {
    this.mergeAll(other.exportAll());
  }

  /** Keeps the maximum per replica and bucket (idempotent, commutative, associative). */
  syncAll(events: SnapshotSet): void {
    this.#apply(events, syncEvent);
  }

  syncEvent(id: string, snapshot: EventSnapshot): void {
    this.#applyOne(id, snapshot, syncEvent);
  }

  sync(other: EventStore): void {
    this.syncAll(other.exportAll());
  }

  #apply(events: SnapshotSet, how: (core: CounterCore, id: string, s: EventSnapshot) => void): void {
    const core = this.#core;
    const now = core.now();
    const prepared = prepareSet(core, events, now);
    core.refresh(now);
    for (const [id, snapshot] of prepared) how(core, id, snapshot);
  }

  #applyOne(id: string, snapshot: EventSnapshot, how: (core: CounterCore, id: string, s: EventSnapshot) => void): void {
    const core = this.#core;
    const now = core.now();
    const [checked, converted] = prepareOne(core, id, snapshot, now);
    core.refresh(now);
    how(core, checked, converted);
  }

  // ── for the persistence module (not part of the public API) ──────────────────────────────────

  /** @internal Ids of unsaved events with their change counters, for `markSaved`. */
  unsavedEntries(): Array<{ id: string; change: number }> {
    const t = this.#core.table;
    return [...t.unsavedSlots].map((slot) => ({ id: t.ids[slot]!, change: t.version(slot) }));
  }

  /** @internal Every event id with its change counter. */
  allEntries(): Array<{ id: string; change: number }> {
    const t = this.#core.table;
    return t.ids.map((id, slot) => ({ id, change: t.version(slot) }));
  }

  /** @internal Marks version `change` of the event as written. */
  markSaved(id: string, change: number): void {
    const slot = this.#core.slotOf(id);
    if (slot !== undefined) this.#core.table.markSaved(slot, change);
  }

  /** @internal The event's snapshot now (rotated), or undefined. */
  snapshotOf(id: string): EventSnapshot | undefined {
    const core = this.#core;
    const slot = core.slotOf(id);
    if (slot === undefined) return undefined;
    const now = core.clock.now();
    core.refresh(now);
    return exportEvent(core, slot, now);
  }

  /**
   * @internal Loads a persisted snapshot (already converted to this geometry with `convertSnapshot`
   * or in it already) as the event's state: not dirty; unsaved only when `converted`.
   */
  loadEvent(id: string, snapshot: EventSnapshot, converted: boolean): void {
    const core = this.#core;
    const now = core.clock.now();
    const [checked, local] = prepareOne(core, id, snapshot, now);
    core.refresh(now);
    importEvent(core, checked, local);
    const slot = core.slotOf(checked)!;
    const t = core.table;
    t.clearDirty(slot);
    if (!converted) t.markSaved(slot, t.version(slot));
  }

  /** @internal Attaches the persistence driver and the load report (from build()). */
  attachPersistence(persister: Persister | undefined, report: LoadReport): void {
    this.#persister = persister;
    this.#loadReport = report;
  }

  /** @internal The background error listener. */
  get errorListener(): (error: TallyError) => void {
    return this.#onError;
  }

  /** @internal The store's clock. */
  get clock(): Clock {
    return this.#core.clock;
  }

  /** @internal The target geometry for `convertSnapshot`. */
  get geometry(): { alignment: Alignment; timeZone: string; units: Array<{ unit: TimeUnit; bucketCount: number }> } {
    const layout = this.#core.layout;
    return {
      alignment: this.#core.alignment,
      timeZone: this.#core.timeZone,
      units: layout.units.map((unit, u) => ({ unit, bucketCount: layout.sizes[u]! })),
    };
  }
}

/** Longest coverage in ms of a unit set (used by tests and the shared store). */
export function longestCoverage(units: UnitCounts): number {
  let best = 0;
  for (const [unit, n] of Object.entries(units)) best = Math.max(best, (n ?? 0) * NOMINAL_MS[unit as TimeUnit]);
  return best;
}
