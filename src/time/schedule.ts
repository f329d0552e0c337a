/**
 * Schedules: "during business hours", "outside weekends", "22:00–06:00 on Fridays in Berlin".
 *
 * Contract:
 * - `contains(at, zone?)` judges the local wall-clock time and weekday of `at` in the schedule's
 *   zone: UTC for `hours`, `weekdays`, `weekends`; the given `timeZone` for `between`/`days`; and
 *   for the `*LocalTz` variants and `between`/`days` without `timeZone`, the `zone` argument (the
 *   evaluating store's zone; default the system zone). A time a DST gap skips never matches; a
 *   time a fall-back repeats matches both times.
 * - Windows are half-open [from, to) on the wall clock; from > to wraps midnight, and such an
 *   overnight window belongs to the day it starts on for the day filter.
 * - `nextChange(at, zone?)` is the first instant after `at`, exact to the millisecond, at which
 *   `contains` gives the other answer; undefined when that is more than 8 days ahead or the
 *   schedule is custom. It jumps from one wall-clock boundary (window ends, midnights) or offset
 *   transition to the next, so it costs a few dozen steps, not a scan.
 * - A schedule is immutable. It remembers the last interval over which its answer is constant
 *   (per evaluation zone argument), so a limiter that checks it on every call pays two compares
 *   until the answer changes. With no zone argument the system zone is read when that interval
 *   ends, so a change of `TZ` mid-process shows at the next change, not at once.
 * - Bad input throws `INVALID_SCHEDULE` (a bad `at` throws `INVALID_TIMESTAMP`, a bad evaluation
 *   zone `INVALID_TIME_ZONE`). `toJSON()` / `Schedule.fromJSON()` name any non-custom schedule.
 */

import { TallyError } from "../errors.ts";
import { systemTimeZone, TimeZone } from "./calendar.ts";
import {
  checkOptions,
  type DayInput,
  type DayName,
  formatTime,
  invalid,
  maskDays,
  parseDays,
  parseTime,
  zoneOption,
} from "./schedule-input.ts";
import { EVERY_DAY, HORIZON, MON_FRI, makeRule, nextFlip, openAt, type Rule, SAT_SUN } from "./schedule-rule.ts";
import { valueText } from "./value-text.ts";

export type { DayInput, DayName } from "./schedule-input.ts";

export type ScheduleKind =
  | "hours"
  | "hoursLocalTz"
  | "weekdays"
  | "weekdaysLocalTz"
  | "weekends"
  | "weekendsLocalTz"
  | "between"
  | "days"
  | "custom";

/**
 * A JSON-able name for a schedule. `timeZone` null means "the zone of whoever evaluates it"
 * (the store's zone). `Schedule.fromJSON` rebuilds every kind but `custom`.
 */
export interface ScheduleDescription {
  readonly kind: ScheduleKind;
  readonly params: {
    readonly start?: number;
    readonly end?: number;
    readonly from?: string;
    readonly to?: string;
    readonly days?: readonly DayName[];
  };
  readonly timeZone: string | null;
}

export interface BetweenOptions {
  /** IANA zone of the wall clock. @default the evaluating store's zone */
  timeZone?: string;
  /** Days on which the window starts. @default every day */
  days?: readonly DayInput[];
}

export interface DaysOptions {
  /** IANA zone of the wall clock. @default the evaluating store's zone */
  timeZone?: string;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;
const NOT_CACHED = Symbol("not cached");

export class Schedule {
  readonly #rule: Rule | undefined;
  readonly #predicate: ((now: number) => boolean) | undefined;
  readonly #description: ScheduleDescription;
  /** The answer is `#value` on [#from, #until) for the zone argument `#cachedFor`. */
  #cachedFor: unknown = NOT_CACHED;
  #from = Number.POSITIVE_INFINITY;
  #until = Number.NEGATIVE_INFINITY;
  #value = false;
  /** Whether `#until` is a real change (not just the end of the search horizon). */
  #untilIsChange = false;

  private constructor(
    rule: Rule | undefined,
    predicate: ((now: number) => boolean) | undefined,
    description: ScheduleDescription,
  ) {
    this.#rule = rule;
    this.#predicate = predicate;
    this.#description = description;
  }

  /** Whole UTC hours [start:00, end:00); start > end wraps midnight (`hours(22, 6)`). */
  static hours(start: number, end: number): Schedule {
    return Schedule.#hours(start, end, "hours", TimeZone.of("UTC"));
  }

  /** Like `hours`, on the wall clock of the evaluating store's zone. */
  static hoursLocalTz(start: number, end: number): Schedule {
    return Schedule.#hours(start, end, "hoursLocalTz", null);
  }

