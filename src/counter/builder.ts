/**
 * `EventStore.builder()` (spec §2, §7): every method validates its argument at once and returns the
 * builder; whole-config checks reject from `build()`.
 *
 * Units: a preset (`forRateLimiting`, `forAnalytics`) replaces the unit set; each `trackX(n)` then
 * sets one unit (a later call wins); with neither, the default set (60 minutes, 72 hours, 56 days,
 * 52 weeks, 12 months, 4 years).
 */

import { TallyError } from "../errors.ts";
import type { Storage } from "../storage/storage.ts";
import { type Duration, toMs } from "../time/duration.ts";
import { validateReplicaId } from "./event-id.ts";
import { EventStore, type EventStoreOptions } from "./event-store.ts";
import { CounterGeometryBuilder } from "./geometry-builder.ts";
import { buildPersistent } from "./persistence.ts";

/** What a `Format` must offer (the ready-made ones are `BinaryFormat` and `JsonFormat`). */
export interface FormatLike {
  readonly name: string;
  readonly extension: string;
  encode(snapshot: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

/** Everything the builder collected; the persistence module reads it in build(). */
export interface BuilderSettings extends EventStoreOptions {
  storage?: Storage;
  format?: FormatLike;
  autoPersistMs?: number;
}

export class EventStoreBuilder extends CounterGeometryBuilder {
  readonly #settings: BuilderSettings = {};

  /** @default no storage (in memory only) */
  withStorage(storage: Storage): this {
    const s = storage as Partial<Storage> | null;
    if (
      typeof s !== "object" ||
      s === null ||
      !["save", "load", "delete", "listKeys"].every((m) => typeof (s as Record<string, unknown>)[m] === "function")
    ) {
      throw new TallyError(
        "INVALID_CONFIG",
        "withStorage needs a Storage: an object with save, load, delete and listKeys",
      );
    }
    this.#settings.storage = storage;
    return this;
  }

  /** @default BinaryFormat */
  withFormat(format: FormatLike): this {
    const f = format as Partial<FormatLike> | null;
    if (
      typeof f !== "object" ||
      f === null ||
      typeof f.name !== "string" ||
      typeof f.extension !== "string" ||
      typeof f.encode !== "function" ||
      typeof f.decode !== "function"
    ) {
      throw new TallyError("INVALID_CONFIG", "withFormat needs a Format: { name, extension, encode, decode }");
    }
    this.#settings.format = format;
    return this;
  }

  /** Persist unsaved events every `every` (needs storage). @default off */
  autoPersist(every: Duration): this {
    const ms = toMs(every, "autoPersist interval");
    if (ms <= 0) throw new TallyError("INVALID_CONFIG", 'autoPersist needs an interval > 0, e.g. "30s"');
    this.#settings.autoPersistMs = ms;
    return this;
  }

  /** This writer's id for sync. @default the stored id, else crypto.randomUUID() */
  replicaId(id: string): this {
    this.#settings.replicaId = validateReplicaId(id);
    return this;
  }

  /** Background failures (auto-persist). @default process.emitWarning */
  onError(listener: (error: TallyError) => void): this {
    if (typeof listener !== "function") throw new TallyError("INVALID_CONFIG", "onError needs a function");
    this.#settings.onError = listener;
    return this;
  }

  /** The collected settings (for the persistence module). */
  settings(): BuilderSettings {
    return { ...this.#settings, ...this.geometry() };
  }

  /** Builds the store; with storage, loads (and converts) persisted events first. */
  async build(): Promise<EventStore> {
    const settings = this.settings();
    if (settings.autoPersistMs !== undefined && settings.storage === undefined) {
      throw new TallyError("INVALID_CONFIG", "autoPersist needs a storage: add withStorage(…)");
    }
    if (settings.storage !== undefined) return buildPersistent(settings);
    return new EventStore(settings);
  }
}
