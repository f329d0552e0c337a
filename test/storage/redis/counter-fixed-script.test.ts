/**
 * counter-fixed.lua, the short script of a lone atMost limit call (and its RANGES variant, for windows
 * of several periods and sliding windows), must be indistinguishable
 * from the general script: for random sequences of check / checkAndRecord / record calls with the
 * reservations pending, the clock moving forwards (within a period, across periods, past whole rings) and backwards, a store
 * using it and a store that never does give the same answers and leave the same hash behind, field
 * for field, with the same expiry renewals, after every step. The short script must also really be used (not always deferring).
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Redis } from "ioredis";
import type { CounterBackend } from "../../../src/counter/shared/counter-backend.ts";
import { SharedEventStore } from "../../../src/counter/shared/shared-event-store.ts";
import { fixedScriptFor, redisBackend } from "../../../src/storage/redis/counter-backend.ts";
import { fromIoRedis, type RedisCommandRunner } from "../../../src/storage/redis/redis-client.ts";
import { TestClock } from "../../../src/time/clock.ts";
import { useRedis } from "../../support/services.ts";

/** The limiters of each store (see the test): windows of the current period, then ranges. */
const LIMITERS = 6;

type Step =
  | { kind: "advance"; ms: number }
  | { kind: "checkAndRecord" | "check" | "allowed"; count: number; limiter: number }
  | { kind: "record"; count: number }
  | { kind: "reserve"; ttlMs: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.oneof(
        fc.integer({ min: 0, max: 2_500 }),
        fc.integer({ min: 50_000, max: 70_000 }),
        fc.integer({ min: 3_500_000, max: 90_000_000 }),
        fc.integer({ min: -5_000, max: -1 }),
      ),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constantFrom("checkAndRecord" as const, "check" as const, "allowed" as const),
      count: fc.integer({ min: 1, max: 3 }),
      limiter: fc.integer({ min: 0, max: LIMITERS - 1 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("record" as const), count: fc.integer({ min: 0, max: 2 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("reserve" as const), ttlMs: fc.integer({ min: 1_000, max: 90_000 }) }),
  },
);

/**
 * A busy stretch: checkAndRecords a few hundred ms apart. Most land in the second of the previous
 * write (the script's commonest write, which has its own path), and the seconds, minutes and hours
 * buckets hold different counts once a second has rolled over, so a count written to the wrong
 * unit shows.
 */
const busyStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 1, max: 700 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("checkAndRecord" as const),
      count: fc.integer({ min: 1, max: 3 }),
      limiter: fc.integer({ min: 0, max: LIMITERS - 1 }),
    }),
  },
);

const steps = fc.oneof(
  fc.array(step, { minLength: 1, maxLength: 40 }),
  fc.array(busyStep, { minLength: 10, maxLength: 40, size: "max" }),
);

/**
 * Counts the calls of the short script a runner makes: `track` wraps a backend of that runner so
 * that the short script of each layout it is bound to is recognised.
 */
function counting(runner: RedisCommandRunner) {
  const seen = { fixed: 0, ranged: 0, scripts: 0 };
  const fixed = new Set<string>();
  const ranged = new Set<string>();
  const wrapped: RedisCommandRunner = {
    run: (args, firstKey) => {
      if (fixed.has(args[1] as string)) seen.fixed++;
      if (ranged.has(args[1] as string)) seen.ranged++;
      if (/^eval/i.test(args[0] as string)) seen.scripts++;
      return runner.run(args, firstKey);
    },
  };
  const track = (backend: CounterBackend): CounterBackend => ({
    kind: backend.kind,
    serverClock: backend.serverClock,
    bind: (layout) => {
      const script = fixedScriptFor(layout);
      fixed.add(script.sha).add(script.source);
      const withRanges = fixedScriptFor(layout, true);
      ranged.add(withRanges.sha).add(withRanges.source);
      return backend.bind(layout);
    },
  });
  return { seen, runner: wrapped, track };
}

