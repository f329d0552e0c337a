import { describe, it } from "node:test";
import { postgresUnavailable, redisUnavailable } from "../../support/services.ts";
import { requireService } from "./scale-services.ts";
import { runStress, SMALL } from "./stress-run.ts";

// Spec §12 stress runs (see stress-run.ts); `npm run stress` runs the same pairings large.
const postgres = (await postgresUnavailable()) === undefined;
const redis = (await redisUnavailable()) === undefined;

if (redis) {
  describe("stress: Redis stream", () => {
    it("-> SQLite rollups", async () => {
      await runStress("redis", "sqlite", SMALL);
    });
    if (postgres) {
      it("-> PostgreSQL rollups", async () => {
        await runStress("redis", "postgres", SMALL);
      });
    }
    if (redis) {
      it("-> Redis rollups", async () => {
        await runStress("redis", "redis", SMALL);
      });
    }
  });
}
await requireService("postgres", "stress: Redis stream x PostgreSQL (service)");
await requireService("redis", "stress: Redis stream x Redis (service)");
