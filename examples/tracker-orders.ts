/**
 * Example 3 (dictrack's "Order Processing System"), line by line. dictrack's AccumulationTracker
 * lacked its required `key`, so the original raised TypeError at construction; here it sums
 * `amount`. After each order, both trackers are printed from `getTrackers`.
 *   npx tsx examples/tracker-orders.ts
 */
import {
  AccumulationTracker,
  CountTracker,
  KeyValueEQ,
  KeyValueInList,
  MemoryTrackerStore,
  type TrackerStore,
  TrackingManager,
} from "../src/tracker.ts";

export async function main(store: TrackerStore = new MemoryTrackerStore()) {
  const manager = new TrackingManager({ store });
  manager.on("allCompleted", (e) => console.log(`✅ ${e.name} fully processed: ${e.tracker.progress}`));
  manager.on("stageCompleted", (e) =>
    console.log(`📦 ${e.name} stage completed: ${e.tracker.progress}/${e.tracker.target}`),
  );

  await manager.addTrackers("orders", [
    new CountTracker({
      name: "order_count",
      target: [10, 50, 100, 500],
      conditions: [new KeyValueEQ("status", "completed")],
    }),
    new AccumulationTracker({
      name: "order_amount",
      key: "amount",
      target: [1000, 5000, 10000, 50000],
      conditions: [
        new KeyValueEQ("status", "completed"),
        new KeyValueInList("payment_method", ["credit_card", "debit_card", "paypal"]),
      ],
    }),
  ]);

  const orders = [
    { order_id: "ORD001", status: "completed", amount: 150.0, payment_method: "credit_card" },
    { order_id: "ORD002", status: "pending", amount: 200.0, payment_method: "paypal" },
    { order_id: "ORD003", status: "completed", amount: 75.5, payment_method: "debit_card" },
    { order_id: "ORD004", status: "completed", amount: 320.0, payment_method: "credit_card" },
    { order_id: "ORD005", status: "cancelled", amount: 50.0, payment_method: "credit_card" },
  ];
  for (const order of orders) {
    console.log(`\nProcessing order: ${order.order_id}`);
    await manager.track("orders", order);
    for (const t of await manager.getTrackers("orders")) {
      if (t.name === "order_count") console.log(`  Orders: ${t.progress}/${t.target}`);
      else console.log(`  Revenue: $${t.progress}/$${t.target}`);
    }
  }
  const [count, amount] = await manager.getTrackers("orders");
  await manager.close();
  return { orders: count?.progress, revenue: amount?.progress };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
