/**
 * Cookbook, "Testing Patterns": a weekly limit under a TestClock, and concurrent reservations.
 *
 * The cookbook's weekly test is wrong in two places; tally does what the spec says:
 * - after 9 calls the 10th still passes (atMost(10) admits the 10th); the denied call is the 11th;
 * - weeks are fixed calendar weeks (Monday to Sunday), so "day 8" has room again because a new week
 *   began, not because the first call "dropped off".
 * Run: npx tsx examples/counter-testing-patterns.ts
 */

import { EventStore, TestClock } from "../src/index.ts";

export async function main() {
  const clock = new TestClock("2024-01-01T09:00:00Z"); // a Monday
  const store = await EventStore.builder().withClock(clock).timeZone("UTC").build();
  const weekly = store.limit().atMost("api", 10, "weeks");

  store.recordCount("api", 5); // day 1
  const day1 = weekly.allowed("api");
  clock.advance("6d"); // day 7, Sunday: same calendar week
  store.recordCount("api", 4); // total 9
  const afterNine = weekly.allowed("api");
  const tenth = weekly.checkAndRecord("api").ok;
  const eleventh = weekly.checkAndRecord("api");
  clock.advance("1d"); // day 8, Monday: a new week
  const day8 = weekly.allowed("api");

  // Concurrency: 100 async callers reserve against 10 slots; exactly 10 get one.
  const reservations = store.limit().atMost("burst", 10, "hours");
  const results = await Promise.all(
    Array.from({ length: 100 }, async () => {
      await Promise.resolve();
      return reservations.reserve("burst").ok;
    }),
  );
  return {
    day1,
    afterNine,
    tenth,
    eleventhDenied: !eleventh.ok,
    eleventhRetryAfter: eleventh.ok ? undefined : eleventh.error.retryAfter,
    day8,
    reserved: results.filter(Boolean).length,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
