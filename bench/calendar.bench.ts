/**
 * The calendar on the hot path. Every record asks its store's `PeriodCursor` for the current
 * period of each tracked unit; with `now` advancing 1 ms per call that is two compares until a
 * boundary passes. Uncached `periods.ordinal`, `start` and `offsetAt` are measured for contrast,
 * with the zone's hour-block offset cache warm (nearby instants) and cold (every call a new hour,
 * so every call reads `Intl`), next to a bare `Intl.DateTimeFormat#formatToParts` call, which is
 * what every offset lookup cost before the cache. Schedules are checked on the limiter path.
 */

import { periodsFor, TimeZone } from "../src/time/calendar.ts";
import { PeriodCursor } from "../src/time/period-cursor.ts";
import { Schedule } from "../src/time/schedule.ts";
import { type BenchRow, benchmark, opsPerSecond } from "./harness.ts";

const ZONE = "Europe/Berlin";
const BASE = Date.UTC(2024, 2, 30, 20); // a day before the spring-forward change, so it is crossed
const HOUR = 3_600_000;
const MS = 1000;

benchmark(import.meta.url, () => {
  const periods = periodsFor("calendar", ZONE);
  const zone = TimeZone.of(ZONE);
  const rows: BenchRow[] = [];
  const target = 50e6;

  for (const unit of ["days", "hours"] as const) {
    const cursor = new PeriodCursor(periods, unit);
    const value = opsPerSecond((i) => cursor.ordinalAt(BASE + i), { ms: MS });
    rows.push({
      name: `PeriodCursor.ordinalAt(now), ${unit}, ${ZONE}, now += 1 ms per call`,
      value,
      unit: "ops/s",
      target: ">= 50 M ops/s",
      met: value >= target,
      note: "cached path: two compares; boundaries crossed when the run spans them",
    });
  }

  const crossing = new PeriodCursor(periods, "hours");
  rows.push({
    name: "PeriodCursor.ordinalAt(now), hours, now += 1 h per call (every call crosses a boundary, warm)",
    value: opsPerSecond((i) => crossing.ordinalAt(BASE + (i % 2000) * HOUR), { ms: MS }),
    unit: "ops/s",
    note: "one boundary crossing: ordinal + two start() calls, offsets from the block cache",
  });
  const coldCrossing = new PeriodCursor(periods, "hours");
  rows.push({
    name: "PeriodCursor.ordinalAt(now), hours, now += 1 h per call (every call crosses, cold)",
    value: opsPerSecond((i) => coldCrossing.ordinalAt(BASE + i * HOUR), { ms: MS }),
    unit: "ops/s",
    note: "every hour block new to the cache: two Intl reads per crossing",
  });

  rows.push({
    name: `periods.ordinal("days", now), uncached, now += 1 ms per call`,
    value: opsPerSecond((i) => periods.ordinal("days", BASE + i), { ms: MS }),
    unit: "ops/s",
    note: "for contrast: what every record would pay without the cursor (offset block cache warm)",
  });
  rows.push({
    name: `periods.ordinal("hours", now), uncached, now += 1 ms per call`,
    value: opsPerSecond((i) => periods.ordinal("hours", BASE + i), { ms: MS }),
    unit: "ops/s",
  });
  rows.push({
    name: `periods.ordinal("days", t), t a new hour block each call (cold: reads Intl)`,
    value: opsPerSecond((i) => periods.ordinal("days", BASE + (i % 1_000_000) * (HOUR + 7)), { ms: MS }),
    unit: "ops/s",
    note: "the cache holds 4096 hour blocks per zone; this stride never hits it",
  });

  const day0 = periods.ordinal("days", BASE);
  const hour0 = periods.ordinal("hours", BASE);
  const month0 = periods.ordinal("months", BASE);
  rows.push({
    name: `periods.start("days", o), 400 consecutive days`,
    value: opsPerSecond((i) => periods.start("days", day0 + (i % 400)), { ms: MS }),
    unit: "ops/s",
  });
  rows.push({
    name: `periods.start("hours", o), 2000 consecutive hours`,
    value: opsPerSecond((i) => periods.start("hours", hour0 + (i % 2000)), { ms: MS }),
    unit: "ops/s",
  });
  rows.push({
    name: `periods.start("months", o), 120 consecutive months`,
    value: opsPerSecond((i) => periods.start("months", month0 + (i % 120)), { ms: MS }),
    unit: "ops/s",
  });

  rows.push({
    name: `TimeZone.offsetAt(t), ${ZONE}, t += 1 ms (warm block cache)`,
    value: opsPerSecond((i) => zone.offsetAt(BASE + i), { ms: MS }),
    unit: "ops/s",
  });
  rows.push({
    name: `TimeZone.offsetAt(t), ${ZONE}, t += 1 h + 7 ms (cold: two Intl reads per call)`,
    value: opsPerSecond((i) => zone.offsetAt(BASE + (i % 1_000_000) * (HOUR + 7)), { ms: MS }),
    unit: "ops/s",
  });
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: ZONE,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  });
  rows.push({
    name: "Intl.DateTimeFormat#formatToParts(t) (the old per-call offset cost)",
    value: opsPerSecond((i) => format.formatToParts(BASE + i * 1000), { ms: MS }),
    unit: "ops/s",
    note: "contrast only: offsetAt no longer calls this per lookup",
  });

  const business = Schedule.between("09:00", "17:00", { timeZone: ZONE, days: ["mon", "tue", "wed", "thu", "fri"] });
  rows.push({
    name: `Schedule.contains(now), between 09:00-17:00 Mon-Fri in ${ZONE}, now += 1 ms`,
    value: opsPerSecond((i) => business.contains(BASE + i), { ms: MS }),
    unit: "ops/s",
    note: "limiter during()/outsideOf() path: cached interval until the next change",
  });
  rows.push({
    name: "Schedule.nextChange(t), same schedule, t += 1 h + 7 ms over 6 weeks (a fresh search each call)",
    value: opsPerSecond((i) => business.nextChange(BASE + (i % 1000) * (HOUR + 7)), { ms: MS }),
    unit: "ops/s",
    note: "retryAfter of a during() denial; jumps between wall-clock boundaries",
  });
  return rows;
});
