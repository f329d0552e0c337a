/**
 * The Redis `CounterBackend` batches the operations started in one tick into one script call: the
 * answers must be exactly those of one call per operation (exact limits, per-operation replies and
 * refusals), whatever the batching mode, and a failed call fails only its own operations.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SharedEventStore } from "../../../src/counter/shared/shared-event-store.ts";
import { type RedisBatching, redisBackend } from "../../../src/storage/redis/counter-backend.ts";
import { fromIoRedis, type RedisCommandRunner } from "../../../src/storage/redis/redis-client.ts";
import { TestClock } from "../../../src/time/clock.ts";
import { useRedis } from "../../support/services.ts";

function build(
  runner: RedisCommandRunner,
  prefix: string,
  batching: RedisBatching,
  clock = new TestClock(),
  fixedWindowScript = true,
) {
  return SharedEventStore.builder()
    .withClock(clock)
    .timeZone("UTC")
    .forRateLimiting()
    .withBackend(redisBackend(runner, { prefix, batching, fixedWindowScript }))
    .backendTimeout("30s")
    .build();
}

/** Counts the script calls a runner makes and the most keys one call carried. */
function counting(runner: RedisCommandRunner) {
  const seen = { calls: 0, maxKeys: 0 };
  const wrapped: RedisCommandRunner = {
    run: (args, firstKey) => {
      if (/^eval(sha)?$/i.test(args[0] ?? "")) {
        seen.calls++;
        seen.maxKeys = Math.max(seen.maxKeys, Number(args[2]));
      }
      return runner.run(args, firstKey);
    },
  };
  return { seen, runner: wrapped };
}

