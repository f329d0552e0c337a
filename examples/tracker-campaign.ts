/**
 * Example 4 (dictrack's "Campaign Analytics"): the shape of Example 3, with the missing
 * `key: "amount"` added to `campaign_revenue`. Under tally's strict rules
 * `KeyValueEQ("converted", true)` matches only the boolean true, and `KeyValueGT("amount", 0)` is
 * false for a missing or non-numeric amount (dictrack raised on None and compared across types).
 *   npx tsx examples/tracker-campaign.ts
 */
import {
  AccumulationTracker,
  CountTracker,
  KeyValueEQ,
  KeyValueGT,
  MemoryTrackerStore,
  type TrackerStore,
  TrackingManager,
} from "../src/tracker.ts";

export async function main(store: TrackerStore = new MemoryTrackerStore()) {
  const manager = new TrackingManager({ store });
  await manager.addTrackers("campaign_summer_2024", [
    new CountTracker({
      name: "campaign_clicks",
      target: [1000, 5000, 10000],
      conditions: [new KeyValueEQ("event", "click")],
    }),
    new CountTracker({
      name: "campaign_conversions",
      target: [100, 500, 1000],
      conditions: [new KeyValueEQ("event", "click"), new KeyValueEQ("converted", true)],
    }),
    new AccumulationTracker({
      name: "campaign_revenue",
      key: "amount",
      target: [5000, 25000, 50000],
      conditions: [new KeyValueEQ("event", "purchase"), new KeyValueGT("amount", 0)],
    }),
  ]);

  const events = [
    { event: "click", converted: false, amount: 0 },
    { event: "click", converted: true, amount: 0 },
    { event: "click", converted: false, amount: 0 },
    { event: "purchase", converted: true, amount: 50.0 },
    { event: "click", converted: false, amount: 0 },
    { event: "purchase", converted: true, amount: 125.0 },
    { event: "click", converted: true, amount: 0 },
    { event: "purchase", converted: true, amount: 75.0 },
    { event: "click", converted: "true", amount: 0 }, // a string is not the boolean true
    { event: "purchase", converted: true }, // no amount: not counted as revenue
  ];
  console.log("Campaign Analytics - Summer 2024");
  for (const e of events) {
    await manager.track("campaign_summer_2024", e);
    console.log(
      `Event: ${e.event}${e.converted === true ? " (converted)" : ""}${(e.amount ?? 0) > 0 ? ` - $${e.amount?.toFixed(2)}` : ""}`,
    );
  }
  const stats: Record<string, number> = {};
  console.log("\nFinal Campaign Stats:");
  for (const t of await manager.getTrackers("campaign_summer_2024")) {
    console.log(`  ${t.name}: ${t.progress}/${t.target}`);
    stats[t.name] = t.progress;
  }
  await manager.close();
  return stats;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
