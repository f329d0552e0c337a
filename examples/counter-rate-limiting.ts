/**
 * Cookbook, "API Rate Limiting": burst protection with sustained limits, tiered access, progressive
 * backoff and transactional calls with reservations. Run: npx tsx examples/counter-rate-limiting.ts
 */

import { EventStore, TestClock } from "../src/index.ts";

export async function main() {
  const clock = new TestClock("2024-01-01T09:00:00Z");
  const store = await EventStore.builder().withClock(clock).timeZone("UTC").build();

  // Burst protection: 10/minute bursts, 100/hour sustained. Build the limiter once, reuse it.
  const api = store.limit().atMost("api_call", 10, "minutes").atMost("api_call", 100, "hours");
  let burstAllowed = 0;
  let firstDenial: number | undefined;
  for (let i = 0; i < 15; i++) {
    const result = api.checkAndRecord("api_call");
    if (result.ok) burstAllowed++;
    else firstDenial ??= result.error.retryAfter;
  }
  // Spacing calls 6 s apart for the rest of the hour: the hourly limit stops them at 100.
  let sustained = burstAllowed;
  for (let i = 0; i < 600 - 1; i++) {
    clock.advance("6s");
    if (api.checkAndRecord("api_call").ok) sustained++;
  }

  // Tiered access: 100 logins this month makes a pro user (100/hour), else 10/hour.
  store.recordCount("user:login", 120);
  const logins = store.query("user:login").lastMonths(1).sum() ?? 0;
  const tier = logins >= 100 ? 100 : 10;

  // Progressive backoff: the cooldown grows with recent failures.
  store.recordCount("login:failed", 4);
  const failures = store.query("login:failed").lastMinutes(15).sum() ?? 0;
  const cooldown = failures <= 2 ? 0 : failures <= 5 ? 30_000 : failures <= 10 ? 300_000 : 1_800_000;
  const backoff = store.limit().cooldown("login:attempt", cooldown);
  const firstAttempt = backoff.checkAndRecord("login:attempt").ok;
  const tooSoon = backoff.checkAndRecord("login:attempt");
  const backoffWait = tooSoon.ok ? 0 : tooSoon.error.retryAfter;

  // Transactional calls: reserve first, commit on success, let a failure release the slot.
  const reservations = store.limit().atMost("paid_call", 2, "minutes");
  const ok = reservations.reserve("paid_call");
  if (ok.ok) ok.reservation.commit();
  const failed = reservations.reserve("paid_call");
  if (failed.ok) failed.reservation.cancel(); // the expensive call threw
  const counted = store.query("paid_call").lastMinutes(1).sum();

  return { burstAllowed, firstDenial, sustained, tier, cooldown, firstAttempt, backoffWait, counted };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