describe("redisBackend batching", () => {
  for (const batching of ["auto", "tag", "off"] as const) {
    it(`admits exactly the limit among 300 calls started at once (batching "${batching}")`, async (t) => {
      const redis = await useRedis(t);
      if (!redis) return;
      const { seen, runner } = counting(fromIoRedis(redis.client));
      const store = await build(runner, `${redis.prefix}${batching}:`, batching);
      const limiter = store.limit().atMost("api", 100, "minutes").atMost("api", 150, "hours");
      const other = store.limit().atMost("other", 5, "minutes");
      const results = await Promise.all([
        ...Array.from({ length: 300 }, () => limiter.checkAndRecord("api")),
        ...Array.from({ length: 10 }, () => other.checkAndRecord("other")),
      ]);
      assert.equal(results.slice(0, 300).filter((r) => r.ok).length, 100);
      assert.equal(results.slice(300).filter((r) => r.ok).length, 5);
      const denied = results.find((r) => !r.ok);
      assert.ok(denied !== undefined && !denied.ok);
      assert.equal(denied.error.violations[0]?.observed, 100);
      assert.equal(await store.query("api").lastMinutes(1).sum(), 100);
      assert.equal(await store.query("other").lastMinutes(1).sum(), 5);
      if (batching === "off") {
        // One operation per call (a denial takes two: the short script defers it to the general one).
        assert.ok(seen.calls >= 310 + 2, `${seen.calls} calls for 310 operations`);
        assert.equal(seen.maxKeys, 2);
      } else assert.ok(seen.calls < 310 / 4, `${seen.calls} calls for 310 operations`);
      if (batching === "tag") assert.ok(seen.maxKeys >= 4 && seen.maxKeys % 2 === 0);
    });
  }

  it("admits exactly the limits of windows of several periods and sliding windows started at once, mixed with plain ones", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    // One call carries them all (the short script's RANGES variant; the plain ones with no ranges).
    const { seen, runner } = counting(fromIoRedis(redis.client));
    const store = await build(
      runner,
      `${redis.prefix}ranges:`,
      "auto",
      new TestClock(Date.UTC(2026, 10, 24, 12, 0, 30)),
    );
    const plain = store.limit().atMost("api", 20, "minutes");
    const several = store.limit().atMost("win", 40, [3, "minutes"]);
    const sliding = store.limit().atMost("slide", 30, [10, "seconds"], { sliding: true });
    const results = await Promise.all(
      Array.from({ length: 100 }, () => [
        plain.checkAndRecord("api"),
        several.checkAndRecord("win"),
        sliding.checkAndRecord("slide"),
      ]).flat(),
    );
    const admitted = [0, 1, 2].map((k) => results.filter((r, i) => i % 3 === k && r.ok).length);
    assert.deepEqual(admitted, [20, 40, 30]);
    const denied = results.filter((r, i) => i % 3 === 1 && !r.ok)[0];
    assert.ok(denied !== undefined && !denied.ok);
    assert.equal(denied.error.violations[0]?.observed, 40);
    assert.equal(await store.query("win").lastMinutes(3).sum(), 40);
    assert.ok(seen.calls < 300 / 4, `${seen.calls} calls for 300 operations`);
  });

  it("runs records, queries, reservations and settlements of one tick in order", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const store = await build(fromIoRedis(redis.client), redis.prefix, "auto");
    const limiter = store.limit().atMost("job", 3, "minutes");
    const [, first, second, held] = await Promise.all([
      store.recordCount("job", 1),
      limiter.checkAndRecord("job"),
      store.query("job").lastMinutes(1).sum(),
      limiter.reserve("job"),
    ]);
    assert.deepEqual(first, { ok: true });
    assert.equal(second, 2); // the record and the checkAndRecord before it, in submission order
    assert.ok(held.ok);
    const [usage, refused, committed] = await Promise.all([
      limiter.usage("job"),
      limiter.checkAndRecord("job"),
      held.ok ? held.reservation.commit() : Promise.resolve(false),
    ]);
    assert.deepEqual(usage, { count: 3, limit: 3, remaining: 0 });
    assert.equal(refused.ok, false);
    assert.equal(committed, true);
    assert.equal(await store.query("job").lastMinutes(1).sum(), 3);
  });

  for (const fixedWindowScript of [false, true]) {
    it(`refuses only the operation whose event has another layout, not the rest of its call (fixedWindowScript: ${fixedWindowScript})`, async (t) => {
      const redis = await useRedis(t);
      if (!redis) return;
      const prefix = `${redis.prefix}${fixedWindowScript}:`;
      const other = await SharedEventStore.builder()
        .withClock(new TestClock())
        .timeZone("UTC")
        .trackMinutes(30)
        .withBackend(redisBackend(fromIoRedis(redis.client), { prefix }))
        .build();
      await other.record("theirs");
      const { seen, runner } = counting(fromIoRedis(redis.client));
      const store = await build(runner, prefix, "auto", new TestClock(), fixedWindowScript);
      // The first call of a burst leaves at once (nothing in flight); the rest share the next call.
      const outcomes = await Promise.allSettled([
        store.record("first"),
        store.record("mine"),
        store.record("theirs"),
        store.limit().atMost("mine", 5, "minutes").checkAndRecord("mine"),
      ]);
      if (fixedWindowScript) {
        // The short script leaves the other layout's event undecided: it goes on alone, refused there.
        assert.equal(seen.calls, 3);
      } else {
        assert.equal(seen.calls, 2);
        assert.equal(seen.maxKeys, 6);
      }
      assert.equal(outcomes[1].status, "fulfilled");
      assert.equal(outcomes[2].status, "rejected");
      if (outcomes[2].status === "rejected") assert.equal(outcomes[2].reason.code, "INVALID_CONFIG");
      assert.deepEqual(outcomes[3], { status: "fulfilled", value: { ok: true } });
      assert.equal(await store.query("mine").lastMinutes(1).sum(), 2);
      assert.equal(await other.query("theirs").lastMinutes(1).sum(), 1);
    });
  }

  it("refuses a future instant on the server clock for that operation only", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const store = await SharedEventStore.builder()
      .withClock(new TestClock("2001-01-01T00:00:00Z"))
      .alignment("uniform")
      .forRateLimiting()
      .clockSource("server")
      .withBackend(redisBackend(fromIoRedis(redis.client), { prefix: redis.prefix }))
      .build();
    const outcomes = await Promise.allSettled([
      store.record("srv"),
      store.record("srv"),
      store.recordAt("srv", Date.now() + 3_600_000),
      store.record("srv"),
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ["fulfilled", "fulfilled", "rejected", "fulfilled"],
    );
    if (outcomes[2].status === "rejected") assert.equal(outcomes[2].reason.code, "FUTURE_EVENT");
    assert.equal(await store.query("srv").lastMinutes(1).sum(), 3);
  });

  it("fails only the operations of a failed call", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const io = fromIoRedis(redis.client);
    // A call carrying the {broken} tag fails as a dropped connection would.
    const runner: RedisCommandRunner = {
      run: (args, firstKey) =>
        firstKey.includes("{broken}") ? Promise.reject(new Error("connection lost")) : io.run(args, firstKey),
    };
    const store = await build(runner, redis.prefix, "tag");
    const outcomes = await Promise.allSettled([
      store.record("ok1"),
      store.record("broken"),
      store.limit().atMost("broken", 5, "minutes").checkAndRecord("broken"),
      store.record("ok2"),
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ["fulfilled", "rejected", "rejected", "fulfilled"],
    );
    if (outcomes[1].status === "rejected") assert.equal(outcomes[1].reason.code, "STORAGE_FAILED");
    // Read through a healthy store (this one now pauses after its failure, as it should).
    const reader = await build(io, redis.prefix, "tag");
    assert.equal(await reader.query("ok1").lastMinutes(1).sum(), 1);
    assert.equal(await reader.query("ok2").lastMinutes(1).sum(), 1);
    assert.equal(await reader.query("broken").lastMinutes(1).sum(), undefined);
  });

  it('"auto" falls back to one call per hash tag when the server answers CROSSSLOT', async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const io = fromIoRedis(redis.client);
    // Redis Cluster refuses a call whose keys span slots before running it; this runner refuses a
    // call whose keys span hash tags the same way (in front of a real single-node Redis).
    const calls: string[][] = [];
    const runner: RedisCommandRunner = {
      run: (args, firstKey) => {
        const keys = args.slice(3, 3 + Number(args[2]));
        const tags = new Set(keys.map((k) => /\{([^}]+)\}/.exec(k)?.[1] ?? k));
        calls.push([...tags]);
        if (tags.size > 1) return Promise.reject(new Error("CROSSSLOT Keys in request don't hash to the same slot"));
        return io.run(args, firstKey);
      },
    };
    const store = await build(runner, redis.prefix, "auto");
    const a = store.limit().atMost("user:{1}:api", 2, "minutes");
    const results = await Promise.all([
      a.checkAndRecord("user:{1}:api"),
      a.checkAndRecord("user:{1}:api"),
      a.checkAndRecord("user:{1}:api"),
      store.record("user:{2}:api"),
      store.record("user:{1}:login"),
    ]);
    assert.deepEqual(
      results.slice(0, 3).map((r) => r?.ok),
      [true, true, false],
    );
    // The first operation left alone; the next call mixed tags and was refused, the rest did not.
    assert.deepEqual(
      calls.map((tags) => tags.length),
      [1, 2, 1, 1],
    );
    assert.equal(await store.query("user:{1}:login").lastMinutes(1).sum(), 1);
    assert.equal(await store.query("user:{2}:api").lastMinutes(1).sum(), 1);
    // From now on the store groups by tag without trying a mixed call first.
    const before = calls.length;
    await Promise.all([store.record("user:{1}:api"), store.record("user:{2}:api")]);
    assert.equal(calls.length, before + 2);
  });

  it("denies a count above the limit on an empty window (the short path of a plain limiter)", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const store = await build(fromIoRedis(redis.client), redis.prefix, "auto");
    const zero = await store.limit().atMost("z", 0, "minutes").checkAndRecord("z");
    assert.equal(zero.ok, false);
    const big = await store.limit().atMost("z", 2, "minutes").atMost("z", 10, "hours").checkAndRecord("z", 3);
    assert.equal(big.ok, false);
    if (!big.ok) assert.equal(big.error.violations[0]?.observed, 0);
    assert.equal(await store.query("z").lastMinutes(1).sum(), undefined);
  });

  it("rejects an unknown batching mode", () => {
    assert.throws(() => redisBackend({ run: async () => null }, { batching: "sometimes" as never }), {
      code: "INVALID_CONFIG",
    });
  });
});
