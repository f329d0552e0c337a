import assert from "node:assert/strict";
import { it } from "node:test";
import { RedisTrackerStore } from "../../../src/redis.ts";
import { runTrackerStoreContract } from "../../../src/testing.ts";
import { CountTracker, TrackingManager } from "../../../src/tracker.ts";
import { runChild } from "../../support/child.ts";
import { useRedis } from "../../support/services.ts";

const crashWriter = new URL("../../tracker/fixtures/crash-writer.ts", import.meta.url).pathname;

runTrackerStoreContract(
  async (t) => {
    const redis = await useRedis(t);
    if (redis === undefined) return undefined;
    const prefix = `${redis.prefix}a`;
    return {
      store: new RedisTrackerStore({ client: redis.client, prefix }),
      reopen: () => new RedisTrackerStore({ client: redis.connect(), prefix }),
      sibling: () => new RedisTrackerStore({ client: redis.client, prefix: `${redis.prefix}b` }),
      crashMidTransaction: async (groupId) => {
        const r = await runChild(crashWriter, ["redis", groupId], {
          env: { TRACKER_REDIS_URL: redis.url, TRACKER_REDIS_PREFIX: prefix },
        });
        assert.equal(r.signal, "SIGKILL", r.stderr);
        assert.match(r.stdout, /writes done/);
      },
    };
  },
  { name: "RedisTrackerStore" },
);

it("RedisTrackerStore: node-redis clients, escaped group ids in one hash tag, and the expiry sweep", async (t) => {
  const redis = await useRedis(t);
  if (redis === undefined) return;
  const client = await redis.nodeRedis();
  let now = Date.UTC(2025, 0, 6, 12);
  const manager = new TrackingManager({
    store: new RedisTrackerStore({ client, prefix: `${redis.prefix}n` }),
    clock: { now: () => now },
  });
  const group = "team{a}%b";
  await manager.addTracker(group, new CountTracker({ name: "t", target: 100, conditions: [] }), { expire: "1m" });
  await Promise.all(Array.from({ length: 10 }, (_, i) => manager.track(group, {}, { eventId: `e${i % 5}` })));
  assert.equal((await manager.getTrackers(group))[0]?.progress, 5);
  const keys = await redis.client.keys(`${redis.prefix}n:trk:*`);
  assert.ok(keys.includes(`${redis.prefix}n:trk:{team%7Ba%7D%25b}`), keys.join(","));
  now += 61_000;
  assert.equal(await manager.sweepExpired(), 1);
  assert.deepEqual(await manager.getTrackers(group), []);
  await manager.close();
});
