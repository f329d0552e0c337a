import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { buildPayload } from "../../../src/meter/payload.ts";
import { RedisStream } from "../../../src/storage/redis/meter-stream.ts";
import { fromNodeRedis } from "../../../src/storage/redis/redis-client.ts";
import { type MeterStreamHarness, meterStreamContract } from "../../../src/testing/meter-stream-contract.ts";
import { TestClock } from "../../../src/time/clock.ts";
import { useRedis } from "../../support/services.ts";
import { requireService, scratchRedis } from "./scale-services.ts";

const CLAIM_MS = 600;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

if (await requireService("redis", "RedisStream contract (Redis)")) {
  const redis = await scratchRedis();
  after(() => redis.close());
  const client = redis.client();
  const peerClient = redis.client();
  let n = 0;
  meterStreamContract("RedisStream", async (): Promise<MeterStreamHarness> => {
    const keyPrefix = `${redis.prefix}${++n}:`;
    const stream = new RedisStream({ client, keyPrefix, claimTimeout: CLAIM_MS });
    return {
      stream,
      clock: new TestClock("2026-05-06T10:00:00Z"),
      peer: () => new RedisStream({ client: peerClient, keyPrefix, claimTimeout: CLAIM_MS }),
      // Claims expire by the Redis server clock: the only way to let one pass is to wait.
      expireClaims: () => sleep(CLAIM_MS + 50),
      settle: () => {},
      multiEntryUnits: false,
      appendUnparsable: async (ref, text) => {
        await client.xadd(stream.keyOf(ref), "*", "p", text);
      },
      close: () => stream.close(),
    };
  });
}

describe("RedisStream", () => {
  it("a reader whose claim was taken over cannot ack or release the rows", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const ref = { namespace: "ns", name: "job" };
    const a = new RedisStream({ client: redis.client, keyPrefix: redis.prefix, claimTimeout: 100 });
    const b = new RedisStream({ client: redis.connect(), keyPrefix: redis.prefix, claimTimeout: 100 });
    await a.append("ns", [buildPayload("job", "success", 0, 1, {}), buildPayload("job", "success", 0, 2, {})]);
    const stale = await a.read(ref, { maxRows: 10, reader: "a" });
    assert.equal(stale.entries.length, 2);
    await sleep(150);
    const fresh = await b.read(ref, { maxRows: 10, reader: "b" });
    assert.deepEqual(
      fresh.entries.map((e) => e.id),
      stale.entries.map((e) => e.id),
    );
    assert.deepEqual(await a.ack(stale), { ok: false, removedUnits: [] });
    await a.release(stale);
    assert.equal((await a.read(ref, { maxRows: 10, reader: "a2" })).entries.length, 0, "b's claim was not undone");
    assert.equal(await a.pendingCount(ref), 2);
    const ack = await b.ack(fresh);
    assert.equal(ack.ok, true);
    assert.deepEqual(
      ack.removedUnits,
      fresh.entries.map((e) => e.unit),
    );
    assert.equal(await b.pendingCount(ref), 0);
  });

  it("works through node-redis, recreates a deleted group, and keeps rows apart per event", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const stream = new RedisStream({ client: fromNodeRedis(await redis.nodeRedis()), keyPrefix: redis.prefix });
    const payloads = Array.from({ length: 2500 }, (_, i) =>
      buildPayload(i % 2 === 0 ? "even" : "odd", "success", i, 1, { i }),
    );
    await stream.append("ns", payloads);
    const even = { namespace: "ns", name: "even" };
    assert.equal(await stream.pendingCount(even), 1250);
    assert.equal(await stream.pendingCount({ namespace: "ns", name: "odd" }), 1250);
    const batch = await stream.read(even, { maxRows: 5000, reader: "r" });
    assert.deepEqual(
      batch.entries.map((e) => (e.payload as { params: { i: number } }).params.i),
      payloads.filter((_, i) => i % 2 === 0).map((p) => p.params.i),
      "in append order",
    );
    assert.equal((await stream.ack(batch)).ok, true);
    await redis.client.del(stream.keyOf(even));
    await stream.append("ns", [buildPayload("even", "success", 0, 1, {})]);
    await redis.client.xgroup("DESTROY", stream.keyOf(even), "tally");
    assert.equal((await stream.read(even, { maxRows: 10, reader: "r" })).entries.length, 1);
  });

  it("rejects bad options", () => {
    assert.throws(() => new RedisStream({} as never), { code: "INVALID_OPTION" });
    assert.throws(() => new RedisStream({ client: { run: async () => null }, claimTimeout: 0 }), {
      code: "INVALID_OPTION",
    });
  });
});
