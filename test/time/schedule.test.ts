import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isTallyError } from "../../src/errors.ts";
import { systemTimeZone } from "../../src/time/calendar.ts";
import { type DayName, Schedule, type ScheduleDescription } from "../../src/time/schedule.ts";
import { valueText } from "../../src/time/value-text.ts";
import { DAY, FIRST, HOUR, LAST, MINUTE, TRANSITION_YEARS, transitions, wallAt, ZONES } from "./intl-oracle.ts";

const invalidSchedule = (e: unknown) => isTallyError(e) && e.code === "INVALID_SCHEDULE";
const utc = (iso: string) => Date.parse(`${iso}Z`);

/** Asserts contains() just before and at each instant: [before, at] = [!open, open] or the reverse. */
function assertFlip(s: Schedule, at: number, opens: boolean, zone?: string): void {
  assert.equal(s.contains(at - 1, zone), !opens, `${s} just before ${new Date(at).toISOString()}`);
  assert.equal(s.contains(at, zone), opens, `${s} at ${new Date(at).toISOString()}`);
}

describe("Schedule construction", () => {
  it("rejects bad hours with INVALID_SCHEDULE, saying what is accepted", () => {
    const bad: Array<[unknown, unknown]> = [
      [-1, 5],
      [24, 5],
      [5, 25],
      [5, 0],
      [5, 5],
      [0, 0],
      [1.5, 3],
      [Number.NaN, 3],
      [3, Number.POSITIVE_INFINITY],
      ["9", 17],
      [9, undefined],
      [null, 17],
    ];
    for (const [start, end] of bad) {
      for (const build of [Schedule.hours, Schedule.hoursLocalTz]) {
        assert.throws(
          () => build(start as number, end as number),
          invalidSchedule,
          `${valueText(start)}, ${valueText(end)}`,
        );
      }
    }
    assert.throws(
      () => Schedule.hours(9, 9),
      (e) =>
        invalidSchedule(e) &&
        (e as Error).message.includes("0 <= start <= 23") &&
        (e as Error).message.includes("hours(22, 6)"),
    );
  });

  it("rejects bad times, equal ends and 24:00 as a start", () => {
    const bad: Array<[unknown, unknown]> = [
      ["24:00", "06:00"],
      ["25:00", "06:00"],
      ["12:60", "13:00"],
      ["9", "17:00"],
      ["09:5", "17:00"],
      ["0900", "1700"],
      ["", "17:00"],
      ["09:00", "24:01"],
      ["09:00", "-1:00"],
      [" 09:00", "17:00"],
      [900, "17:00"],
      [null, "17:00"],
      ["09:00", undefined],
      ["09:00", "09:00"],
      ["9:00", "09:00"],
      ["00:00", "00:00"],
      ["24:00", "24:00"],
    ];
    for (const [from, to] of bad) {
      assert.throws(
        () => Schedule.between(from as string, to as string),
        invalidSchedule,
        `${valueText(from)}-${valueText(to)}`,
      );
    }
    assert.throws(
      () => Schedule.between("09:00", "25:00"),
      (e) => invalidSchedule(e) && (e as Error).message.includes('"25:00"') && (e as Error).message.includes("HH:MM"),
    );
    assert.throws(
      () => Schedule.between("10:00", "10:00"),
      (e) => invalidSchedule(e) && (e as Error).message.includes("must differ"),
    );
  });

  it("rejects bad day lists, day names, zones and options", () => {
    const badDays: unknown[] = [[], ["funday"], ["mo"], "mon", [1], [null], null, ["mon", "x"], [""], { 0: "mon" }];
    for (const days of badDays) {
      assert.throws(() => Schedule.days(days as DayName[]), invalidSchedule, valueText(days));
      assert.throws(() => Schedule.between("09:00", "17:00", { days: days as DayName[] }), invalidSchedule);
    }
    assert.throws(
      () => Schedule.days(["funday" as DayName]),
      (e) => invalidSchedule(e) && (e as Error).message.includes('"funday"') && (e as Error).message.includes('"mon"'),
    );
    assert.throws(
      () => Schedule.days([]),
      (e) => invalidSchedule(e) && (e as Error).message.includes("non-empty"),
    );
    for (const timeZone of ["Mars/Base", "", "Europe/Berlinn", 5, null]) {
      assert.throws(
        () => Schedule.between("09:00", "17:00", { timeZone: timeZone as string }),
        (e) => invalidSchedule(e) && (e as Error).message.includes("IANA"),
      );
      assert.throws(() => Schedule.days(["mon"], { timeZone: timeZone as string }), invalidSchedule);
    }
    for (const options of [null, "UTC", 5, []]) {
      assert.throws(() => Schedule.between("09:00", "17:00", options as never), invalidSchedule);
      assert.throws(() => Schedule.days(["mon"], options as never), invalidSchedule);
    }
    for (const predicate of [undefined, null, 5, "x", {}]) {
      assert.throws(() => Schedule.custom(predicate as never), invalidSchedule);
    }
  });

  it("accepts day names in any case, short or full, and names them canonically", () => {
    const s = Schedule.days(["Sat", "SUNDAY", "sat", "Friday"]);
    assert.deepEqual(s.toJSON().params.days, ["fri", "sat", "sun"]);
    assert.equal(s.describe(), "Fri, Sat, Sun local time");
  });

  it("rejects bad instants and evaluation zones when used", () => {
    const local = Schedule.hoursLocalTz(9, 17);
    for (const at of [Number.NaN, Number.POSITIVE_INFINITY, "5", undefined, null]) {
      for (const s of [local, Schedule.hours(9, 17), Schedule.custom(() => true)]) {
        assert.throws(
          () => s.contains(at as number),
          (e) => isTallyError(e) && e.code === "INVALID_TIMESTAMP",
        );
        assert.throws(
          () => s.nextChange(at as number),
          (e) => isTallyError(e) && e.code === "INVALID_TIMESTAMP",
        );
      }
    }
    assert.throws(
      () => local.contains(0, "Mars/Base"),
      (e) => isTallyError(e) && e.code === "INVALID_TIME_ZONE",
    );
    assert.equal(Schedule.hours(9, 17).contains(utc("2024-01-01T10:00"), "ignored for UTC schedules"), true);
  });
});

