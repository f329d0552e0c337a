/**
 * Cookbook, "Feature Flags": progressive rollout to active users and an A/B test with lift.
 * Run: npx tsx examples/counter-feature-flags.ts
 */

import { EventStore, TestClock } from "../src/index.ts";

export async function main() {
  const clock = new TestClock("2024-01-15T12:00:00Z");
  const store = await EventStore.builder().withClock(clock).timeZone("UTC").build();

  // Progressive rollout: users with >= 10 launches in 30 days get the feature.
  for (let d = 0; d < 12; d++) store.recordAgo("user:1:launch", `${d}d`);
  store.recordCount("user:2:launch", 3);
  const enabled = [1, 2].filter((u) => (store.query(`user:${u}:launch`).lastDays(30).sum() ?? 0) >= 10);
  for (const u of enabled) store.record(`user:${u}:new_feature_used`);

  // A/B test: 100 users, even ids control, odd treatment; conversions 10 vs 15.
  for (let user = 0; user < 100; user++) store.record(`ab_test:variant:${user % 2 === 0 ? "control" : "treatment"}`);
  store.recordCount("ab_test:control:conversion", 10);
  store.recordCount("ab_test:treatment:conversion", 15);
  const rate = (v: string) => store.queryRatio(`ab_test:${v}:conversion`, `ab_test:variant:${v}`).lastDays(7) ?? 0;
  const control = rate("control");
  const treatment = rate("treatment");
  const lift = ((treatment - control) / control) * 100;
  return { enabled, control, treatment, lift };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
