/**
 * Cookbook, "Custom Patterns": week-over-week growth, threshold alerts without spam and event
 * correlation (cart abandonment). Run: npx tsx examples/counter-custom-patterns.ts
 */

import { EventStore, TestClock } from "../src/index.ts";

export async function main() {
  const clock = new TestClock("2024-01-20T12:00:00Z");
  const store = await EventStore.builder().withClock(clock).timeZone("UTC").build();

  // 10 calls a day for the previous week (days 7-13), 15 a day this week (days 0-6).
  for (let d = 0; d < 14; d++) store.recordCountAgo("api_call", d < 7 ? 15 : 10, `${d}d`);
  const lastWeek = store.query("api_call").lastDays(7).sum() ?? 0;
  const prevWeek = store.query("api_call").days(7, 14).sum() ?? 0;
  const growth = ((lastWeek / 7 - prevWeek / 7) / (prevWeek / 7)) * 100;

  // Threshold alert: over 100 errors this hour, alert once per hour.
  const alerts: string[] = [];
  const checkErrors = () => {
    if ((store.query("errors").lastHours(1).sum() ?? 0) > 100) {
      if ((store.query("alert:error_threshold_exceeded").lastHours(1).sum() ?? 0) === 0) {
        alerts.push("Error rate exceeded 100/hour");
      }
      store.record("alert:error_threshold_exceeded");
    }
  };
  store.recordCount("errors", 150);
  checkErrors();
  checkErrors(); // no second alert in the same hour

  // Correlation: carts vs checkouts this week; a pattern flag when the last hour converts nothing.
  store.recordCount("cart_update", 40);
  store.recordCount("checkout", 25);
  const carts = store.query("cart_update").lastDays(7).sum() ?? 0;
  const checkouts = store.query("checkout").lastDays(7).sum() ?? 0;
  const abandoned = Math.max(0, carts - checkouts);
  clock.advance("2h");
  store.recordCount("cart_update", 3);
  const recentCarts = store.query("cart_update").lastHours(1).sum() ?? 0;
  const recentCheckouts = store.query("checkout").lastHours(1).sum() ?? 0;
  const flagged = recentCarts > 0 && recentCheckouts === 0;
  if (flagged) store.record("pattern:high_cart_low_checkout");
  return { lastWeek, prevWeek, growth, alerts, abandoned, flagged };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
