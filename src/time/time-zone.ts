/**
 * IANA time zones: the UTC offset at any instant and the local wall clock, from
 * `Intl.DateTimeFormat` (no dependency, DST-correct), with a per-zone cache of offsets.
 */

import { TallyError } from "../errors.ts";
import { civilFromDays, daysFromCivil } from "./civil-date.ts";
import { valueText } from "./value-text.ts";

/** Wall-clock fields of an instant in a zone. `weekday` is 1 = Monday … 7 = Sunday (ISO). */
export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
  /** Days since 1970-01-01 in the zone. */
  dayNumber: number;
  /** Milliseconds since local midnight of the wall clock (not elapsed time on DST days). */
  msOfDay: number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** 0001-01-01T00:00Z: Intl drops the era, so instants before it are read at it (LMT is constant there). */
const FIRST_YEAR_ONE = -62_135_596_800_000;
/** Hour blocks remembered per zone (each map); about five months of hours, a few hundred KB at most. */
const BLOCK_CACHE_SIZE = 4096;
/** Scratch space for parsing `Intl` output without allocating (single-threaded, never re-entered). */
const FIELDS = new Int32Array(6);

interface Transition {
  /** First instant with the new offset. */
  readonly at: number;
  readonly before: number;
  readonly after: number;
}

const mod = (a: number, b: number): number => ((a % b) + b) % b;

/**
 * An IANA zone with its UTC offsets. Instances are cached: `TimeZone.of` is cheap after the first call.
 *
 * Offsets are read from `Intl.DateTimeFormat` (about 1 µs a call) and remembered per UTC hour
 * block: a block whose first and last second share an offset is taken as transition-free, and a
 * block whose ends differ has its one transition located to the second. This rests on one fact of
 * the tz database: two offset changes of a zone are never less than an hour apart. Repeated
 * lookups near the same instants (boundary crossings, a day of events) then cost a map read.
 */
export class TimeZone {
  static readonly #cache = new Map<string, TimeZone>();
  readonly name: string;
  readonly #format: Intl.DateTimeFormat | undefined;
  /** Hour block -> offset, for blocks without a transition. */
  readonly #steady = new Map<number, number>();
  /** Hour block -> the transition inside it. */
  readonly #changes = new Map<number, Transition>();
  #lastBlock = Number.NaN;
  #lastOffset = 0;

  private constructor(name: string, format: Intl.DateTimeFormat | undefined) {
    this.name = name;
    this.#format = format;
  }

  /** The zone named `name`, or `INVALID_TIME_ZONE` for a name `Intl` does not know. */
  static of(name: string): TimeZone {
    const cached = TimeZone.#cache.get(name);
    if (cached !== undefined) return cached;
    const zone = TimeZone.#create(name);
    TimeZone.#cache.set(name, zone);
    return zone;
  }

