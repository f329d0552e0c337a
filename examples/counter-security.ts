/**
 * Cookbook, "Security Patterns": brute-force protection, anomaly detection and session limits.
 * Run: npx tsx examples/counter-security.ts
 */

import { EventStore, TestClock } from "../src/index.ts";

export async function main() {
  const clock = new TestClock("2024-01-01T08:00:00Z");
  const store = await EventStore.builder().withClock(clock).timeZone("UTC").build();

  // Brute force: 5/minute, 20/hour, and a cooldown of 2^failures seconds after a failure.
  const attempt = (password: string) => {
    const failures = store.query("login:failed").lastHours(1).sum() ?? 0;
    const result = store
      .limit()
      .atMost("login:attempt", 5, "minutes")
      .atMost("login:attempt", 20, "hours")
      .cooldown("login:failed", 2 ** Math.min(failures, 10) * 1000)
      .checkAndRecord("login:attempt");
    if (!result.ok) return { ok: false as const, retryAfter: result.error.retryAfter };
    store.record(password === "secret" ? "login:success" : "login:failed");
    return { ok: password === "secret", retryAfter: undefined };
  };
  const first = attempt("guess1"); // fails, 1 failure
  const immediate = attempt("guess2"); // cooldown 2 s
  clock.advance("2s");
  const second = attempt("guess2"); // fails, 2 failures
  clock.advance("3s");
  const early = attempt("secret"); // cooldown 4 s: 1 s left
  clock.advance("1s");
  const success = attempt("secret");

  // Anomaly: the last hour against 5 x the 30-day average of active days.
  for (let d = 1; d <= 20; d++) store.recordCountAgo("user:api_calls", 10, `${d}d`);
  store.recordCount("user:api_calls", 80);
  const baseline = store.query("user:api_calls").lastDays(30).averageNonzero() ?? 10;
  const current = store.query("user:api_calls").lastHours(1).sum() ?? 0;
  const anomaly = current > baseline * 5;
  if (anomaly) store.record("security:anomaly_detected");

  // Sessions: at most 3 started in the last 24 hours.
  let refused = 0;
  for (let i = 0; i < 5; i++) {
    if ((store.query("user:7:session:start").lastHours(24).sum() ?? 0) >= 3) refused++;
    else store.record("user:7:session:start");
  }
  return {
    first: first.ok,
    immediate: immediate.retryAfter,
    second: second.ok,
    early: early.retryAfter,
    success: success.ok,
    baseline,
    anomaly,
    refused,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
