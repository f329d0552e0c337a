import { describe, it } from "node:test";
import { postgresUnavailable, redisUnavailable } from "../../support/services.ts";
import { requireService } from "./scale-services.ts";
import { runStress, SMALL } from "./stress-run.ts";

// Spec §12 stress runs (see stress-run.ts); `npm run stress` runs the same pairings large.
const postgres = (await postgresUnavailable()) === undefined;
const redis = (await redisUnavailable()) === undefined;

if (postgres) {
  describe("stress: PostgreSQL stream", () => {
    it("-> SQLite rollups", async () => {
      await runStress("postgres", "sqlite", SMALL);
    });
    if (postgres) {
      it("-> PostgreSQL rollups", async () => {
        await runStress("postgres", "postgres", SMALL);
      });
    }
    if (redis) {
      it("-> Redis rollups", async () => {
        await runStress("postgres", "redis", SMALL);
      });
    }
  });
}
await requireService("postgres", "stress: PostgreSQL stream x PostgreSQL (service)");
await requireService("redis", "stress: PostgreSQL stream x Redis (service)");
