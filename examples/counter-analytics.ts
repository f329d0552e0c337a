/**
 * Cookbook, "User Analytics": active days (DAU/WAU/MAU), engagement scoring, conversion funnels and
 * cohort retention. Run: npx tsx examples/counter-analytics.ts
 */

import { EventStore, TestClock } from "../src/index.ts";

export async function main() {
  const clock = new TestClock("2024-01-01T12:00:00Z");
  const store = await EventStore.builder().withClock(clock).timeZone("Europe/Berlin").build();

  // A user logs in on 13 of the last 30 days (the last 5 days, and every 3rd day before).
  for (let day = 29; day >= 0; day--) {
    if (day < 5 || day % 3 === 0) store.recordAgo("user:42:login", `${day}d`);
  }
  const dau = store.query("user:42:login").lastDays(1).countNonzero() ?? 0;
  const wau = store.query("user:42:login").lastDays(7).countNonzero() ?? 0;
  const mau = store.query("user:42:login").lastDays(30).countNonzero() ?? 0;

  // Engagement score = launches + 5 x feature uses + 10 x active days.
  store.recordCount("user:42:launch", 40);
  store.recordCount("user:42:feature_use", 12);
  const launches = store.query("user:42:launch").lastDays(30).sum() ?? 0;
  const features = store.query("user:42:feature_use").lastDays(30).sum() ?? 0;
  const activeDays = store.query("user:42:login").lastDays(30).countNonzero() ?? 0;
  const score = launches + features * 5 + activeDays * 10;
  const segment = score <= 50 ? "dormant" : score <= 200 ? "casual" : score <= 500 ? "regular" : "power_user";

  // Conversion funnel over the last 7 days.
  store.recordCount("funnel:landing", 200);
  store.recordCount("funnel:signup_started", 60);
  store.recordCount("funnel:signup_completed", 30);
  const conversion = store.queryRatio("funnel:signup_completed", "funnel:landing").lastDays(7);

  // Cohort retention: active days of the cohort's signups and day-7 returns.
  for (let d = 0; d < 4; d++) store.recordAgo("cohort:2024-01:signup", `${d}d`);
  store.recordAgo("cohort:2024-01:day7", "1d");
  const signups = store.query("cohort:2024-01:signup").ever().countNonzero() ?? 1;
  const returns = store.query("cohort:2024-01:day7").ever().countNonzero() ?? 0;

  return { dau, wau, mau, score, segment, conversion, retention: returns / signups };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
