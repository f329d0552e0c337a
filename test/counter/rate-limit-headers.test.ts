import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EventStore } from "../../src/counter/event-store.ts";
import {
  rateLimitHeader,
  rateLimitHeaders,
  rateLimitPolicyHeader,
  retryAfterHeader,
  retryAfterSeconds,
} from "../../src/counter/rate-limit-headers.ts";
import { TestClock } from "../../src/time/clock.ts";
import { Schedule } from "../../src/time/schedule.ts";

describe("rate-limit headers", () => {
  it("Retry-After rounds up to whole seconds and is absent when allowed or unknown", () => {
    const clock = new TestClock("2024-01-01T00:00:59.001Z");
    const store = new EventStore({ clock, timeZone: "UTC" });
    const limiter = store.limit().atMost("api", 1, "minutes");
    assert.equal(retryAfterHeader(limiter.checkAndRecord("api")), undefined);
    const denied = limiter.checkAndRecord("api");
    assert.ok(!denied.ok);
    assert.equal(denied.error.retryAfter, 999);
    assert.equal(retryAfterSeconds(denied), 1);
    assert.equal(retryAfterHeader(denied), "1");
    const never = store
      .limit()
      .during(Schedule.custom(() => false))
      .check("api");
    assert.equal(retryAfterHeader(never), undefined);
  });

  it("RateLimit-Policy lists every atMost; RateLimit reports the tightest", () => {
    const clock = new TestClock("2024-01-01T10:20:30Z");
    const store = new EventStore({ clock, timeZone: "UTC", units: { seconds: 60, minutes: 60, hours: 24 } });
    const limiter = store
      .limit()
      .atMost("api", 100, "hours")
      .atMost("api", 10, [5, "minutes"], { sliding: true })
      .atMost("other", 1, "minutes");
    store.recordCount("api", 8);
    assert.equal(
      rateLimitPolicyHeader(limiter, "api"),
      '"100-per-1-hours";q=100;w=3600, "10-per-5-minutes-sliding";q=10;w=300',
    );
    assert.equal(rateLimitHeader(limiter, "api"), '"10-per-5-minutes-sliding";r=2;t=300');
    assert.equal(rateLimitPolicyHeader(store.limit().cooldown("api", "1s"), "api"), undefined);
    store.recordCount("api", 92);
    const headers = rateLimitHeaders(limiter, "api", limiter.check("api"));
    assert.equal(headers.RateLimit, '"100-per-1-hours";r=0;t=2370');
    assert.equal(headers["Retry-After"], "2370");
  });
});