  /** Monday to Friday, UTC. */
  static weekdays(): Schedule {
    return Schedule.#whole("weekdays", MON_FRI, TimeZone.of("UTC"));
  }

  /** Monday to Friday in the evaluating store's zone. */
  static weekdaysLocalTz(): Schedule {
    return Schedule.#whole("weekdaysLocalTz", MON_FRI, null);
  }

  /** Saturday and Sunday, UTC. */
  static weekends(): Schedule {
    return Schedule.#whole("weekends", SAT_SUN, TimeZone.of("UTC"));
  }

  /** Saturday and Sunday in the evaluating store's zone. */
  static weekendsLocalTz(): Schedule {
    return Schedule.#whole("weekendsLocalTz", SAT_SUN, null);
  }

  /**
   * Wall-clock window ["HH:MM", "HH:MM"); "24:00" is allowed as the end, from > to wraps midnight
   * and the window then belongs to the day it starts on for `days`.
   */
  static between(from: string, to: string, options: BetweenOptions = {}): Schedule {
    checkOptions(options, "between");
    const start = parseTime(from, "from", false);
    const end = parseTime(to, "to", true);
    if (start === end) {
      throw invalid(
        `empty schedule window ${valueText(from)} to ${valueText(to)}: from and to must differ ` +
          `(from > to wraps midnight; use "00:00" to "24:00" for whole days)`,
        { from, to },
      );
    }
    const mask = options.days === undefined ? EVERY_DAY : parseDays(options.days);
    const zone = zoneOption(options.timeZone);
    const params: { from: string; to: string; days?: DayName[] } = { from: formatTime(start), to: formatTime(end) };
    if (options.days !== undefined) params.days = maskDays(mask);
    return new Schedule(makeRule(zone, mask, start, end), undefined, {
      kind: "between",
      params,
      timeZone: zone?.name ?? null,
    });
  }

  /** Whole days (e.g. `["sat", "sun"]`), in `timeZone` or the evaluating store's zone. */
  static days(days: readonly DayInput[], options: DaysOptions = {}): Schedule {
    checkOptions(options, "days");
    const mask = parseDays(days);
    const zone = zoneOption(options.timeZone);
    return new Schedule(makeRule(zone, mask, 0, DAY), undefined, {
      kind: "days",
      params: { days: maskDays(mask) },
      timeZone: zone?.name ?? null,
    });
  }

  /** Any rule: `predicate` gets epoch ms. `nextChange` cannot see into it and returns undefined. */
  static custom(predicate: (now: number) => boolean): Schedule {
    if (typeof predicate !== "function") {
      throw invalid(`invalid custom schedule ${valueText(predicate)}: pass a function (epochMs) => boolean`, {
        value: predicate,
      });
    }
    return new Schedule(undefined, predicate, { kind: "custom", params: {}, timeZone: null });
  }

  /** Rebuilds a schedule from `toJSON()` output (every kind but custom). */
  static fromJSON(description: ScheduleDescription): Schedule {
    if (typeof description !== "object" || description === null) {
      throw invalid(`invalid schedule description ${valueText(description)}: pass the output of schedule.toJSON()`, {
        value: description,
      });
    }
    const { kind, params = {}, timeZone } = description;
    const zone = timeZone === null || timeZone === undefined ? {} : { timeZone };
    const fixed = (expected: string | null, build: () => Schedule): Schedule => {
      if ((timeZone ?? null) !== expected) {
        throw invalid(`schedule kind "${kind}" has time zone ${valueText(expected)}, not ${valueText(timeZone)}`, {
          value: description,
        });
      }
      return build();
    };
    switch (kind) {
      case "hours":
        return fixed("UTC", () => Schedule.hours(params.start as number, params.end as number));
      case "hoursLocalTz":
        return fixed(null, () => Schedule.hoursLocalTz(params.start as number, params.end as number));
      case "weekdays":
        return fixed("UTC", () => Schedule.weekdays());
      case "weekdaysLocalTz":
        return fixed(null, () => Schedule.weekdaysLocalTz());
      case "weekends":
        return fixed("UTC", () => Schedule.weekends());
      case "weekendsLocalTz":
        return fixed(null, () => Schedule.weekendsLocalTz());
      case "between":
        return Schedule.between(
          params.from as string,
          params.to as string,
          params.days === undefined ? zone : { ...zone, days: params.days },
        );
      case "days":
        return Schedule.days(params.days as DayName[], zone);
      case "custom":
        throw invalid("a custom schedule cannot be rebuilt from JSON: its predicate is code; build it again", {
          value: description,
        });
      default:
        throw invalid(
          `unknown schedule kind ${valueText(kind)}: use hours, hoursLocalTz, weekdays, weekdaysLocalTz, ` +
            "weekends, weekendsLocalTz, between or days",
          { value: description },
        );
    }
  }

