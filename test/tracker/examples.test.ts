import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { main as campaign } from "../../examples/tracker-campaign.ts";
import { main as custom } from "../../examples/tracker-custom-condition.ts";
import { main as orders } from "../../examples/tracker-orders.ts";
import { main as rateLimit } from "../../examples/tracker-rate-limit.ts";
import { main as session } from "../../examples/tracker-session.ts";
import { main as userActivity } from "../../examples/tracker-user-activity.ts";

describe("examples/tracker-*.ts print what they claim", () => {
  const log = console.log;
  const quiet = async <T>(fn: () => Promise<T>): Promise<T> => {
    console.log = () => {};
    try {
      return await fn();
    } finally {
      console.log = log;
    }
  };
  it("1 user activity", async () => {
    assert.deepEqual(await quiet(userActivity), { user_001: 3, user_002: 0, user_003: 0 });
  });
  it("2 rate limit", async () => {
    assert.deepEqual(await quiet(rateLimit), {
      allowed: 100,
      refused: 5,
      remainingAtLimit: 0,
      allowedNextMinute: true,
      remainingNextMinute: 99,
    });
  });
  it("3 orders", async () => {
    assert.deepEqual(await quiet(orders), { orders: 3, revenue: 545.5 });
  });
  it("4 campaign", async () => {
    assert.deepEqual(await quiet(campaign), { campaign_clicks: 6, campaign_conversions: 2, campaign_revenue: 250 });
  });
  it("5 session", async () => {
    assert.deepEqual(await quiet(session), { rateCounted: 70, windowCounted: 61, windowBlocked: 9 });
  });
  it("6 custom condition", async () => {
    assert.deepEqual(await quiet(custom), {
      tracked: ["ORD002", "ORD003", "ORD006"],
      rejected: ["ORD001", "ORD004", "ORD005"],
      progress: 3,
    });
  });
});