  static #create(name: string): TimeZone {
    if (typeof name !== "string" || name.trim() === "") throw invalidZone(name);
    let format: Intl.DateTimeFormat;
    try {
      format = new Intl.DateTimeFormat("en-US", {
        timeZone: name,
        hourCycle: "h23",
        year: "numeric",
        month: "numeric",
        day: "numeric",
        hour: "numeric",
        minute: "numeric",
        second: "numeric",
      });
    } catch (cause) {
      throw invalidZone(name, cause);
    }
    const canonical = format.resolvedOptions().timeZone;
    const utc = canonical === "UTC" || canonical === "Etc/UTC" || canonical === "Etc/GMT";
    return new TimeZone(name, utc ? undefined : format);
  }

  /** UTC offset at instant t in ms: local wall time = t + offsetAt(t). */
  offsetAt(t: number): number {
    if (this.#format === undefined) return 0;
    const block = Math.floor(t / HOUR);
    if (block === this.#lastBlock) return this.#lastOffset;
    const steady = this.#steady.get(block);
    if (steady !== undefined) {
      this.#lastBlock = block;
      this.#lastOffset = steady;
      return steady;
    }
    const change = this.#changes.get(block) ?? this.#learn(block);
    if (change === undefined) return this.offsetAt(t);
    return t < change.at ? change.before : change.after;
  }

  /**
   * The first instant in (from, to] whose offset differs from the offset just before it, or
   * undefined when the offset stays the same throughout. Walks the hour blocks in between, so a
   * day costs 24 map reads once the blocks are known.
   */
  nextTransition(from: number, to: number): number | undefined {
    if (this.#format === undefined || !(to > from)) return undefined;
    let current = this.offsetAt(from);
    const last = Math.floor(to / HOUR);
    for (let block = Math.floor(from / HOUR); block <= last; block++) {
      const first = block * HOUR;
      let steady = this.#steady.get(block);
      let change = steady === undefined ? this.#changes.get(block) : undefined;
      if (steady === undefined && change === undefined) {
        change = this.#learn(block);
        if (change === undefined) steady = this.#steady.get(block);
      }
      const opening = steady ?? (change as Transition).before;
      if (opening !== current && first > from) return first <= to ? first : undefined;
      current = opening;
      if (change !== undefined && change.at > from) return change.at <= to ? change.at : undefined;
      if (change !== undefined) current = change.after;
    }
    return undefined;
  }

  /** Reads the offsets of one hour block; returns its transition, if it has one. */
  #learn(block: number): Transition | undefined {
    if (this.#steady.size >= BLOCK_CACHE_SIZE) this.#steady.clear();
    if (this.#changes.size >= BLOCK_CACHE_SIZE) this.#changes.clear();
    const first = block * HOUR;
    const last = first + HOUR - 1000;
    const before = this.#read(first);
    const after = this.#read(last);
    if (before === after) {
      this.#steady.set(block, before);
      return undefined;
    }
    // Offsets change on whole seconds (they are read at whole seconds), so search seconds.
    let low = first / 1000;
    let high = last / 1000;
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      if (this.#read(mid * 1000) === before) low = mid;
      else high = mid;
    }
    const change = { at: high * 1000, before, after };
    this.#changes.set(block, change);
    return change;
  }

  /** The offset at t straight from Intl (no cache). */
  #read(t: number): number {
    const format = this.#format as Intl.DateTimeFormat;
    // Intl omits the era, so years before 1 AD would read wrong; no zone has rules that old.
    const whole = Math.max(Math.floor(t / 1000) * 1000, FIRST_YEAR_ONE);
    const text = format.format(whole);
    // "M/D/YYYY, HH:MM:SS": take the six digit groups in order, whatever the separators.
    let count = 0;
    let value = -1;
    for (let i = 0; i <= text.length; i++) {
      const digit = i < text.length ? text.charCodeAt(i) - 48 : -1;
      if (digit >= 0 && digit <= 9) {
        value = value < 0 ? digit : value * 10 + digit;
      } else if (value >= 0) {
        if (count < 6) FIELDS[count] = value;
        count++;
        value = -1;
      }
    }
    if (count !== 6) return this.#readParts(whole);
    const f = FIELDS as unknown as readonly [number, number, number, number, number, number];
    return daysFromCivil(f[2], f[0], f[1]) * DAY + f[3] * HOUR + f[4] * MINUTE + f[5] * 1000 - whole;
  }

  /** Slow path for an unexpected `format` output: the same fields through `formatToParts`. */
  #readParts(whole: number): number {
    const fields: Record<string, number> = {};
    for (const part of (this.#format as Intl.DateTimeFormat).formatToParts(whole)) {
      if (part.type !== "literal") fields[part.type] = Number(part.value);
    }
    const { year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = fields;
    return daysFromCivil(year, month, day) * DAY + hour * HOUR + minute * MINUTE + second * 1000 - whole;
  }

  /** Days since 1970-01-01 of the local date at t. */
  localDay(t: number): number {
    return Math.floor((t + this.offsetAt(t)) / DAY);
  }

  local(t: number): LocalTime {
    const wall = t + this.offsetAt(t);
    const dayNumber = Math.floor(wall / DAY);
    const msOfDay = wall - dayNumber * DAY;
    const [year, month, day] = civilFromDays(dayNumber);
    return {
      year,
      month,
      day,
      hour: Math.floor(msOfDay / HOUR),
      minute: Math.floor(mod(msOfDay, HOUR) / MINUTE),
      second: Math.floor(mod(msOfDay, MINUTE) / 1000),
      weekday: mod(dayNumber + 3, 7) + 1,
      dayNumber,
      msOfDay,
    };
  }
}

/** The zone of this process (honours `TZ`), falling back to UTC. */
export function systemTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC";
}

function invalidZone(name: unknown, cause?: unknown): TallyError {
  return new TallyError(
    "INVALID_TIME_ZONE",
    `unknown time zone ${valueText(name)}: pass an IANA zone name such as "UTC", "Europe/Berlin" or "America/New_York"`,
    { cause, details: { value: name } },
  );
}
