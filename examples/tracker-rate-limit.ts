/**
 * Example 2 (dictrack's "Rate Limiter"), "100 requests per minute" in tally form.
 *
 * dictrack used a CountLimiter, which has no window: "per minute" needed a cron calling
 * reset_tracker, and the printed `rate_limiter.remaining` never changed because the local object is
 * not the stored one. A QuotaLimiter unlocks by itself at the next minute, and live state is read
 * from a tracker copy. (For admission control in front of an API, prefer the counter's
 * `checkAndRecord`: a tracker records progress, it does not guard endpoints.)
 *   npx tsx examples/tracker-rate-limit.ts
 */

import { TestClock } from "../src/time/clock.ts";
import {
  CountTracker,
  KeyValueEQ,
  MemoryTrackerStore,
  QuotaLimiter,
  type TrackerStore,
  TrackingManager,
} from "../src/tracker.ts";

export async function main(store: TrackerStore = new MemoryTrackerStore()) {
  const clock = new TestClock(Date.UTC(2025, 0, 6, 12, 0, 0));
  const manager = new TrackingManager({ store, clock });
  await manager.addTracker(
    "api_client_001",
    new CountTracker({
      name: "api_rate_limit",
      target: 1000,
      conditions: [new KeyValueEQ("endpoint", "/api/v1/data")],
      limiters: [new QuotaLimiter({ max: 100, per: "1m", timeZone: "UTC" })],
    }),
  );

  const remaining = async () => {
    const [t] = await manager.getTrackers("api_client_001", "api_rate_limit");
    const limiter = t?.limiters[0];
    return limiter?.type === "quota" ? limiter.remaining : -1;
  };
  let allowed = 0;
  let refused = 0;
  for (let i = 0; i < 105; i++) {
    const r = await manager.track("api_client_001", { endpoint: "/api/v1/data", request_id: i });
    const isRefused =
      r.limited.some((t) => t.name === "api_rate_limit") && !r.dirtied.some((t) => t.name === "api_rate_limit");
    if (isRefused) refused++;
    else allowed++;
    if (i === 98 || i === 100)
      console.log(`request ${i}: ${isRefused ? "refused" : "allowed"}, remaining ${await remaining()}`);
  }
  const remainingAtLimit = await remaining();
  clock.advance("1m"); // no manual reset: the quota window rolls over by itself
  const next = await manager.track("api_client_001", { endpoint: "/api/v1/data", request_id: 105 });
  const allowedNextMinute = next.dirtied.length === 1;
  const remainingNextMinute = await remaining();
  console.log({ allowed, refused, remainingAtLimit, allowedNextMinute, remainingNextMinute });
  await manager.close();
  return { allowed, refused, remainingAtLimit, allowedNextMinute, remainingNextMinute };
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
