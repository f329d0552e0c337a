/**
 * Real Redis and PostgreSQL for the scale tests, for code that has no test context (the contract
 * factories and the stress runs): a fresh schema or key prefix per call, removed by `close()`.
 * `requireService` registers one test that skips (or fails under TALLY_REQUIRE_SERVICES=1) when
 * the server is absent, through the shared `useRedis`/`usePostgres`.
 */

import { it } from "node:test";
import { Redis as IoRedis } from "ioredis";
import pg from "pg";
import {
  postgresUnavailable,
  postgresUrl,
  redisUnavailable,
  redisUrl,
  uniqueName,
  usePostgres,
  useRedis,
} from "../../support/services.ts";

export interface ScratchPostgres {
  schema: string;
  urlWithSchema: string;
  pool(max?: number): pg.Pool;
  close(): Promise<void>;
}

export async function scratchPostgres(): Promise<ScratchPostgres> {
  const schema = uniqueName("tally_scale");
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`create schema "${schema}"`);
  await admin.end();
  const pools: pg.Pool[] = [];
  const url = new URL(postgresUrl);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return {
    schema,
    urlWithSchema: url.toString(),
    pool(max = 4) {
      const pool = new pg.Pool({ connectionString: postgresUrl, options: `-c search_path="${schema}"`, max });
      pool.on("error", () => {});
      pools.push(pool);
      return pool;
    },
    async close() {
      for (const pool of pools) await pool.end().catch(() => {});
      const cleanup = new pg.Client({ connectionString: postgresUrl });
      await cleanup.connect();
      await cleanup.query(`drop schema if exists "${schema}" cascade`);
      await cleanup.end();
    },
  };
}

export interface ScratchRedis {
  prefix: string;
  client(): IoRedis;
  close(): Promise<void>;
}

export async function scratchRedis(): Promise<ScratchRedis> {
  const prefix = `${uniqueName("tally_scale")}:`;
  const clients: IoRedis[] = [];
  const connect = (): IoRedis => {
    const client = new IoRedis(redisUrl, { maxRetriesPerRequest: 1 });
    client.on("error", () => {});
    clients.push(client);
    return client;
  };
  const admin = connect();
  return {
    prefix,
    client: connect,
    async close() {
      let cursor = "0";
      do {
        const [next, keys] = await admin.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        cursor = next;
        if (keys.length > 0) await admin.del(...keys);
      } while (cursor !== "0");
      for (const c of clients.reverse()) await c.quit().catch(() => c.disconnect());
    },
  };
}

/** True when the server answers; otherwise registers one test that skips or fails, and returns false. */
export async function requireService(kind: "redis" | "postgres", title: string): Promise<boolean> {
  const reason = kind === "redis" ? await redisUnavailable() : await postgresUnavailable();
  if (reason === undefined) return true;
  it(title, async (t) => {
    if (kind === "redis") await useRedis(t);
    else await usePostgres(t);
  });
  return false;
}
