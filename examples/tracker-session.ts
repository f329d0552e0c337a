/**
 * Example 5 (dictrack's "Session Monitoring"), with both limiters and time driven by a TestClock
 * (no sleeping, no manual reset loop).
 *
 * dictrack's `TimeLimiter(seconds=60)` does not exist, and even a valid TimeLimiter is an
 * **activity window** (count only during the first 60 s after the tracker is added), not a rate.
 * A rate is a QuotaLimiter: at most 100 counted per minute, unlocking by itself.
 *   npx tsx examples/tracker-session.ts
 */

import { TestClock } from "../src/time/clock.ts";
import {
  CountTracker,
  KeyValueEQ,
  MemoryTrackerStore,
  QuotaLimiter,
  TimeLimiter,
  type TrackerStore,
  TrackingManager,
} from "../src/tracker.ts";

export async function main(store: TrackerStore = new MemoryTrackerStore()) {
  const clock = new TestClock(Date.UTC(2025, 0, 6, 12));
  const manager = new TrackingManager({ store, clock });
  const apiCall = [new KeyValueEQ("action", "api_call")];
  await manager.addTrackers("user_session_001", [
    // a rate: at most 100 counted per minute
    new CountTracker({
      name: "session_rate",
      target: 1000,
      conditions: apiCall,
      limiters: [new QuotaLimiter({ max: 100, per: "1m", timeZone: "UTC" })],
    }),
    // an activity window: only the first 60 s after addTracker count (both ends inclusive)
    new CountTracker({
      name: "session_window",
      target: 1000,
      conditions: apiCall,
      limiters: [new TimeLimiter({ interval: "60s" })],
    }),
  ]);

  let windowCounted = 0;
  let windowBlocked = 0;
  for (let second = 0; second < 70; second++) {
    const r = await manager.track("user_session_001", { action: "api_call", endpoint: "/api/data", call_id: second });
    const counted = r.dirtied.some((t) => t.name === "session_window" && !t.limited);
    if (counted) windowCounted++;
    else windowBlocked++;
    if (second === 60 || second === 61) console.log(`second ${second}: window ${counted ? "counted" : "closed"}`);
    clock.advance("1s"); // instead of time.sleep(1)
  }
  const [rate, window] = await manager.getTrackers("user_session_001");
  console.log(`rate tracker counted ${rate?.progress} calls; window tracker counted ${window?.progress}`);
  await manager.close();
  return { rateCounted: rate?.progress, windowCounted, windowBlocked };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
