/**
 * The shared and the in-process stores answer alike: every scenario of `scenarios.ts` runs against
 * `EventStore` and against `SharedEventStore` on a real Redis, under the same TestClock, and every
 * answer (values, verdicts, violations, retryAfter, usage, errors) must match; `expect` pins some.
 */

import { describe, it } from "node:test";
import { redisBackend } from "../../../src/storage/redis/counter-backend.ts";
import { fromIoRedis } from "../../../src/storage/redis/redis-client.ts";
import { useRedis } from "../../support/services.ts";
import { compareWithLocal } from "./scenario-runner.ts";
import { SCENARIOS } from "./scenarios.ts";

describe("SharedEventStore behaves like EventStore", () => {
  for (const scenario of SCENARIOS) {
    it(scenario.name, async (t) => {
      const redis = await useRedis(t);
      if (!redis) return;
      await compareWithLocal(scenario, redisBackend(fromIoRedis(redis.client), { prefix: redis.prefix }));
    });
  }
});
