import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  boundariesBetween,
  civilFromDays,
  daysFromCivil,
  nextBoundary,
  type Periods,
  periodStart,
  periodsFor,
  TimeZone,
} from "../../src/time/calendar.ts";
import { PeriodCursor } from "../../src/time/period-cursor.ts";
import { NOMINAL_MS, TIME_UNITS, type TimeUnit } from "../../src/time/units.ts";
import {
  DAY,
  daysInMonth,
  FIRST,
  HOUR,
  isMidnight,
  LAST,
  localDate,
  offset,
  TRANSITION_YEARS,
  transitions,
  wallAt,
  ZONES,
} from "./intl-oracle.ts";

const RUNS = 120;
const mod = (a: number, b: number): number => ((a % b) + b) % b;

/** Instants 1970–2100, half of them within two days of an offset transition or a year/leap-day edge. */
function instants(zone: string): fc.Arbitrary<number> {
  const edges = [...transitions(zone, TRANSITION_YEARS)];
  for (const year of [1970, 2000, 2024, 2099, 2100]) {
    for (const month of [0, 1, 2, 11]) edges.push(Date.UTC(year, month, 1));
  }
  const near = fc.constantFrom(...edges.filter((t) => t > FIRST + 2 * DAY && t < LAST - 2 * DAY));
  return fc.oneof(
    fc.integer({ min: FIRST, max: LAST }),
    fc.tuple(near, fc.integer({ min: -2 * DAY, max: 2 * DAY })).map(([t, d]) => t + d),
    fc.tuple(near, fc.integer({ min: -3000, max: 3000 })).map(([t, d]) => t + d),
  );
}

/** Day lengths (hours) each zone can have between 1970 and 2100. */
const DAY_HOURS: Record<(typeof ZONES)[number], number[]> = {
  UTC: [24],
  "Europe/Berlin": [23, 24, 25],
  "America/New_York": [23, 24, 25],
  "Asia/Kolkata": [24],
  "Asia/Kathmandu": [23.75, 24],
  "Australia/Lord_Howe": [23, 23.5, 24, 24.5, 25],
};

/** Checks the period of `unit` containing t against the Intl oracle. */
function checkPeriod(zone: string, periods: Periods, unit: TimeUnit, t: number): void {
  const o = periods.ordinal(unit, t);
  const s = periods.start(unit, o);
  const e = periods.start(unit, o + 1);
  const where = `${unit} at ${new Date(t).toISOString()} in ${zone}`;
  assert.ok(s <= t && t < e, `${where}: [${s}, ${e}) must contain ${t}`);
  assert.equal(periods.ordinal(unit, s), o, `${where}: ordinal(start(o))`);
  assert.ok(periods.ordinal(unit, s - 1) < o, `${where}: ordinal(start(o) - 1) < o`);
  assert.equal(periods.ordinal(unit, e - 1), o, `${where}: last ms of the period`);
  assert.equal(periods.ordinal(unit, e), o + 1, `${where}: next period`);

  const w = wallAt(zone, t);
  const ws = wallAt(zone, s);
  const before = wallAt(zone, s - 1);
  // A period may start off the hour/midnight only where the offset changes at its start.
  const jumped = offset(zone, s) !== offset(zone, s - 1);
  switch (unit) {
    case "seconds":
      assert.equal(o, Math.floor(t / 1000));
      assert.equal(s, o * 1000);
      return;
    case "minutes":
      assert.equal(o, Math.floor(t / 60_000));
      assert.equal(s, o * 60_000);
      return;
    case "hours":
      assert.equal(o, Math.floor((t + mod(offset(zone, t), HOUR)) / HOUR), `${where}: spec formula`);
      assert.ok(jumped || (ws.minute === 0 && ws.second === 0 && ws.ms === 0), `${where}: starts on HH:00`);
      return;
    case "days":
      assert.equal(o, localDate(zone, t), `${where}: local date`);
      assert.equal(localDate(zone, s), o);
      assert.equal(localDate(zone, s - 1), o - 1);
      assert.ok(isMidnight(ws) || jumped, `${where}: starts at midnight or where midnight is skipped`);
      return;
    case "weeks":
      assert.equal(o, Math.floor((localDate(zone, t) - 4) / 7), `${where}: Monday-based week`);
      assert.equal(ws.weekday, 1, `${where}: starts on a Monday`);
      assert.equal(before.weekday, 7, `${where}: previous instant is a Sunday`);
      assert.ok(isMidnight(ws) || jumped);
      return;
    case "months":
      assert.equal(o, (w.year - 1970) * 12 + w.month - 1, `${where}: local month`);
      assert.deepEqual([ws.year, ws.month, ws.day], [w.year, w.month, 1], `${where}: starts on the 1st`);
      assert.equal(before.day, daysInMonth(before.year, before.month), `${where}: previous instant is a month end`);
      assert.ok(isMidnight(ws) || jumped);
      return;
    case "years":
      assert.equal(o, w.year - 1970, `${where}: local year`);
      assert.deepEqual([ws.year, ws.month, ws.day], [w.year, 1, 1], `${where}: starts on January 1st`);
      assert.deepEqual([before.year, before.month, before.day], [w.year - 1, 12, 31]);
      assert.ok(isMidnight(ws) || jumped);
      return;
  }
}

