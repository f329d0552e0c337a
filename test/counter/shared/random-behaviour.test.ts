/**
 * The shared store on Redis against the in-process `EventStore` on random scenarios
 * (random-scenarios.ts), with both Redis scripts: the general one alone (`fixedWindowScript: false`)
 * and with the short one deciding the limit calls. `RUNS=5000 npm test -- <this file>` runs more
 * scenarios than CI's 300 (after a change to the Lua scripts, say).
 */

import { describe, it } from "node:test";
import fc from "fast-check";
import { redisBackend } from "../../../src/storage/redis/counter-backend.ts";
import { fromIoRedis } from "../../../src/storage/redis/redis-client.ts";
import { useRedis } from "../../support/services.ts";
import { randomScenarios } from "./random-scenarios.ts";
import { compareWithLocal } from "./scenario-runner.ts";

describe("SharedEventStore on Redis behaves like EventStore on random sequences", () => {
  for (const fixedWindowScript of [false, true]) {
    it(`with fixedWindowScript: ${fixedWindowScript}`, async (t) => {
      const redis = await useRedis(t);
      if (!redis) return;
      const backend = redisBackend(fromIoRedis(redis.client), {
        prefix: `${redis.prefix}r${fixedWindowScript}:`,
        fixedWindowScript,
        batching: "off",
      });
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          randomScenarios(() => `e${++run}`),
          (scenario) => compareWithLocal(scenario, backend),
        ),
        { numRuns: Number(process.env.RUNS ?? 300) },
      );
    });
  }
});