describe("Schedule.hours and friends (UTC)", () => {
  it("opens at start:00 and closes at end:00, exactly", () => {
    const s = Schedule.hours(9, 17);
    assertFlip(s, utc("2024-01-03T09:00"), true);
    assertFlip(s, utc("2024-01-03T17:00"), false);
    assert.equal(s.nextChange(utc("2024-01-03T08:00")), utc("2024-01-03T09:00"));
    assert.equal(s.nextChange(utc("2024-01-03T09:00") - 1), utc("2024-01-03T09:00"));
    assert.equal(s.nextChange(utc("2024-01-03T09:00")), utc("2024-01-03T17:00"));
    assert.equal(s.nextChange(utc("2024-01-03T17:00")), utc("2024-01-04T09:00"));
  });

  it("wraps midnight when start > end, and runs until midnight with end 24", () => {
    const night = Schedule.hours(22, 6);
    assertFlip(night, utc("2024-01-03T22:00"), true);
    assertFlip(night, utc("2024-01-04T06:00"), false);
    assert.equal(night.contains(utc("2024-01-04T00:00")), true);
    assert.equal(night.nextChange(utc("2024-01-03T23:00")), utc("2024-01-04T06:00"));
    const evening = Schedule.hours(17, 24);
    assertFlip(evening, utc("2024-01-03T17:00"), true);
    assertFlip(evening, utc("2024-01-04T00:00"), false);
    assert.equal(Schedule.hours(0, 24).nextChange(0), undefined, "always open never changes");
    assert.equal(Schedule.hours(0, 24).contains(utc("2024-01-03T12:34")), true);
  });

  it("weekdays are Monday to Friday UTC, weekends the rest", () => {
    const weekdays = Schedule.weekdays();
    const weekends = Schedule.weekends();
    assertFlip(weekdays, utc("2024-01-06T00:00"), false); // Saturday
    assertFlip(weekdays, utc("2024-01-08T00:00"), true); // Monday
    assert.equal(weekdays.nextChange(utc("2024-01-06T12:00")), utc("2024-01-08T00:00"));
    assert.equal(weekends.nextChange(utc("2024-01-03T12:00")), utc("2024-01-06T00:00"));
    fc.assert(
      fc.property(fc.integer({ min: FIRST, max: LAST }), (t) => {
        assert.equal(weekends.contains(t), !weekdays.contains(t));
        assert.equal(weekdays.contains(t), [1, 2, 3, 4, 5].includes(new Date(t).getUTCDay()));
      }),
    );
  });

  it("LocalTz variants follow the zone they are evaluated in (default: the system zone)", () => {
    const hours = Schedule.hoursLocalTz(9, 17);
    assertFlip(hours, utc("2024-01-03T08:00"), true, "Europe/Berlin");
    assertFlip(hours, utc("2024-07-03T07:00"), true, "Europe/Berlin");
    assertFlip(hours, utc("2024-01-03T14:00"), true, "America/New_York");
    assertFlip(hours, utc("2024-01-03T03:30"), true, "Asia/Kolkata");
    const weekdays = Schedule.weekdaysLocalTz();
    assertFlip(weekdays, utc("2024-01-06T05:00"), false, "America/New_York");
    assert.equal(
      Schedule.weekendsLocalTz().nextChange(utc("2024-01-03T12:00"), "Asia/Kathmandu"),
      utc("2024-01-05T18:15"),
    );
    const zone = systemTimeZone();
    for (const t of [utc("2024-01-03T08:59"), utc("2024-01-03T12:00"), utc("2024-01-06T12:00")]) {
      assert.equal(hours.contains(t), hours.contains(t, zone));
      assert.equal(hours.nextChange(t), hours.nextChange(t, zone));
    }
  });
});

