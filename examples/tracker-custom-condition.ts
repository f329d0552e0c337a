/**
 * Example 6 (dictrack's "Custom Condition"). dictrack's BaseCondition subclass lacked four
 * abstract dunder methods and could not be instantiated. In tally a custom condition is a named,
 * pure function registered with `defineCondition`; only its name and JSON params are stored, so
 * every process that reads the tracker registers the same name first.
 *
 * The same rule as declarative JSON, with no code at all:
 *   { all: [ { path: "amount", op: "gte", value: 100 },
 *            { path: "customer_tier", op: "in", value: ["gold", "platinum"] },
 *            { not: { path: "region", op: "in", value: ["blocked", "suspended"] } } ] }
 * (the JSON form compares tiers case-sensitively; the function lower-cases them).
 *   npx tsx examples/tracker-custom-condition.ts
 */
import {
  CountTracker,
  defineCondition,
  MemoryTrackerStore,
  type TrackerStore,
  TrackingManager,
} from "../src/tracker.ts";

export const highValueOrder = defineCondition(
  "highValueOrder",
  (d, p) =>
    typeof d.amount === "number" &&
    d.amount >= p.minAmount &&
    p.allowedTiers.includes(String(d.customer_tier ?? "").toLowerCase()) &&
    !p.excludedRegions.includes(String(d.region ?? "").toLowerCase()),
);

export async function main(store: TrackerStore = new MemoryTrackerStore()) {
  const manager = new TrackingManager({ store });
  await manager.addTracker(
    "orders",
    new CountTracker({
      name: "high_value_orders",
      target: [10, 50, 100],
      conditions: [
        highValueOrder({
          minAmount: 100,
          allowedTiers: ["gold", "platinum"],
          excludedRegions: ["blocked", "suspended"],
        }),
      ],
    }),
  );
  const orders = [
    { order_id: "ORD001", amount: 50, customer_tier: "gold", region: "us" },
    { order_id: "ORD002", amount: 150, customer_tier: "gold", region: "us" },
    { order_id: "ORD003", amount: 200, customer_tier: "platinum", region: "eu" },
    { order_id: "ORD004", amount: 120, customer_tier: "silver", region: "us" },
    { order_id: "ORD005", amount: 300, customer_tier: "gold", region: "blocked" },
    { order_id: "ORD006", amount: 180, customer_tier: "Platinum", region: "uk" },
  ];
  const tracked: string[] = [];
  const rejected: string[] = [];
  for (const order of orders) {
    const { dirtied } = await manager.track("orders", order);
    if (dirtied.length > 0) {
      tracked.push(order.order_id);
      console.log(`✅ Tracked: ${order.order_id} - $${order.amount} (${order.customer_tier})`);
    } else {
      rejected.push(order.order_id);
      console.log(`❌ Rejected: ${order.order_id} - $${order.amount} (${order.customer_tier}, ${order.region})`);
    }
  }
  const [t] = await manager.getTrackers("orders", "high_value_orders");
  console.log(`High-value orders tracked: ${t?.progress}/${t?.target}`);
  await manager.close();
  return { tracked, rejected, progress: t?.progress };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
