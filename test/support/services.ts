/**
 * Real servers for integration tests. Each test gets its own Redis key prefix or PostgreSQL
 * schema, removed when the test ends. When a server is absent the test is skipped with the reason
 * printed; with TALLY_REQUIRE_SERVICES=1 (CI) it fails instead, so CI never passes by skipping.
 *
 *   it("persists", async (t) => {
 *     const redis = await useRedis(t);
 *     if (redis === undefined) return; // skipped, reason printed
 *     ...
 *   });
 */

import { randomBytes } from "node:crypto";
import type { TestContext } from "node:test";
import { Redis as IoRedis } from "ioredis";
import pg from "pg";
import { createClient, type RedisClientType } from "redis";

export const redisUrl = process.env.TALLY_REDIS_URL ?? "redis://127.0.0.1:6379";
export const postgresUrl = process.env.TALLY_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const servicesRequired = process.env.TALLY_REQUIRE_SERVICES === "1";

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
}

let redisProbe: Promise<string | undefined> | undefined;
let postgresProbe: Promise<string | undefined> | undefined;

/** undefined when Redis answers PING, else the reason it does not. */
export function redisUnavailable(): Promise<string | undefined> {
  redisProbe ??= (async () => {
    const client = new IoRedis(redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      connectTimeout: 10_000,
      retryStrategy: () => null,
    });
    client.on("error", () => {});
    try {
      await client.connect();
      await client.ping();
      return undefined;
    } catch (error) {
      return `Redis not reachable at ${redisUrl}: ${(error as Error).message}`;
    } finally {
      client.disconnect();
    }
  })();
  return redisProbe;
}

/** undefined when PostgreSQL answers, else the reason it does not. */
export function postgresUnavailable(): Promise<string | undefined> {
  postgresProbe ??= (async () => {
    const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 10_000 });
    try {
      await client.connect();
      await client.query("select 1");
      return undefined;
    } catch (error) {
      return `PostgreSQL not reachable at ${postgresUrl}: ${(error as Error).message}`;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return postgresProbe;
}

function skipOrFail(t: TestContext, reason: string): undefined {
  if (servicesRequired) throw new Error(`${reason} (TALLY_REQUIRE_SERVICES=1, so this fails instead of skipping)`);
  console.log(`# skipped: ${reason}`);
  t.skip(reason);
  return undefined;
}

export interface RedisForTest {
  url: string;
  /** A key prefix no other test uses; every key under it is deleted when the test ends. */
  prefix: string;
  /** An ioredis client, quit when the test ends. */
  client: IoRedis;
  /** Another connection for the same test (for "two processes" style tests); closed at the end. */
  connect(): IoRedis;
  /** A connected node-redis client; closed at the end. */
  nodeRedis(): Promise<RedisClientType>;
}

export async function useRedis(t: TestContext): Promise<RedisForTest | undefined> {
  const reason = await redisUnavailable();
  if (reason !== undefined) return skipOrFail(t, reason);
  const prefix = `${uniqueName("tally_test")}:`;
  const opened: Array<{ close(): Promise<unknown> }> = [];
  const connect = (): IoRedis => {
    const client = new IoRedis(redisUrl, { maxRetriesPerRequest: 1 });
    opened.push({ close: () => client.quit().catch(() => client.disconnect()) });
    return client;
  };
  const client = connect();
  t.after(async () => {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== "0");
    for (const c of opened.reverse()) await c.close();
  });
  return {
    url: redisUrl,
    prefix,
    client,
    connect,
    nodeRedis: async () => {
      const c = createClient({ url: redisUrl }) as RedisClientType;
      await c.connect();
      opened.push({ close: () => c.quit().catch(() => undefined) });
      return c;
    },
  };
}

export interface PostgresForTest {
  url: string;
  /** A schema no other test uses, dropped (cascade) when the test ends. */
  schema: string;
  /** A pool whose connections have `search_path` set to the schema; ended when the test ends. */
  pool: pg.Pool;
  /** The connection string with the schema as search_path, for child processes. */
  urlWithSchema: string;
}

export async function usePostgres(t: TestContext): Promise<PostgresForTest | undefined> {
  const reason = await postgresUnavailable();
  if (reason !== undefined) return skipOrFail(t, reason);
  const schema = uniqueName("tally_test");
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`create schema "${schema}"`);
  await admin.end();
  const pool = new pg.Pool({ connectionString: postgresUrl, options: `-c search_path="${schema}"`, max: 8 });
  t.after(async () => {
    await pool.end();
    const cleanup = new pg.Client({ connectionString: postgresUrl });
    await cleanup.connect();
    await cleanup.query(`drop schema if exists "${schema}" cascade`);
    await cleanup.end();
  });
  const url = new URL(postgresUrl);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return { url: postgresUrl, schema, pool, urlWithSchema: url.toString() };
}