describe("Schedule.between and Schedule.days", () => {
  it("lets a DST gap never match and a repeated hour match twice (Europe/Berlin)", () => {
    const zone = { timeZone: "Europe/Berlin" };
    const gap = Schedule.between("02:00", "03:00", zone);
    // 2024-03-31: 02:00 CET jumps to 03:00 CEST at 01:00Z, so 02:xx never happens that day.
    assert.equal(gap.contains(utc("2024-03-31T01:00") - 1), false);
    assert.equal(gap.contains(utc("2024-03-31T01:00")), false);
    assert.equal(gap.nextChange(utc("2024-03-30T12:00")), utc("2024-04-01T00:00"));
    // 2024-10-27: 03:00 CEST falls back to 02:00 CET at 01:00Z: 02:00-03:00 lasts two hours.
    assert.equal(gap.nextChange(utc("2024-10-26T12:00")), utc("2024-10-27T00:00"));
    assert.equal(gap.nextChange(utc("2024-10-27T00:00")), utc("2024-10-27T02:00"));
    assert.equal(gap.contains(utc("2024-10-27T01:30")), true);
    // A window that starts inside the gap opens at the jump itself.
    const late = Schedule.between("02:30", "04:00", zone);
    assert.equal(late.nextChange(utc("2024-03-30T12:00")), utc("2024-03-31T01:00"));
    assertFlip(late, utc("2024-03-31T01:00"), true);
    // A whole local day is 23 h in spring.
    const sunday = Schedule.days(["sun"], zone);
    assert.equal(sunday.nextChange(utc("2024-03-30T12:00")), utc("2024-03-30T23:00"));
    assert.equal(sunday.nextChange(utc("2024-03-30T23:00")), utc("2024-03-31T22:00"));
  });

  it("does the same in America/New_York", () => {
    const zone = { timeZone: "America/New_York" };
    const gap = Schedule.between("02:00", "03:00", zone);
    assert.equal(gap.nextChange(utc("2024-03-10T05:00")), utc("2024-03-11T06:00"), "2024-03-10 has no 02:xx");
    const repeated = Schedule.between("01:00", "02:00", zone);
    assert.equal(repeated.nextChange(utc("2024-11-03T04:00")), utc("2024-11-03T05:00"));
    assert.equal(repeated.nextChange(utc("2024-11-03T05:00")), utc("2024-11-03T07:00"), "01:xx happens twice");
    const saturday = Schedule.days(["saturday"], zone);
    assert.equal(saturday.nextChange(utc("2024-11-02T12:00")), utc("2024-11-03T04:00"));
  });

  it('allows "24:00" as the end', () => {
    const s = Schedule.between("22:00", "24:00", { timeZone: "UTC" });
    assertFlip(s, utc("2024-01-03T22:00"), true);
    assertFlip(s, utc("2024-01-04T00:00"), false);
    assert.equal(Schedule.between("00:00", "24:00").nextChange(0, "Europe/Berlin"), undefined);
  });

  it("counts an overnight window to the day it starts on", () => {
    const friday = Schedule.between("22:00", "02:00", { timeZone: "UTC", days: ["fri"] });
    assert.equal(friday.contains(utc("2024-01-05T23:00")), true, "Friday 23:00");
    assert.equal(friday.contains(utc("2024-01-06T01:59")), true, "Saturday 01:59, still Friday's window");
    assert.equal(friday.contains(utc("2024-01-06T23:00")), false, "Saturday's window is not selected");
    assert.equal(friday.contains(utc("2024-01-05T01:00")), false, "Friday 01:00 belongs to Thursday's window");
    assert.equal(friday.nextChange(utc("2024-01-01T00:00")), utc("2024-01-05T22:00"));
    assert.equal(friday.nextChange(utc("2024-01-05T22:00")), utc("2024-01-06T02:00"));
    assert.equal(friday.nextChange(utc("2024-01-06T02:00")), utc("2024-01-12T22:00"));
    assert.equal(friday.describe(), "22:00-02:00 (overnight) starting Fri UTC");
  });

  it("never looks more than 8 days ahead", () => {
    const monday = Schedule.days(["mon"], { timeZone: "UTC" });
    assert.equal(monday.nextChange(utc("2024-01-02T00:00")), utc("2024-01-08T00:00"));
    assert.equal(Schedule.days(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]).nextChange(0, "UTC"), undefined);
  });
});