describe("calendar periods against an Intl oracle", () => {
  for (const zone of ZONES) {
    const periods = periodsFor("calendar", zone);

    it(`every unit's period contains its instants and starts where the wall clock says, in ${zone}`, () => {
      fc.assert(
        fc.property(instants(zone), (t) => {
          for (const unit of TIME_UNITS) checkPeriod(zone, periods, unit, t);
        }),
        { numRuns: RUNS },
      );
    });

    it(`walks day by day through local date changes in ${zone}`, () => {
      fc.assert(
        fc.property(instants(zone), fc.integer({ min: 1, max: 40 }), (t, n) => {
          const o = periods.ordinal("days", t);
          let start = periods.start("days", o);
          let date = localDate(zone, start);
          assert.equal(date, o);
          for (let i = 1; i <= n; i++) {
            const next = periods.start("days", o + i);
            assert.equal(localDate(zone, next), date + 1, `day ${o + i} starts on the next local date`);
            assert.equal(localDate(zone, next - 1), date, `day ${o + i} starts at the first instant of its date`);
            const hours = (next - start) / HOUR;
            assert.ok(DAY_HOURS[zone].includes(hours), `${zone} day ${date} lasts ${hours} h`);
            start = next;
            date += 1;
          }
        }),
        { numRuns: RUNS / 2 },
      );
    });

    it(`walks month by month with 28-31 day months in ${zone}`, () => {
      fc.assert(
        fc.property(instants(zone), fc.integer({ min: 1, max: 26 }), (t, n) => {
          const o = periods.ordinal("months", t);
          for (let i = 0; i < n; i++) {
            const start = periods.start("months", o + i);
            const end = periods.start("months", o + i + 1);
            const w = wallAt(zone, start);
            assert.equal(w.day, 1);
            const days = localDate(zone, end) - localDate(zone, start);
            assert.equal(days, daysInMonth(w.year, w.month), `${w.year}-${w.month} in ${zone}`);
          }
        }),
        { numRuns: RUNS / 4 },
      );
    });

    it(`knows leap years: 2000 and 2024 are, 2023 and 2100 are not, in ${zone}`, () => {
      const feb = (year: number) => (year - 1970) * 12 + 1;
      const days = (unit: TimeUnit, o: number) =>
        localDate(zone, periods.start(unit, o + 1)) - localDate(zone, periods.start(unit, o));
      assert.equal(days("months", feb(2000)), 29);
      assert.equal(days("months", feb(2024)), 29);
      assert.equal(days("months", feb(2023)), 28);
      assert.equal(days("months", feb(2100)), 28);
      assert.equal(days("years", 2000 - 1970), 366);
      assert.equal(days("years", 2100 - 1970), 365);
    });

    it(`offsetAt, local and nextTransition agree with the oracle in ${zone}`, () => {
      const tz = TimeZone.of(zone);
      fc.assert(
        fc.property(instants(zone), (t) => {
          const w = wallAt(zone, t);
          assert.equal(tz.offsetAt(t), offset(zone, t));
          const local = tz.local(t);
          assert.deepEqual(
            [local.year, local.month, local.day, local.hour, local.minute, local.second, local.weekday],
            [w.year, w.month, w.day, w.hour, w.minute, w.second, w.weekday],
          );
          assert.equal(local.dayNumber, localDate(zone, t));
          assert.equal(local.msOfDay, ((w.hour * 60 + w.minute) * 60 + w.second) * 1000 + w.ms);
          assert.equal(tz.localDay(t), local.dayNumber);
        }),
        { numRuns: RUNS },
      );
      const known = transitions(zone, TRANSITION_YEARS);
      const spans = TRANSITION_YEARS.map((year) => [Date.UTC(year, 0, 1), Date.UTC(year + 1, 0, 1)] as const);
      fc.assert(
        fc.property(
          fc.constantFrom(...spans),
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.integer({ min: 0, max: 200 * DAY }),
          ([first, end], at, span) => {
            const from = Math.floor(first + at * (end - first));
            const to = Math.min(from + span, end - 1);
            const expected = known.find((x) => x > from && x <= to);
            assert.equal(tz.nextTransition(from, to), expected);
          },
        ),
        { numRuns: RUNS },
      );
      for (const x of known) {
        assert.equal(tz.nextTransition(x - 1, x), x, "a transition is the first ms with the new offset");
        assert.equal(tz.nextTransition(x, x + 10 * DAY), undefined);
      }
    });
  }

  it("skips midnight where the zone does: Lord Howe 1981-03-01 starts at 00:30, Kathmandu 1986 at 00:15", () => {
    const howe = periodsFor("calendar", "Australia/Lord_Howe");
    const march1 = Date.UTC(1981, 2, 1) / DAY;
    const start = howe.start("days", march1);
    assert.equal(start, Date.UTC(1981, 1, 28, 14));
    assert.deepEqual([wallAt("Australia/Lord_Howe", start).hour, wallAt("Australia/Lord_Howe", start).minute], [0, 30]);
    const kathmandu = periodsFor("calendar", "Asia/Kathmandu");
    const year = kathmandu.start("years", 1986 - 1970);
    assert.equal(year, Date.UTC(1985, 11, 31, 18, 30));
    assert.equal(wallAt("Asia/Kathmandu", year).minute, 15);
  });

  it("gives half-hour zones hour boundaries at UTC :30 and Kathmandu at :15", () => {
    const kolkata = periodsFor("calendar", "Asia/Kolkata");
    const o = kolkata.ordinal("hours", Date.UTC(2024, 5, 1, 12, 0));
    assert.equal(kolkata.start("hours", o), Date.UTC(2024, 5, 1, 11, 30));
    const kathmandu = periodsFor("calendar", "Asia/Kathmandu");
    assert.equal(periodStart(kathmandu, "hours", Date.UTC(2024, 5, 1, 12, 0)), Date.UTC(2024, 5, 1, 11, 15));
  });

  it("splits a repeated fall-back hour into two periods (Berlin 2024-10-27)", () => {
    const berlin = periodsFor("calendar", "Europe/Berlin");
    const first = berlin.ordinal("hours", Date.UTC(2024, 9, 27, 0, 30)); // 02:30 CEST
    const second = berlin.ordinal("hours", Date.UTC(2024, 9, 27, 1, 30)); // 02:30 CET
    assert.equal(second, first + 1);
    const day = berlin.ordinal("days", Date.UTC(2024, 9, 27, 12));
    assert.equal(berlin.start("days", day + 1) - berlin.start("days", day), 25 * HOUR);
  });
});

