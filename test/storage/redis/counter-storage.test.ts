import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { isTallyError } from "../../../src/errors.ts";
import { RedisStorage } from "../../../src/storage/redis/counter-storage.ts";
import { fromNodeRedis } from "../../../src/storage/redis/redis-client.ts";
import { storageContract } from "../../../src/testing/counter-storage-contract.ts";
import { redisUrl, useRedis } from "../../support/services.ts";
import { assertWholeVersions, killWriterMidWrite } from "../crash.ts";

const isStorageFailed = (e: unknown): boolean =>
  isTallyError(e) && e.code === "STORAGE_FAILED" && e.cause instanceof Error;

storageContract("RedisStorage (ioredis)", async (t) => {
  const redis = await useRedis(t);
  if (redis === undefined) return undefined;
  return new RedisStorage(redis.client, { prefix: redis.prefix });
});

storageContract("RedisStorage (node-redis, cluster mode batches)", async (t) => {
  const redis = await useRedis(t);
  if (redis === undefined) return undefined;
  return new RedisStorage(fromNodeRedis(await redis.nodeRedis()), { prefix: `${redis.prefix}nr:`, cluster: true });
});

describe("RedisStorage", () => {
  it("stores base64 strings under the prefix and lists only its own keys", async (t) => {
    const redis = await useRedis(t);
    if (redis === undefined) return;
    const storage = new RedisStorage(redis.client, { prefix: `${redis.prefix}a*[b]?:` });
    const sibling = new RedisStorage(redis.client, { prefix: `${redis.prefix}aX[b]?:` });
    await storage.save("k", Uint8Array.of(0, 255, 10));
    await sibling.save("other", Uint8Array.of(1));
    assert.equal(await redis.client.get(`${redis.prefix}a*[b]?:k`), "AP8K");
    assert.deepEqual(await storage.listKeys(), ["k"], "glob characters in the prefix match only themselves");
    assert.deepEqual(await sibling.listKeys(), ["other"]);
  });

  it("lists every key across many SCAN pages", async (t) => {
    const redis = await useRedis(t);
    if (redis === undefined) return;
    const storage = new RedisStorage(redis.client, { prefix: redis.prefix });
    const entries = Array.from({ length: 2500 }, (_, i) => [`k${i}`, Uint8Array.of(i & 255)] as const);
    await storage.saveMany(entries);
    const keys = await storage.listKeys();
    assert.equal(keys.length, 2500);
    assert.deepEqual(new Set(keys), new Set(entries.map(([k]) => k)));
  });

  it("flags batches as atomic on one node and not in cluster mode", async (t) => {
    const redis = await useRedis(t);
    if (redis === undefined) return;
    assert.equal(new RedisStorage(redis.client).capabilities.atomicBatch, true);
    assert.equal(new RedisStorage(redis.client, { cluster: true }).capabilities.atomicBatch, false);
  });

  it("fails with STORAGE_FAILED when the server cannot be reached", async (t) => {
    const redis = await useRedis(t);
    if (redis === undefined) return;
    const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    client.on("error", () => {});
    const storage = new RedisStorage(client, { prefix: redis.prefix });
    for (const attempt of [
      storage.save("k", Uint8Array.of(1)),
      storage.saveMany([["k", Uint8Array.of(1)]]),
      storage.load("k"),
      storage.delete("k"),
      storage.listKeys(),
    ]) {
      await assert.rejects(attempt, isStorageFailed);
    }
    client.disconnect();
  });

  it("keeps the old or the new value when the writer is killed mid-write", async (t) => {
    const redis = await useRedis(t);
    if (redis === undefined) return;
    const last = await killWriterMidWrite(["redis", redis.url, redis.prefix]);
    const storage = new RedisStorage(redis.client, { prefix: redis.prefix });
    await assertWholeVersions(storage, last);
  });
});