/**
 * A mark below every TTL the backend sets (the layout keeps hours): a PTTL above it after a step means
 * the step renewed it. It is real time, so it is long enough that no step on a loaded machine outlives it.
 */
const MARK_MS = 60_000;

/** The hash's fields, and whether the last step created it or renewed its expiry. */
interface KeyState {
  readonly fields: Record<string, string>;
  readonly ttl: "absent" | "no expiry" | "renewed" | "kept";
}

async function stateOf(client: Redis, key: string): Promise<KeyState> {
  const [fields, ttl] = await Promise.all([client.hgetall(key), client.pttl(key)]);
  return { fields, ttl: ttl === -2 ? "absent" : ttl === -1 ? "no expiry" : ttl > MARK_MS ? "renewed" : "kept" };
}

describe("redisBackend short script (counter-fixed.lua)", () => {
  it("answers and writes exactly as the general script, step by step", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const { seen, runner, track } = counting(fromIoRedis(redis.client));
    let run = 0;
    await fc.assert(
      fc.asyncProperty(steps, async (steps) => {
        run++;
        const clock = new TestClock(Date.UTC(2026, 2, 29, 0, 59, 58));
        const make = (prefix: string, fixedWindowScript: boolean) =>
          SharedEventStore.builder()
            .withClock(clock)
            .timeZone("Europe/Berlin")
            .forRateLimiting()
            .withBackend(track(redisBackend(runner, { prefix, fixedWindowScript, batching: "off" })))
            .backendTimeout("30s")
            .build();
        const prefixes = [`${redis.prefix}f${run}:`, `${redis.prefix}g${run}:`];
        const stores = [await make(prefixes[0]!, true), await make(prefixes[1]!, false)];
        const limiters = stores.map((store) => [
          store.limit().atMost("api", 4, "minutes").atMost("api", 9, "hours"),
          store.limit().atMost("api", 6, "seconds"),
          store.limit().atMost("api", 3, "minutes").atMost("api", 5, "minutes").atMost("api", 20, "hours"),
          // Ranges (the RANGES script): windows of several periods, sliding windows (the second one
          // reads the seconds ring too), with and without a current-period window beside them.
          store.limit().atMost("api", 7, [3, "minutes"]).atMost("api", 12, [2, "hours"]),
          store.limit().atMost("api", 5, [10, "seconds"], { sliding: true }),
          store.limit().atMost("api", 8, [2, "minutes"], { sliding: true }).atMost("api", 4, "seconds"),
        ]);
        for (const [i, s] of steps.entries()) {
          if (s.kind === "advance") {
            clock.set(clock.now() + s.ms);
            continue;
          }
          const answers: unknown[] = [];
          for (const [k, store] of stores.entries()) {
            if (s.kind === "record") {
              await store.recordCount("api", s.count);
              answers.push("recorded");
            } else if (s.kind === "reserve") {
              // Reservations make the next calls defer to the general script while they are pending.
              answers.push((await limiters[k]![0]!.reserve("api", { ttl: s.ttlMs })).ok);
            } else {
              const limiter = limiters[k]![s.limiter]!;
              answers.push(
                await (s.kind === "check"
                  ? limiter.check("api", s.count)
                  : s.kind === "allowed"
                    ? limiter.allowed("api", s.count)
                    : limiter.checkAndRecord("api", s.count)),
              );
            }
          }
          assert.deepEqual(answers[0], answers[1], `step ${i} (${JSON.stringify(s)})`);
          const states = await Promise.all(prefixes.map((p): Promise<KeyState> => stateOf(redis.client, `${p}{api}`)));
          assert.deepEqual(states[0], states[1], `hash after step ${i} (${JSON.stringify(s)})`);
          await Promise.all(prefixes.map((p) => redis.client.pexpire(`${p}{api}`, MARK_MS)));
        }
      }),
      // RUNS=<n> runs more than CI's 100 (after a change to either script).
      { numRuns: Number(process.env.RUNS ?? 100) },
    );
    assert.ok(seen.fixed > 100, `the short script ran ${seen.fixed} times`);
    assert.ok(seen.ranged > 100, `the short script with ranges ran ${seen.ranged} times`);
  });

  it("decides windows of several periods and sliding windows itself; a slot a ring old reads 0", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    // Left undecided, a call would still be answered right (by the general script, in a second round
    // trip): this holds the RANGES script to deciding them, the case of a stale slot included.
    const { seen, runner, track } = counting(fromIoRedis(redis.client));
    const clock = new TestClock(Date.UTC(2026, 2, 29, 10, 0, 0));
    const store = await SharedEventStore.builder()
      .withClock(clock)
      .forRateLimiting()
      .withBackend(track(redisBackend(runner, { prefix: `${redis.prefix}ranges:`, batching: "off" })))
      .build();
    const sliding = store.limit().atMost("api", 5, [10, "seconds"], { sliding: true });
    const fixed = store.limit().atMost("api", 9, [3, "minutes"]).atMost("api", 12, [2, "hours"]);
    // The first call of a script loads it (NOSCRIPT, then EVAL): done on another event, then counted from 0.
    await store.limit().atMost("warm", 1, [2, "minutes"]).check("warm");
    seen.ranged = 0;
    seen.scripts = 0;
    // s0: 2; s0 + 1: 1 (s0's count goes to its slot); s0 + 61: 1 (the ring moved a whole ring: s0's
    // slot, which is also s0 + 60's, keeps "2@s0"); s0 + 62: the window reads s0 + 60's slot, which
    // must count 0 (1 + 3 <= 5; counted, it would be 6 and the call left to the general script).
    for (const [ms, count] of [
      [0, 2],
      [1_000, 1],
      [60_000, 1],
      [1_000, 3],
    ] as const) {
      clock.set(clock.now() + ms);
      assert.deepEqual(await sliding.checkAndRecord("api", count), { ok: true });
    }
    assert.deepEqual(await fixed.checkAndRecord("api", 1), { ok: true });
    assert.equal(seen.ranged, 5, "every call went to the RANGES script");
    assert.equal(seen.scripts, 5, "and none on to the general script");
    // A denial with ranges is answered by the RANGES script too, with the buckets it read.
    const denied = await fixed.check("api", 3);
    assert.equal(denied.ok, false, "8 + 3 in three minutes is over 9");
    assert.equal(seen.scripts, 6, "the denial in one round trip");
    assert.deepEqual(denied.ok ? undefined : denied.error.violations[0]?.observed, 8);
  });

  it("starts a new event's hash with the fields every call reads (m, l, p, c), with either script", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    // A field of a small hash is found by a scan of its listpack from the head: the fields read on
    // every call are cheapest there, and p is written (as 0) so that it is never a scan of it all.
    for (const fixedWindowScript of [true, false]) {
      const prefix: string = `${redis.prefix}order-${fixedWindowScript}:`;
      const store: SharedEventStore = await SharedEventStore.builder()
        .withClock(new TestClock(Date.UTC(2026, 2, 29, 10)))
        .forRateLimiting()
        .withBackend(redisBackend(fromIoRedis(redis.client), { prefix, fixedWindowScript, batching: "off" }))
        .build();
      assert.equal((await store.limit().atMost("api", 5, "minutes").checkAndRecord("api")).ok, true);
      const fields: string[] = Object.keys(await redis.client.hgetall(`${prefix}{api}`));
      assert.deepEqual(fields.slice(0, 4), ["m", "l", "p", "c"], `fixedWindowScript: ${fixedWindowScript}`);
      assert.equal(await redis.client.hget(`${prefix}{api}`, "p"), "0");
      // The preset's units (seconds, minutes, hours): bucket 0's counts are c's, no ring slot is written yet.
      assert.equal(await redis.client.hget(`${prefix}{api}`, "c"), "1,1,1");
      assert.equal(fields.length, 5);
    }
  });
});
