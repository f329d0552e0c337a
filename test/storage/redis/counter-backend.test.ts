/**
 * The Redis `CounterBackend` on a real server: both client libraries, NOSCRIPT recovery, key layout
 * (hash tags, TTL, pending set), layout mismatch, saturation and the server clock.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SharedEventStore } from "../../../src/counter/shared/shared-event-store.ts";
import { eventKey, redisBackend } from "../../../src/storage/redis/counter-backend.ts";
import { fromIoRedis, fromNodeRedis, type RedisCommandRunner } from "../../../src/storage/redis/redis-client.ts";
import { TestClock } from "../../../src/time/clock.ts";
import { useRedis } from "../../support/services.ts";

function build(runner: RedisCommandRunner, prefix: string, clock = new TestClock()) {
  return SharedEventStore.builder()
    .withClock(clock)
    .timeZone("UTC")
    .forRateLimiting()
    .withBackend(redisBackend(runner, { prefix }))
    .backendTimeout("30s")
    .build();
}

/**
 * The `m` field this build writes for a new event of `store` (layout and bucket-0 ordinals) and its
 * ordinals, read from a hash it creates: the starting point of a hand-written earlier layout.
 */
async function currentRing(
  store: SharedEventStore,
  client: { hget(key: string, field: string): Promise<string | null> },
  prefix: string,
): Promise<{ m: string; ords: number[] }> {
  await store.record("seed");
  const m = (await client.hget(`${prefix}{seed}`, "m"))!;
  return {
    m,
    ords: m
      .slice(m.lastIndexOf("|") + 1)
      .split(",")
      .map(Number),
  };
}

