import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { main as analytics } from "../../examples/counter-analytics.ts";
import { main as custom } from "../../examples/counter-custom-patterns.ts";
import { main as flags } from "../../examples/counter-feature-flags.ts";
import { main as http } from "../../examples/counter-http-rate-limit.ts";
import { main as performance } from "../../examples/counter-performance.ts";
import { main as rateLimiting } from "../../examples/counter-rate-limiting.ts";
import { main as resources } from "../../examples/counter-resource-management.ts";
import { main as security } from "../../examples/counter-security.ts";
import { main as partialSync } from "../../examples/counter-sync-partial.ts";
import { main as testing } from "../../examples/counter-testing-patterns.ts";
import { main as uniform } from "../../examples/counter-uniform-buckets.ts";
import { TestClock } from "../../src/time/clock.ts";

describe("cookbook recipes as examples", () => {
  it("rate limiting: 10/min bursts, 100/hour sustained, tiers, backoff, reservations", async () => {
    assert.deepEqual(await rateLimiting(), {
      burstAllowed: 10,
      firstDenial: 60_000,
      sustained: 100,
      tier: 100,
      cooldown: 30_000,
      firstAttempt: true,
      backoffWait: 30_000,
      counted: 1,
    });
  });

  it("analytics: active days, engagement, funnel, retention", async () => {
    assert.deepEqual(await analytics(), {
      dau: 1,
      wau: 6,
      mau: 13,
      score: 230,
      segment: "regular",
      conversion: 0.15,
      retention: 0.5,
    });
  });

  it("resource management: deltas, capacity, balance at midnight", async () => {
    assert.deepEqual(await resources(), { open: 4, refused: 2, atCapacity: 5, balanced: 5, afterReset: 0 });
  });

  it("feature flags: rollout to active users, A/B lift", async () => {
    const r = await flags();
    assert.deepEqual(r.enabled, [1]);
    assert.equal(r.control, 0.2);
    assert.equal(r.treatment, 0.3);
    assert.ok(Math.abs(r.lift - 50) < 1e-9);
  });

  it("security: brute-force backoff, anomaly, sessions", async () => {
    assert.deepEqual(await security(), {
      first: false,
      immediate: 2000,
      second: false,
      early: 1000,
      success: true,
      baseline: 280 / 21,
      anomaly: true,
      refused: 2,
    });
  });

  it("testing patterns: the weekly limit denies the 11th call (the cookbook says the 10th: it is wrong)", async () => {
    const r = await testing();
    assert.equal(r.afterNine, true, "cookbook asserts !allowed after 9 calls; atMost(10) admits the 10th");
    assert.equal(r.tenth, true);
    assert.equal(r.eleventhDenied, true);
    assert.equal(r.eleventhRetryAfter, 15 * 3_600_000, "fixed calendar week: until Monday 00:00");
    assert.equal(r.day8, true, "a new calendar week began");
    assert.equal(r.reserved, 10);
  });

  it("custom patterns: week over week, alerts once, correlation", async () => {
    assert.deepEqual(await custom(), {
      lastWeek: 105,
      prevWeek: 70,
      growth: 50,
      alerts: ["Error rate exceeded 100/hour"],
      abandoned: 15,
      flagged: true,
    });
  });

  it("uniform buckets: fixed 30-day periods and UTC days", async () => {
    assert.deepEqual(await uniform(), {
      thisPeriod: 56,
      lastPeriod: 60,
      periodStart: "2024-02-17T00:00:00.000Z",
      uniformToday: 0,
      calendarToday: 1,
    });
  });

  it("HTTP: 5 pass, the 6th gets 429 with Retry-After and RateLimit headers", async () => {
    const responses = await http(new TestClock("2024-01-01T10:00:55Z"));
    assert.deepEqual(
      responses.map((r) => r.status),
      [200, 200, 200, 200, 200, 429],
    );
    assert.equal(responses[0]!.policy, '"5-per-1-minutes";q=5;w=60, "20-per-1-hours";q=20;w=3600');
    assert.equal(responses[0]!.rateLimit, '"5-per-1-minutes";r=4;t=5');
    assert.equal(responses[5]!.retryAfter, "5");
    assert.equal(responses[5]!.rateLimit, '"5-per-1-minutes";r=0;t=5');
  });

  it("partial sync: only the filtered events travel, and uploading twice counts once", async () => {
    assert.deepEqual(await partialSync(), {
      uploaded: ["analytics:screen", "analytics:tap"],
      serverTaps: 3,
      serverDebug: undefined,
    });
  });

  it("performance: batch recording and a memory-constrained configuration", async () => {
    const r = await performance();
    assert.equal(r.recordCalls, 3);
    assert.equal(r.views, 3);
    assert.equal(r.buckets, 84);
    assert.ok(r.smallBytesPerEvent < r.defaultBytesPerEvent / 2, JSON.stringify(r));
    assert.ok(r.defaultBytesPerEvent <= 1200, JSON.stringify(r));
  });
});
