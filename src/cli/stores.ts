/**
 * Opens the components a command needs from its resolved configuration: the meter (stream and
 * rollups by their specs), the counter store and the tracker manager. The embedded default is
 * SQLite at `config.db` and the file stream under `config.dataDir`; PostgreSQL and Redis stores are
 * loaded through their entry files only when a spec names them, so the default path never loads a
 * network client. Every handle's `close()` releases exactly what it opened.
 */

import { TallyError } from "../errors.ts";
import { EventStore } from "../index.ts";
import { EventMeter, FileStream } from "../meter.ts";
import { SqliteRollups, SqliteStorage, SqliteTrackerStore } from "../sqlite.ts";
import type { Clock } from "../time/clock.ts";
import { TrackingManager } from "../tracker.ts";
import type { TallyConfig } from "./config.ts";
import { UsageError } from "./usage-error.ts";

type MeterOptions = NonNullable<ConstructorParameters<typeof EventMeter>[0]>;
export type StreamStore = NonNullable<MeterOptions["stream"]>;
export type RollupStore = NonNullable<MeterOptions["rollups"]>;

export interface MeterHandle {
  meter: EventMeter;
  /** The clock the meter was built with. */
  clock: Clock | undefined;
  stream: StreamStore;
  rollups: RollupStore;
  close(): Promise<void>;
}

/** Closers for clients this module created (pools, Redis connections), run after the meter closes. */
export type Closer = () => Promise<void>;

export async function openMeter(config: TallyConfig, options: { clock?: Clock } = {}): Promise<MeterHandle> {
  const closers: Closer[] = [];
  try {
    const stream = await openStream(config.meterStream, closers);
    const rollups = await openRollups(config.meterRollups, closers);
    const meterOptions: MeterOptions = { namespace: config.namespace, stream, rollups };
    meterOptions.clock = options.clock ?? config.clock;
    const meter = new EventMeter(meterOptions);
    return {
      meter,
      clock: options.clock,
      stream,
      rollups,
      async close() {
        await meter.close();
        await runClosers(closers);
      },
    };
  } catch (error) {
    await runClosers(closers);
    throw error;
  }
}

export async function runClosers(closers: Closer[]): Promise<void> {
  for (const close of closers.reverse()) await close().catch(() => {});
}

async function openStream(spec: string, closers: Closer[]): Promise<StreamStore> {
  if (spec.startsWith("file:")) return new FileStream({ path: spec.slice("file:".length) });
  if (isRedis(spec)) {
    const RedisStream = await optionalExport("redis", "RedisStream");
    return new RedisStream({ client: await redisClient(spec, closers) }) as StreamStore;
  }
  if (isPostgres(spec)) {
    const PostgresStream = await optionalExport("postgres", "PostgresStream");
    return new PostgresStream({ pool: await postgresPool(spec, closers) }) as StreamStore;
  }
  throw new UsageError(`unknown stream "${spec}": use file:PATH, redis://… or postgres://…`);
}

/** A rollups store for a spec, with the closers of any client it created. */
export async function openRollups(spec: string, closers: Closer[]): Promise<RollupStore> {
  if (spec.startsWith("sqlite:")) return new SqliteRollups({ path: spec.slice("sqlite:".length) });
  if (isPostgres(spec)) {
    const PostgresRollups = await optionalExport("postgres", "PostgresRollups");
    return new PostgresRollups({ pool: await postgresPool(spec, closers) }) as RollupStore;
  }
  if (isRedis(spec)) {
    const RedisRollups = await optionalExport("redis", "RedisRollups");
    return new RedisRollups({ client: await redisClient(spec, closers) }) as RollupStore;
  }
  throw new UsageError(`unknown rollups "${spec}": use sqlite:PATH, postgres://… or redis://…`);
}

const isRedis = (spec: string) => /^rediss?:\/\//.test(spec);
const isPostgres = (spec: string) => /^postgres(ql)?:\/\//.test(spec);

// biome-ignore lint/suspicious/noExplicitAny: adapters of optional entries are constructed by name
type AnyConstructor = new (...args: any[]) => any;

/** A class exported by `tally/postgres` or `tally/redis`, or NOT_CONFIGURED when this build lacks it. */
export async function optionalExport(entry: "postgres" | "redis", name: string): Promise<AnyConstructor> {
  const mod: Record<string, unknown> =
    entry === "postgres" ? await import("../postgres.ts") : await import("../redis.ts");
  const value = mod[name];
  if (typeof value !== "function") {
    throw new TallyError("NOT_CONFIGURED", `${name} is not available in tally/${entry} of this build`);
  }
  return value as AnyConstructor;
}

/** A `pg` Pool for the URL, ended when the handle closes; a missing `pg` gets an install hint. */
export async function postgresPool(url: string, closers: Closer[]): Promise<unknown> {
  let pg: { default: { Pool: new (options: { connectionString: string; max?: number }) => PoolLike } };
  try {
    pg = (await import("pg")) as unknown as typeof pg;
  } catch (error) {
    throw new TallyError("NOT_CONFIGURED", "the PostgreSQL client is missing; install it with: npm install pg", {
      cause: error,
    });
  }
  const pool = new pg.default.Pool({ connectionString: url, max: 4 });
  pool.on("error", () => {});
  closers.push(() => pool.end());
  return pool;
}

interface PoolLike {
  on(event: "error", listener: (error: Error) => void): unknown;
  end(): Promise<void>;
}

async function redisClient(url: string, closers: Closer[]): Promise<unknown> {
  let ioredis: {
    Redis: new (url: string, options: object) => { quit(): Promise<unknown>; on(e: string, l: () => void): unknown };
  };
  try {
    ioredis = (await import("ioredis")) as unknown as typeof ioredis;
  } catch (error) {
    throw new TallyError("NOT_CONFIGURED", "the Redis client is missing; install it with: npm install ioredis", {
      cause: error,
    });
  }
  const client = new ioredis.Redis(url, { maxRetriesPerRequest: 2 });
  client.on("error", () => {});
  closers.push(async () => {
    await client.quit();
  });
  return client;
}

export interface CounterHandle {
  store: EventStore;
  close(): Promise<void>;
}

/** The counter store on `config.db` (SQLite), auto-persisting every `autoPersist` when given. */
export async function openCounters(
  config: TallyConfig,
  options: { autoPersist?: string; clock?: Clock; onError?: (error: TallyError) => void } = {},
): Promise<CounterHandle> {
  const storage = await SqliteStorage.open(config.db);
  try {
    let builder = EventStore.builder().withStorage(storage);
    builder = builder.withClock(options.clock ?? config.clock);
    if (options.autoPersist !== undefined) builder = builder.autoPersist(options.autoPersist as "5s");
    if (options.onError !== undefined) builder = builder.onError(options.onError);
    const store = await builder.build();
    return {
      store,
      async close() {
        try {
          await store.close();
        } finally {
          await storage.close();
        }
      },
    };
  } catch (error) {
    await storage.close();
    throw error;
  }
}

export interface TrackerHandle {
  manager: TrackingManager;
  close(): Promise<void>;
}

/** The tracker manager on `config.db` (SQLite). */
export function openTrackers(config: TallyConfig, options: { clock?: Clock } = {}): TrackerHandle {
  const store = new SqliteTrackerStore({ path: config.db });
  const manager = new TrackingManager({ store, clock: options.clock ?? config.clock });
  return { manager, close: () => manager.close() };
}
