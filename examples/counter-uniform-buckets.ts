/**
 * Cookbook, "Uniform Buckets for Backend Analytics": 30-day periods for statistics.
 *
 * Deviation from the crate: uniform buckets count from fixed epochs (the Unix epoch; weeks from
 * Monday 1970-01-05), not from January 1st of the current year, so they never jump at New Year and
 * two stores always agree. Uniform days are UTC days: the example shows how "today" differs from
 * the calendar day of a user in Los Angeles. Run: npx tsx examples/counter-uniform-buckets.ts
 */

import { EventStore, TestClock } from "../src/index.ts";

const DAY = 86_400_000;

export async function main() {
  const clock = new TestClock("2024-03-15T23:00:00Z"); // 15:00 in Los Angeles
  const uniform = await EventStore.builder()
    .withClock(clock)
    .alignment("uniform")
    .timeZone("America/Los_Angeles")
    .build();
  const calendar = await EventStore.builder().withClock(clock).timeZone("America/Los_Angeles").build();

  // 2 calls a day for 60 days.
  for (let d = 0; d < 60; d++) {
    uniform.recordCountAgo("api_calls", 2, `${d}d`);
    calendar.recordCountAgo("api_calls", 2, `${d}d`);
  }
  // Each uniform month is exactly 30 days long, so consecutive months compare directly.
  const thisPeriod = uniform.query("api_calls").lastMonths(1).sum() ?? 0;
  const lastPeriod = uniform.query("api_calls").months(1, 2).sum() ?? 0;
  const periodStart = Math.floor(clock.now() / (30 * DAY)) * 30 * DAY;

  // "Today": uniform = the UTC day (since 00:00 UTC = 16:00 yesterday in LA); calendar = local day.
  uniform.record("app_launch");
  calendar.record("app_launch");
  clock.advance("2h"); // 17:00 LA, 01:00 UTC the next day
  const uniformToday = uniform.query("app_launch").lastDays(1).sum();
  const calendarToday = calendar.query("app_launch").lastDays(1).sum();
  return {
    thisPeriod,
    lastPeriod,
    periodStart: new Date(periodStart).toISOString(),
    uniformToday,
    calendarToday,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