describe("periodStart, nextBoundary, boundariesBetween", () => {
  const zones = fc.constantFrom(...ZONES);
  const units = fc.constantFrom(...TIME_UNITS);

  it("match the ordinals and a walk over the boundaries", () => {
    fc.assert(
      fc.property(
        zones,
        units,
        fc.integer({ min: FIRST, max: LAST }),
        fc.integer({ min: -30, max: 30 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (zone, unit, t, periodsAway, fraction) => {
          const periods = periodsFor("calendar", zone);
          const o = periods.ordinal(unit, t);
          assert.equal(periodStart(periods, unit, t), periods.start(unit, o));
          const next = nextBoundary(periods, unit, t);
          assert.ok(next > t);
          assert.equal(periods.ordinal(unit, next), o + 1);
          assert.equal(periods.ordinal(unit, next - 1), o);

          const other = Math.floor(t + (periodsAway + fraction) * NOMINAL_MS[unit]);
          const [low, high] = other >= t ? [t, other] : [other, t];
          let walked = 0;
          for (let b = nextBoundary(periods, unit, low); b <= high; b = nextBoundary(periods, unit, b)) walked++;
          assert.equal(boundariesBetween(periods, unit, low, high), walked);
          assert.equal(boundariesBetween(periods, unit, high, low), 0 - walked);
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });
});

describe("uniform periods", () => {
  const uniform = periodsFor("uniform", "Europe/Berlin");

  it("ignore the zone and count fixed-length periods from fixed epochs", () => {
    assert.equal(uniform.timeZone, "UTC");
    assert.equal(uniform.alignment, "uniform");
    fc.assert(
      fc.property(
        fc.constantFrom(...TIME_UNITS),
        fc.integer({ min: -FIRST - LAST, max: LAST }),
        fc.constantFrom(...ZONES),
        (unit, t, zone) => {
          const o = uniform.ordinal(unit, t);
          const s = uniform.start(unit, o);
          assert.ok(s <= t && t < s + NOMINAL_MS[unit]);
          assert.equal(uniform.start(unit, o + 1) - s, NOMINAL_MS[unit]);
          assert.equal(periodsFor("uniform", zone).ordinal(unit, t), o);
          if (unit === "weeks") {
            const start = new Date(s);
            assert.equal(start.getUTCDay(), 1, "uniform weeks start on Monday");
            assert.equal(start.getUTCHours(), 0);
          }
          if (unit === "days") assert.equal(new Date(s).getUTCHours(), 0, "uniform days are UTC days");
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });

  it("anchors weeks on Monday 1970-01-05 and months/years on the Unix epoch, never on the current year", () => {
    assert.equal(uniform.start("weeks", 0), Date.UTC(1970, 0, 5));
    assert.equal(uniform.ordinal("weeks", Date.UTC(1970, 0, 4, 23, 59)), -1);
    assert.equal(uniform.start("months", 1), 30 * DAY);
    assert.equal(uniform.start("years", 2), Date.UTC(1972, 0, 1));
    assert.equal(uniform.start("years", 3), Date.UTC(1972, 11, 31), "365-day years drift from the calendar");
    assert.equal(uniform.ordinal("days", -1), -1);
  });
});

describe("PeriodCursor", () => {
  const unitAndZone = fc.tuple(fc.constantFrom(...TIME_UNITS), fc.constantFrom(...ZONES));

  it("matches periods.ordinal for monotone sequences", () => {
    fc.assert(
      fc.property(
        unitAndZone,
        fc.integer({ min: FIRST, max: LAST - 400 * DAY }),
        fc.array(fc.tuple(fc.nat(3), fc.double({ min: 0, max: 1, noNaN: true })), { maxLength: 60 }),
        ([unit, zone], start, steps) => {
          const periods = periodsFor("calendar", zone);
          const cursor = new PeriodCursor(periods, unit);
          let t = start;
          for (const [scale, fraction] of steps) {
            t += Math.floor(fraction * NOMINAL_MS[unit] * [0.001, 0.5, 1.5, 3][scale]!);
            const o = cursor.ordinalAt(t);
            assert.equal(o, periods.ordinal(unit, t));
            assert.equal(cursor.periodStart, periods.start(unit, o));
            assert.equal(cursor.nextBoundary, periods.start(unit, o + 1));
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("matches periods.ordinal when time jumps backwards and around", () => {
    fc.assert(
      fc.property(
        unitAndZone,
        fc.integer({ min: FIRST + 100 * DAY, max: LAST - 100 * DAY }),
        fc.array(fc.integer({ min: -100 * DAY, max: 100 * DAY }), { maxLength: 40 }),
        fc.constantFrom(...(["calendar", "uniform"] as const)),
        ([unit, zone], base, moves, alignment) => {
          const periods = periodsFor(alignment, zone);
          const cursor = new PeriodCursor(periods, unit);
          for (const move of moves) {
            const t = base + Math.floor(move / (unit === "seconds" || unit === "minutes" ? 5000 : 1));
            assert.equal(cursor.ordinalAt(t), periods.ordinal(unit, t));
            assert.equal(cursor.ordinalAt(t - 1), periods.ordinal(unit, t - 1));
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("keeps one period cached until time leaves it", () => {
    const periods = periodsFor("calendar", "Europe/Berlin");
    const cursor = new PeriodCursor(periods, "days");
    const t = Date.UTC(2024, 2, 30, 12);
    const o = cursor.ordinalAt(t);
    assert.equal(cursor.periodStart, Date.UTC(2024, 2, 29, 23));
    assert.equal(cursor.nextBoundary, Date.UTC(2024, 2, 30, 23));
    assert.equal(cursor.ordinalAt(cursor.nextBoundary - 1), o);
    assert.equal(cursor.ordinalAt(cursor.nextBoundary), o + 1);
    assert.equal(cursor.nextBoundary - cursor.periodStart, 23 * HOUR, "the spring-forward day is 23 h");
    assert.equal(cursor.ordinalAt(t), o, "and back");
  });
});

describe("civil date conversion", () => {
  it("daysFromCivil and civilFromDays agree with Date.UTC over ±2700 years", () => {
    fc.assert(
      fc.property(fc.integer({ min: -1_000_000, max: 1_000_000 }), (dayNumber) => {
        const date = new Date(dayNumber * DAY);
        const civil = civilFromDays(dayNumber);
        assert.deepEqual(civil, [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()]);
        assert.equal(daysFromCivil(...civil), dayNumber);
      }),
      { numRuns: RUNS * 4 },
    );
  });
});