describe("Schedule.custom", () => {
  it("passes epoch ms to the predicate and cannot predict changes", () => {
    const seen: number[] = [];
    const s = Schedule.custom(function evenSeconds(now) {
      seen.push(now);
      return Math.floor(now / 1000) % 2 === 0;
    });
    assert.equal(s.contains(2500), true);
    assert.equal(s.contains(3500), false);
    assert.deepEqual(seen, [2500, 3500]);
    assert.equal(s.nextChange(2500), undefined);
    assert.equal(s.describe(), "custom predicate evenSeconds");
    assert.deepEqual(s.toJSON(), { kind: "custom", params: {}, timeZone: null });
    assert.throws(() => Schedule.fromJSON(s.toJSON()), invalidSchedule);
  });
});

describe("Schedule descriptions", () => {
  it("read well and round-trip through JSON", () => {
    const cases: Array<[Schedule, string]> = [
      [Schedule.hours(9, 17), "09:00-17:00 UTC"],
      [Schedule.hours(22, 6), "22:00-06:00 (overnight) UTC"],
      [Schedule.hoursLocalTz(9, 17), "09:00-17:00 local time"],
      [Schedule.weekdays(), "weekdays (Mon-Fri) UTC"],
      [Schedule.weekdaysLocalTz(), "weekdays (Mon-Fri) local time"],
      [Schedule.weekends(), "weekends (Sat-Sun) UTC"],
      [Schedule.weekendsLocalTz(), "weekends (Sat-Sun) local time"],
      [Schedule.between("08:30", "24:00", { timeZone: "Europe/Berlin" }), "08:30-24:00 in Europe/Berlin"],
      [Schedule.between("9:05", "17:00", { days: ["mon", "Tuesday"] }), "09:05-17:00 starting Mon, Tue local time"],
      [Schedule.days(["sun"], { timeZone: "Asia/Kolkata" }), "Sun in Asia/Kolkata"],
    ];
    for (const [schedule, text] of cases) {
      assert.equal(schedule.describe(), text);
      assert.equal(String(schedule), text);
      const json = JSON.parse(JSON.stringify(schedule)) as ScheduleDescription;
      assert.deepEqual(json, schedule.toJSON());
      const copy = Schedule.fromJSON(json);
      assert.deepEqual(copy.toJSON(), schedule.toJSON());
      assert.equal(copy.kind, schedule.kind);
      assert.equal(copy.timeZone, schedule.timeZone);
      for (let t = utc("2024-03-29T00:00"); t < utc("2024-04-02T00:00"); t += 37 * MINUTE) {
        assert.equal(copy.contains(t, "America/New_York"), schedule.contains(t, "America/New_York"));
      }
    }
    assert.deepEqual(Schedule.hours(22, 6).toJSON(), { kind: "hours", params: { start: 22, end: 6 }, timeZone: "UTC" });
    assert.deepEqual(Schedule.between("22:00", "6:00", { days: ["fri"], timeZone: "UTC" }).toJSON(), {
      kind: "between",
      params: { from: "22:00", to: "06:00", days: ["fri"] },
      timeZone: "UTC",
    });
  });

  it("rejects descriptions it cannot rebuild", () => {
    const bad: unknown[] = [
      null,
      "hours",
      { kind: "sometimes", params: {}, timeZone: null },
      { kind: "hours", params: { start: 9 }, timeZone: "UTC" },
      { kind: "hours", params: { start: 9, end: 17 }, timeZone: "Europe/Berlin" },
      { kind: "weekdaysLocalTz", params: {}, timeZone: "UTC" },
      { kind: "between", params: { from: "09:00", to: "09:00" }, timeZone: null },
      { kind: "days", params: { days: [] }, timeZone: null },
      { kind: "days", params: { days: ["mon"] }, timeZone: "Mars/Base" },
    ];
    for (const value of bad) assert.throws(() => Schedule.fromJSON(value as ScheduleDescription), invalidSchedule);
  });
});