describe("redisBackend", () => {
  it("counts and limits the same through node-redis and ioredis", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const clock = new TestClock();
    const viaIo = await build(fromIoRedis(redis.client), redis.prefix, clock);
    const viaNode = await build(fromNodeRedis(await redis.nodeRedis()), redis.prefix, clock);
    await viaIo.recordCount("jobs", 2);
    await viaNode.recordCount("jobs", 3);
    assert.equal(await viaIo.query("jobs").lastMinutes(1).sum(), 5);
    assert.equal(await viaNode.query("jobs").lastMinutes(1).sum(), 5);
    const limit = viaNode.limit().atMost("jobs", 6, "minutes");
    assert.deepEqual(await limit.checkAndRecord("jobs"), { ok: true });
    const denied = await viaIo.limit().atMost("jobs", 6, "minutes").checkAndRecord("jobs");
    assert.equal(denied.ok, false);
    if (!denied.ok) {
      assert.equal(denied.error.violations[0]?.observed, 6);
      assert.equal(denied.error.retryAfter, 60_000);
    }
  });

  it("recovers from NOSCRIPT after SCRIPT FLUSH (EVALSHA falls back to EVAL)", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const store = await build(fromIoRedis(redis.client), redis.prefix);
    await store.record("e");
    await redis.client.script("FLUSH");
    await store.record("e");
    const limiter = store.limit().atMost("e", 3, "minutes");
    await redis.client.script("FLUSH");
    assert.deepEqual(await limiter.checkAndRecord("e"), { ok: true });
    await redis.client.script("FLUSH");
    const r = await limiter.reserve("e");
    assert.equal(r.ok, false);
    assert.equal(await store.query("e").lastMinutes(1).sum(), 3);
  });

  it("one limiter alternating ids and counts answers and records each call on its own id", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const store = await build(fromIoRedis(redis.client), redis.prefix);
    const limiter = store.limit().atMost("a", 4, "minutes").atMost("a", 5, "hours");
    const other = store.limit().atMost("b", 3, "minutes");
    assert.deepEqual(await limiter.checkAndRecord("a"), { ok: true });
    assert.deepEqual(await other.checkAndRecord("b", 2), { ok: true });
    assert.deepEqual(await limiter.checkAndRecord("a", 2), { ok: true });
    assert.equal((await other.checkAndRecord("b", 2)).ok, false);
    assert.equal((await limiter.checkAndRecord("a", 2)).ok, false);
    assert.deepEqual(await limiter.checkAndRecord("a"), { ok: true });
    assert.deepEqual(await other.check("b"), { ok: true });
    assert.equal(await store.query("a").lastMinutes(1).sum(), 4);
    assert.equal(await store.query("b").lastMinutes(1).sum(), 2);
  });

  it("keys one hash per event, reuses an id's {tag}, and expires idle events", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const store = await build(fromIoRedis(redis.client), redis.prefix);
    await store.record("user:{42}:login");
    await store.record("plain");
    const r = await store.limit().atMost("user:{42}:api", 1, "minutes").reserve("user:{42}:api");
    assert.ok(r.ok);
    assert.equal(eventKey(redis.prefix, "user:{42}:login"), `${redis.prefix}user:{42}:login`);
    assert.equal(eventKey(redis.prefix, "plain"), `${redis.prefix}{plain}`);
    assert.equal(await redis.client.exists(`${redis.prefix}user:{42}:login`), 1);
    assert.equal(await redis.client.exists(`${redis.prefix}{plain}`), 1);
    assert.equal(await redis.client.zcard(`${redis.prefix}user:{42}:api:pending`), 1);
    const ttl = await redis.client.pttl(`${redis.prefix}{plain}`);
    // forRateLimiting: 24 hours is the longest coverage; the key lives a little longer than that.
    assert.ok(ttl > 24 * 3_600_000 && ttl <= 26 * 5_400_000, `pttl ${ttl}`);
    if (r.ok) assert.equal(await r.reservation.cancel(), true);
    assert.equal(await redis.client.zcard(`${redis.prefix}user:{42}:api:pending`), 0);
    assert.equal(await store.query("user:{42}:api").ever().sum(), 0); // the reservation created it
  });

  it("renews an event's expiry when its hours ring moves, not on every second or minute", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    // Both scripts: the short one (lone checkAndRecord) and the general one (record).
    const clock = new TestClock(Date.UTC(2026, 4, 6, 10, 0, 0));
    const store = await build(fromIoRedis(redis.client), redis.prefix, clock);
    const limiter = store.limit().atMost("api", 1e6, "minutes");
    const key = `${redis.prefix}{api}`;
    const MARK = 60_000; // below every TTL the layout sets: a PTTL above it means a renewal
    const renewed = async (write: () => Promise<unknown>): Promise<boolean> => {
      await redis.client.pexpire(key, MARK);
      await write();
      return (await redis.client.pttl(key)) > MARK;
    };
    assert.equal(await renewed(() => limiter.checkAndRecord("api")), true, "created");
    for (const [step, ms] of [
      ["next second", 1_000],
      ["5 s later", 5_000],
      ["next minute", 60_000],
      ["2 min later", 120_000],
    ] as const) {
      clock.advance(ms);
      assert.equal(await renewed(() => limiter.checkAndRecord("api")), false, `checkAndRecord, ${step}`);
      clock.advance(ms);
      assert.equal(await renewed(() => store.record("api")), false, `record, ${step}`);
    }
    clock.set(Date.UTC(2026, 4, 6, 11, 0, 0));
    assert.equal(await renewed(() => limiter.checkAndRecord("api")), true, "checkAndRecord, next hour");
    clock.set(Date.UTC(2026, 4, 6, 12, 0, 0));
    assert.equal(await renewed(() => store.record("api")), true, "record, next hour");
    // What was written in the last hours is all still there.
    assert.equal(await store.query("api").lastHours(3).sum(), 11);

    // When a finer unit covers longer (200 000 seconds > 24 of the longest hours), its roll-over renews.
    const long = await SharedEventStore.builder()
      .withClock(clock)
      .timeZone("UTC")
      .forRateLimiting()
      .trackSeconds(200_000)
      .withBackend(redisBackend(fromIoRedis(redis.client), { prefix: `${redis.prefix}long:` }))
      .backendTimeout("30s")
      .build();
    const longKey = `${redis.prefix}long:{api}`;
    await long.limit().atMost("api", 1e6, "minutes").checkAndRecord("api");
    clock.advance(1_000);
    await redis.client.pexpire(longKey, MARK);
    await long.limit().atMost("api", 1e6, "minutes").checkAndRecord("api");
    assert.ok((await redis.client.pttl(longKey)) > 200_000 * 1_000, "renewed by the seconds ring, for its coverage");
  });

  it("keeps the current periods' counts in c and moves one to its slot when its ring moves on", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    for (const fixedWindowScript of [true, false]) {
      const prefix: string = `${redis.prefix}ring-${fixedWindowScript}:`;
      const clock = new TestClock(Date.UTC(2026, 10, 24, 10, 0, 0));
      const store: SharedEventStore = await SharedEventStore.builder()
        .withClock(clock)
        .timeZone("UTC")
        .forRateLimiting()
        .withBackend(redisBackend(fromIoRedis(redis.client), { prefix, fixedWindowScript, batching: "off" }))
        .build();
      const limiter = store.limit().atMost("api", 100, "minutes");
      const key = `${prefix}{api}`;
      const second = (at: number) => Math.floor(at / 1_000);
      const slot = (at: number) => `0:${second(at) % 60}`;
      const t0 = clock.now();
      assert.equal((await limiter.checkAndRecord("api", 2)).ok, true);
      clock.set(t0 + 1_000);
      assert.equal((await limiter.checkAndRecord("api", 3)).ok, true);
      // Second t0 + 1 s moved on from t0: t0's count went to its slot, named for its period; c holds
      // t0 + 1 s's.
      assert.equal(await redis.client.hget(key, slot(t0)), `2@${second(t0)}`);
      assert.equal((await redis.client.hget(key, "c"))?.split(",")[0], "3");
      // A whole ring later than t0 (same slot): t0 + 1 s's count moves to its slot; the 58 seconds
      // between and t0's slot (a period out of the ring) are left as they are and read 0.
      clock.set(t0 + 60_000);
      assert.equal((await limiter.checkAndRecord("api", 1)).ok, true);
      assert.equal(await redis.client.hget(key, slot(t0 + 1_000)), `3@${second(t0) + 1}`);
      assert.equal(await redis.client.hget(key, slot(t0)), `2@${second(t0)}`);
      const buckets = await store.query("api").lastSeconds(60).buckets();
      assert.deepEqual(
        buckets,
        [1, ...Array.from({ length: 58 }, () => 0), 3],
        `fixedWindowScript: ${fixedWindowScript}`,
      );
      assert.equal(await store.query("api").lastMinutes(2).sum(), 6);
      // Moving on by more than a ring writes no seconds slot at all: every one names a period out of it.
      const secondsSlots = async (): Promise<string[]> =>
        (await redis.client.hkeys(key)).filter((field: string) => field.startsWith("0:"));
      const before: string[] = await secondsSlots();
      clock.set(t0 + 200_000);
      assert.equal((await limiter.checkAndRecord("api", 4)).ok, true);
      assert.deepEqual(await secondsSlots(), before);
      assert.deepEqual(
        await store.query("api").lastSeconds(60).buckets(),
        [4, ...Array.from({ length: 59 }, () => 0)],
        `fixedWindowScript: ${fixedWindowScript}`,
      );
    }
  });

  it("upgrades an event written by an earlier build (layout v2) in place, counts kept", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const clock = new TestClock(Date.UTC(2026, 10, 24, 10, 0, 30));
    const store = await build(fromIoRedis(redis.client), redis.prefix, clock);
    const { m: current, ords } = await currentRing(store, redis.client, redis.prefix);
    assert.match(current, /^v4\|/);
    // The v2 layout: the same m but for its version, bucket 0 of each unit in its ring slot, no c.
    const key = `${redis.prefix}{old}`;
    const t0 = clock.now();
    await redis.client.hset(key, {
      m: `v2${current.slice(2)}`,
      l: String(t0),
      p: "0",
      f: String(t0 - 1_000),
      [`0:${ords[0]! % 60}`]: "4",
      [`0:${(ords[0]! - 1) % 60}`]: "2",
      [`1:${ords[1]! % 60}`]: "6",
      [`2:${ords[2]! % 24}`]: "6",
    });
    const limiter = store.limit().atMost("old", 7, "minutes");
    assert.deepEqual(await limiter.checkAndRecord("old"), { ok: true });
    assert.equal((await limiter.checkAndRecord("old")).ok, false);
    assert.equal(await redis.client.hget(key, "m"), current);
    assert.equal(await redis.client.hget(key, "c"), "5,7,7");
    assert.equal(await redis.client.hget(key, `0:${(ords[0]! - 1) % 60}`), `2@${ords[0]! - 1}`);
    assert.deepEqual(await store.query("old").lastSeconds(2).buckets(), [5, 2]);
    assert.equal(await store.query("old").lastHours(1).sum(), 7);
    assert.equal(await store.query("old").firstSeenAt(), t0 - 1_000);
  });

  it("upgrades an event written by an earlier build (layout v3) in place, counts kept", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const clock = new TestClock(Date.UTC(2026, 10, 24, 10, 0, 30));
    const store = await build(fromIoRedis(redis.client), redis.prefix, clock);
    const {
      m: current,
      ords: [s, m],
    } = await currentRing(store, redis.client, redis.prefix);
    // The v3 layout: bare counts in the slots (the skipped periods' slots deleted), bucket 0 in c and
    // its own slot stale (a count from a whole ring earlier, never read).
    const key = `${redis.prefix}{old}`;
    const t0 = clock.now();
    await redis.client.hset(key, {
      m: `v3${current.slice(2)}`,
      l: String(t0),
      p: "0",
      c: "4,6,6",
      f: String(t0 - 3_000),
      [`0:${s! % 60}`]: "9",
      [`0:${(s! - 1) % 60}`]: "2",
      [`0:${(s! - 3) % 60}`]: "0",
      [`1:${(m! - 1) % 60}`]: "5",
    });
    for (const fixedWindowScript of [true, false]) {
      // Each pass upgrades its own copy, through one script or the other.
      const copy: string = `${redis.prefix}{old-${fixedWindowScript}}`;
      await redis.client.copy(key, copy);
      const other = await SharedEventStore.builder()
        .withClock(clock)
        .timeZone("UTC")
        .forRateLimiting()
        .withBackend(redisBackend(fromIoRedis(redis.client), { prefix: redis.prefix, fixedWindowScript }))
        .build();
      const id = `old-${fixedWindowScript}`;
      assert.deepEqual(await other.limit().atMost(id, 7, "seconds").checkAndRecord(id), { ok: true });
      assert.equal(await redis.client.hget(copy, "m"), current);
      assert.equal(await redis.client.hget(copy, "c"), "5,7,7");
      assert.equal(await redis.client.hget(copy, `0:${(s! - 1) % 60}`), `2@${s! - 1}`);
      assert.equal(await redis.client.hget(copy, `0:${(s! - 3) % 60}`), `0@${s! - 3}`);
      assert.equal(await redis.client.hget(copy, `1:${(m! - 1) % 60}`), `5@${m! - 1}`);
      assert.equal(await redis.client.hexists(copy, `0:${s! % 60}`), 0);
      assert.deepEqual(await other.query(id).lastSeconds(4).buckets(), [5, 2, 0, 0]);
      assert.deepEqual(await other.query(id).lastMinutes(2).buckets(), [7, 5]);
      assert.equal(await other.query(id).firstSeenAt(), t0 - 3_000);
    }
  });

  it("rejects a process whose layout differs from the stored one (INVALID_CONFIG)", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const a = await build(fromIoRedis(redis.client), redis.prefix);
    await a.record("x");
    const b = await SharedEventStore.builder()
      .withClock(new TestClock())
      .timeZone("UTC")
      .trackMinutes(30)
      .withBackend(redisBackend(fromIoRedis(redis.client), { prefix: redis.prefix }))
      .build();
    await assert.rejects(b.record("x"), { code: "INVALID_CONFIG" });
    await b.record("y"); // a fresh event takes the new layout
  });

  it("saturates buckets at 2^32 - 1", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const store = await build(fromIoRedis(redis.client), redis.prefix);
    await store.recordCount("big", 4_294_967_295);
    await store.recordCount("big", 10);
    assert.equal(await store.query("big").lastSeconds(1).sum(), 4_294_967_295);
  });

  it("uses Redis TIME with clockSource('server') (uniform alignment only)", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const backend = redisBackend(fromIoRedis(redis.client), { prefix: redis.prefix });
    await assert.rejects(SharedEventStore.builder().withBackend(backend).clockSource("server").build(), {
      code: "INVALID_CONFIG",
    });
    // The client clock is far in the past: only the server's now can make these answers right.
    const store = await SharedEventStore.builder()
      .withClock(new TestClock("2001-01-01T00:00:00Z"))
      .alignment("uniform")
      .forRateLimiting()
      .clockSource("server")
      .withBackend(backend)
      .build();
    const [seconds] = await redis.client.time();
    const serverNow = Number(seconds) * 1000;
    await store.recordCount("srv", 2);
    const at = await store.query("srv").lastSeenAt();
    assert.ok(at !== undefined && Math.abs(at - serverNow) < 5_000, `lastSeenAt ${at} vs server ${serverNow}`);
    assert.equal(await store.query("srv").lastHours(1).sum(), 2);
    const limiter = store.limit().atMost("srv", 3, "hours");
    assert.deepEqual(await limiter.checkAndRecord("srv"), { ok: true });
    assert.equal((await limiter.checkAndRecord("srv")).ok, false);
    await store.recordAgo("srv", "2h");
    assert.equal(await store.query("srv").lastHours(3).sum(), 4);
    assert.throws(() => store.limit().atMost("srv", 3, "hours", { sliding: true }), { code: "INVALID_CONFIG" });
  });
});
