import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { emptyRecord } from "../../../src/meter/rollup-record.ts";
import { RedisRollups } from "../../../src/storage/redis/meter-rollups.ts";
import { fromNodeRedis } from "../../../src/storage/redis/redis-client.ts";
import { type MeterRollupsHarness, meterRollupsContract } from "../../../src/testing/meter-rollups-contract.ts";
import { useRedis } from "../../support/services.ts";
import { requireService, scratchRedis } from "./scale-services.ts";

const FIELDS: Record<string, string> = { durationMsHist: "d:", intervalMsHist: "i:" };

if (await requireService("redis", "RedisRollups contract (Redis)")) {
  const redis = await scratchRedis();
  after(() => redis.close());
  const client = redis.client();
  const peerClient = redis.client();
  meterRollupsContract("RedisRollups", async (): Promise<MeterRollupsHarness> => {
    const rollups = new RedisRollups({ client, keyPrefix: redis.prefix });
    return {
      rollups,
      peer: () => new RedisRollups({ client: peerClient, keyPrefix: redis.prefix }),
      leaseClock: "server",
      corrupt: async (ref, tier, start, indexKey, field, value) => {
        const key = rollups.bucketKeyForTesting(ref, tier, start, indexKey);
        const hist = FIELDS[field];
        if (hist === undefined) {
          await client.hset(key, field, typeof value === "number" ? BigInt(value).toString() : String(value));
          return;
        }
        const fields = (await client.hkeys(key)).filter((f) => f.startsWith(hist));
        if (fields.length > 0) await client.hdel(key, ...fields);
        for (const [k, v] of Object.entries(JSON.parse(String(value)) as Record<string, unknown>)) {
          await client.hset(key, `${hist}${k}`, String(v));
        }
      },
      close: () => rollups.close(),
    };
  });
}

describe("RedisRollups", () => {
  it("rejects bad options", () => {
    assert.throws(() => new RedisRollups({} as never), { code: "INVALID_OPTION" });
    assert.throws(() => new RedisRollups({ client: { run: async () => null }, keyPrefix: "a{b" }), {
      code: "INVALID_OPTION",
    });
    assert.throws(() => new RedisRollups({ client: { run: async () => null }, maxEntriesPerCommit: 0 }), {
      code: "INVALID_OPTION",
    });
  });

  it("keeps every key of a report under one hash tag, and works through node-redis", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const rollups = new RedisRollups({ client: fromNodeRedis(await redis.nodeRedis()), keyPrefix: redis.prefix });
    const ref = { namespace: "shop", name: "invoice_delivery", version: 3 };
    const lease = await rollups.acquireLease("shop:report:invoice_delivery:v3", 5000, 0);
    assert.ok(lease);
    const d = emptyRecord("minute", 60_000, "provider", "provider=a%20b");
    d.count = 1;
    d.durationMsCount = 1;
    d.durationMsSum = 40;
    d.durationMsHist.set(36, 1);
    const result = await rollups.commit(ref, {
      rollups: [d],
      intervalState: [{ param: "feed", value: "7", lastMs: 9 }],
      markers: [{ unit: "u", expected: 0, high: 2 }],
      fence: lease,
      now: 60_000,
    });
    assert.deepEqual(result, { ok: true });
    const keys = await redis.client.keys(`${redis.prefix}*`);
    const tags = new Set(keys.filter((k) => !k.endsWith(":meter-reports")).map((k) => /\{([^}]*)\}/.exec(k)?.[1]));
    assert.deepEqual([...tags], ["shop:report:invoice_delivery:v3"]);
    const [record] = await rollups.readBuckets(ref, "minute", [60_000], "provider=a%20b");
    assert.equal(record?.durationMsSum, 40);
    assert.deepEqual([...(record?.durationMsHist ?? [])], [[36, 1]]);
  });

  it("buckets expire retention past their end by the server clock; ttl null keeps them", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const ref = { namespace: "n", name: "e", version: 1 };
    const now = Date.UTC(2026, 0, 1, 12);
    const d = emptyRecord("minute", now - 120_000, "", "all");
    d.count = 1;
    const withTtl = new RedisRollups({ client: redis.client, keyPrefix: `${redis.prefix}a:`, ttl: "1h" });
    await withTtl.commit(ref, {
      rollups: [d],
      intervalState: [],
      markers: [{ unit: "u", expected: 0, high: 1 }],
      fence: null,
      now,
    });
    const key = withTtl.bucketKeyForTesting(ref, "minute", d.bucketStart, "all");
    const pttl = await redis.client.pttl(key);
    assert.ok(pttl > 3_500_000 && pttl <= 3_600_000, `bucket ttl ${pttl}`);
    assert.ok((await redis.client.pttl(`${redis.prefix}a:{n:report:e:v1}:m`)) > 0, "markers expire too");
    const future = emptyRecord("hour", now + 3_600_000, "", "all");
    future.count = 1;
    await withTtl.commit(ref, { rollups: [future], intervalState: [], markers: [], fence: null, now });
    const futureTtl = await redis.client.pttl(withTtl.bucketKeyForTesting(ref, "hour", future.bucketStart, "all"));
    assert.ok(futureTtl > 3 * 3_600_000 - 10_000, "a bucket ending later lives retention past its end");
    const keep = new RedisRollups({ client: redis.client, keyPrefix: `${redis.prefix}b:`, ttl: null });
    await keep.commit(ref, { rollups: [d], intervalState: [], markers: [], fence: null, now });
    assert.equal(await redis.client.pttl(keep.bucketKeyForTesting(ref, "minute", d.bucketStart, "all")), -1);
  });

  it("listBuckets skips starts whose bucket expired", async (t) => {
    const redis = await useRedis(t);
    if (!redis) return;
    const ref = { namespace: "n", name: "e", version: 1 };
    const rollups = new RedisRollups({ client: redis.client, keyPrefix: redis.prefix, ttl: null });
    const rows = [0, 1, 2, 3].map((i) => {
      const r = emptyRecord("hour", i * 3_600_000, "", "all");
      r.count = i + 1;
      return r;
    });
    await rollups.commit(ref, { rollups: rows, intervalState: [], markers: [], fence: null, now: 0 });
    await redis.client.del(rollups.bucketKeyForTesting(ref, "hour", 3_600_000, "all"));
    const listed = await rollups.listBuckets(ref, "hour", "all", 2);
    assert.deepEqual(
      listed.map((r) => r.count),
      [1, 3],
    );
    assert.deepEqual(
      (await rollups.listBuckets(ref, "hour", "all", 10)).map((r) => r.count),
      [1, 3, 4],
    );
  });
});