// ---------------------------------------------------------------------------------------------
// Property tests against an Intl oracle: contains() and the exactness of nextChange().

interface OracleRule {
  zone: string;
  /** Minutes of the wall-clock day. */
  from: number;
  to: number;
  /** ISO weekdays 1..7. */
  days: number[];
}

function oracleContains(rule: OracleRule, t: number): boolean {
  const w = wallAt(rule.zone, t);
  const ms = ((w.hour * 60 + w.minute) * 60 + w.second) * 1000 + w.ms;
  const from = rule.from * MINUTE;
  const to = rule.to * MINUTE;
  const previous = w.weekday === 1 ? 7 : w.weekday - 1;
  if (from < to) return ms >= from && ms < to && rule.days.includes(w.weekday);
  return (ms >= from && rule.days.includes(w.weekday)) || (ms < to && rule.days.includes(previous));
}

const DAY_NAMES: DayName[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const hhmm = (minutes: number) => `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, "0")}`;

/** [schedule, zone to evaluate in, the same rule for the oracle]. */
const schedules: fc.Arbitrary<[Schedule, string, OracleRule]> = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 1, max: 24 }), fc.boolean(), fc.constantFrom(...ZONES))
    .filter(([s, e]) => s !== e)
    .map(([s, e, local, zone]): [Schedule, string, OracleRule] => [
      local ? Schedule.hoursLocalTz(s, e) : Schedule.hours(s, e),
      zone,
      { zone: local ? zone : "UTC", from: s * 60, to: e * 60, days: [1, 2, 3, 4, 5, 6, 7] },
    ]),
  fc
    .tuple(
      fc.integer({ min: 0, max: 1439 }),
      fc.integer({ min: 1, max: 1440 }),
      fc.option(fc.uniqueArray(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 7 })),
      fc.constantFrom(...ZONES),
      fc.boolean(),
    )
    .filter(([from, to]) => from !== to)
    .map(([from, to, days, zone, own]): [Schedule, string, OracleRule] => {
      const options: { timeZone?: string; days?: DayName[] } = own ? { timeZone: zone } : {};
      if (days !== null) options.days = days.map((d) => DAY_NAMES[d - 1] as DayName);
      return [
        Schedule.between(hhmm(from), hhmm(to), options),
        own ? "UTC" : zone,
        { zone, from, to, days: days ?? [1, 2, 3, 4, 5, 6, 7] },
      ];
    }),
  fc
    .tuple(fc.uniqueArray(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 7 }), fc.constantFrom(...ZONES))
    .map(([days, zone]): [Schedule, string, OracleRule] => [
      Schedule.days(days.map((d) => DAY_NAMES[d - 1] as DayName)),
      zone,
      { zone, from: 0, to: 1440, days },
    ]),
  fc
    .tuple(fc.constantFrom("weekdays", "weekends"), fc.boolean(), fc.constantFrom(...ZONES))
    .map(([kind, local, zone]): [Schedule, string, OracleRule] => {
      const days = kind === "weekdays" ? [1, 2, 3, 4, 5] : [6, 7];
      const schedule =
        kind === "weekdays"
          ? local
            ? Schedule.weekdaysLocalTz()
            : Schedule.weekdays()
          : local
            ? Schedule.weekendsLocalTz()
            : Schedule.weekends();
      return [schedule, zone, { zone: local ? zone : "UTC", from: 0, to: 1440, days }];
    }),
);

