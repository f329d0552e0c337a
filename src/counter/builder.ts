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
import { type Alignment, TimeZone } from "../time/calendar.ts";
import type { Clock } from "../time/clock.ts";
import { type Duration, toMs } from "../time/duration.ts";
import type { TimeUnit } from "../time/units.ts";
import { ANALYTICS_UNITS, DEFAULT_UNITS, RATE_LIMITING_UNITS, type UnitCounts, validateBucketCount } from "./config.ts";
import { validateReplicaId } from "./event-id.ts";
import { EventStore, type EventStoreOptions } from "./event-store.ts";
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

export class EventStoreBuilder {
  #units: UnitCounts | undefined;
  readonly #settings: BuilderSettings = {};

  trackSeconds(n: number): this {
    return this.#track("seconds", n);
  }
  trackMinutes(n: number): this {
    return this.#track("minutes", n);
  }
  trackHours(n: number): this {
    return this.#track("hours", n);
  }
  trackDays(n: number): this {
    return this.#track("days", n);
  }
  trackWeeks(n: number): this {
    return this.#track("weeks", n);
  }
  trackMonths(n: number): this {
    return this.#track("months", n);
  }
  trackYears(n: number): this {
    return this.#track("years", n);
  }

  /** 60 seconds, 60 minutes, 24 hours (replaces the unit set). */
  forRateLimiting(): this {
    this.#units = { ...RATE_LIMITING_UNITS };
    return this;
  }

  /** 90 days, 52 weeks, 24 months (replaces the unit set). */
  forAnalytics(): this {
    this.#units = { ...ANALYTICS_UNITS };
    return this;
  }

  /** @default systemClock */
  withClock(clock: Clock): this {
    if (typeof (clock as Partial<Clock> | null)?.now !== "function") {
      throw new TallyError("INVALID_CONFIG", "withClock needs an object with a now() method returning epoch ms");
    }
    this.#settings.clock = clock;
    return this;
  }

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

  /** IANA zone for calendar buckets and local schedules. @default the system zone */
  timeZone(iana: string): this {
    try {
      TimeZone.of(iana);
    } catch (cause) {
      throw new TallyError(
        "INVALID_CONFIG",
        `unknown time zone ${JSON.stringify(iana) ?? String(iana)}: pass an IANA name such as "UTC" or "Europe/Berlin"`,
        { cause },
      );
    }
    this.#settings.timeZone = iana;
    return this;
  }

  /** @default "calendar" */
  alignment(a: Alignment): this {
    if (a !== "calendar" && a !== "uniform") {
      throw new TallyError(
        "INVALID_CONFIG",
        `unknown alignment ${JSON.stringify(a) ?? String(a)}: use "calendar" or "uniform"`,
      );
    }
    this.#settings.alignment = a;
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
    return { ...this.#settings, units: { ...(this.#units ?? DEFAULT_UNITS) } };
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

  #track(unit: TimeUnit, n: number): this {
    const size = validateBucketCount(n, unit);
    this.#units = { ...(this.#units ?? {}), [unit]: size };
    return this;
  }
}