  get kind(): ScheduleKind {
    return this.#description.kind;
  }

  /** The schedule's own zone, or null when it uses the evaluating store's zone (or is custom). */
  get timeZone(): string | null {
    return this.#description.timeZone;
  }

  /** Whether the schedule is open at `at` (epoch ms); `zone` serves schedules without their own zone. */
  contains(at: number, zone?: string): boolean {
    const predicate = this.#predicate;
    if (predicate !== undefined) return Boolean(predicate(checkInstant(at)));
    if (at >= this.#from && at < this.#until && (this.#cachedFor === zone || this.#rule?.zone !== null)) {
      return this.#value;
    }
    checkInstant(at);
    const rule = this.#rule as Rule;
    const tz = rule.zone ?? evaluationZone(zone);
    const value = openAt(rule, at + tz.offsetAt(at));
    const next = nextFlip(rule, tz, at, value);
    this.#cachedFor = zone;
    this.#from = at;
    this.#until = next ?? at + HORIZON + 1;
    this.#untilIsChange = next !== undefined;
    this.#value = value;
    return value;
  }

  /** The next instant after `at` at which `contains` flips, if within 8 days; undefined for custom schedules. */
  nextChange(at: number, zone?: string): number | undefined {
    const rule = this.#rule;
    checkInstant(at);
    if (rule === undefined) return undefined;
    if (
      this.#untilIsChange &&
      at >= this.#from &&
      at < this.#until &&
      (this.#cachedFor === zone || rule.zone !== null)
    ) {
      return this.#until - at <= HORIZON ? this.#until : undefined;
    }
    const tz = rule.zone ?? evaluationZone(zone);
    return nextFlip(rule, tz, at, openAt(rule, at + tz.offsetAt(at)));
  }

  /** A readable name: "09:00-17:00 UTC", "22:00-06:00 (overnight) starting Fri in Europe/Berlin". */
  describe(): string {
    const { kind, params, timeZone } = this.#description;
    const where = timeZone === null ? "local time" : timeZone === "UTC" ? "UTC" : `in ${timeZone}`;
    const days = params.days?.map((d) => d.charAt(0).toUpperCase() + d.slice(1)).join(", ");
    switch (kind) {
      case "hours":
      case "hoursLocalTz":
      case "between": {
        const rule = this.#rule as Rule;
        const window = `${formatTime(rule.from)}-${formatTime(rule.to)}${rule.from > rule.to ? " (overnight)" : ""}`;
        return days === undefined ? `${window} ${where}` : `${window} starting ${days} ${where}`;
      }
      case "weekdays":
      case "weekdaysLocalTz":
        return `weekdays (Mon-Fri) ${where}`;
      case "weekends":
      case "weekendsLocalTz":
        return `weekends (Sat-Sun) ${where}`;
      case "days":
        return `${days} ${where}`;
      case "custom": {
        const name = (this.#predicate as { name?: string }).name;
        return name ? `custom predicate ${name}` : "custom predicate";
      }
    }
  }

  toString(): string {
    return this.describe();
  }

  toJSON(): ScheduleDescription {
    const { kind, params, timeZone } = this.#description;
    return {
      kind,
      params: params.days === undefined ? { ...params } : { ...params, days: [...params.days] },
      timeZone,
    };
  }

  static #hours(start: number, end: number, kind: "hours" | "hoursLocalTz", zone: TimeZone | null): Schedule {
    const ok = Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= 23 && end >= 1 && end <= 24;
    if (!ok || start === end) {
      throw invalid(
        `invalid ${kind}(${valueText(start)}, ${valueText(end)}): pass whole hours with 0 <= start <= 23, ` +
          "1 <= end <= 24 and start != end (start > end wraps midnight, as in hours(22, 6))",
        { start, end },
      );
    }
    return new Schedule(makeRule(zone, EVERY_DAY, start * HOUR, end * HOUR), undefined, {
      kind,
      params: { start, end },
      timeZone: zone?.name ?? null,
    });
  }

  static #whole(kind: ScheduleKind, mask: number, zone: TimeZone | null): Schedule {
    return new Schedule(makeRule(zone, mask, 0, DAY), undefined, {
      kind,
      params: {},
      timeZone: zone?.name ?? null,
    });
  }
}

function evaluationZone(zone: string | undefined): TimeZone {
  return TimeZone.of(zone === undefined ? systemTimeZone() : zone);
}

function checkInstant(at: number): number {
  if (typeof at === "number" && Number.isFinite(at)) return at;
  throw new TallyError(
    "INVALID_TIMESTAMP",
    `invalid schedule instant ${valueText(at)}: pass epoch milliseconds (a finite number)`,
    { details: { value: at } },
  );
}