/** Instants 1970-2100, often within a few days of a DST or offset change of one of the zones. */
const nearChanges = ZONES.flatMap((zone) => transitions(zone, TRANSITION_YEARS));
const instants = fc.oneof(
  fc.integer({ min: FIRST, max: LAST - 9 * DAY }),
  fc.tuple(fc.constantFrom(...nearChanges), fc.integer({ min: -4 * DAY, max: DAY })).map(([t, d]) => t + d),
);

describe("Schedule against an Intl oracle", () => {
  it("contains() agrees at random instants, zones and evaluation orders", () => {
    fc.assert(
      fc.property(schedules, fc.array(instants, { minLength: 1, maxLength: 8 }), ([schedule, zone, rule], ts) => {
        for (const t of ts) {
          assert.equal(
            schedule.contains(t, zone),
            oracleContains(rule, t),
            `${schedule} at ${new Date(t).toISOString()}`,
          );
          // Nearby instants go through the cached interval.
          for (const d of [1, 59_999, HOUR]) assert.equal(schedule.contains(t + d, zone), oracleContains(rule, t + d));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("re-judges a local schedule when the evaluation zone changes", () => {
    const s = Schedule.hoursLocalTz(9, 17);
    const t = utc("2024-01-03T08:30");
    assert.equal(s.contains(t, "Europe/Berlin"), true);
    assert.equal(s.contains(t, "UTC"), false);
    assert.equal(s.contains(t, "Europe/Berlin"), true);
    assert.equal(s.nextChange(t, "UTC"), utc("2024-01-03T09:00"));
    assert.equal(s.nextChange(t, "Europe/Berlin"), utc("2024-01-03T16:00"));
  });

  it("nextChange() is the exact first flip: no flip at any whole minute before it", () => {
    fc.assert(
      fc.property(schedules, instants, ([schedule, zone, rule], at) => {
        const before = oracleContains(rule, at);
        const next = schedule.nextChange(at, zone);
        const end = next ?? at + 8 * DAY;
        if (next !== undefined) {
          assert.ok(next > at && next - at <= 8 * DAY, `${schedule}: ${next - at} ms ahead`);
          assert.equal(oracleContains(rule, next), !before, `${schedule} flips at ${new Date(next).toISOString()}`);
          assert.equal(oracleContains(rule, next - 1), before, `${schedule} has not flipped 1 ms earlier`);
        }
        // Every boundary and offset change of these zones falls on a whole minute.
        for (let m = Math.floor(at / MINUTE + 1) * MINUTE; m < end; m += MINUTE) {
          if (oracleContains(rule, m) !== before)
            assert.fail(`${schedule} flipped at ${new Date(m).toISOString()}, before ${next}`);
        }
      }),
      { numRuns: 40 },
    );
  });
});
