/**
 * The one shape tally needs from a Redis client: run a command given as strings.
 *
 * tally never imports `redis` or `ioredis`; users pass the client they already have through one of
 * the adapters below, and tests may pass anything with `run`. `firstKey` is the command's first key
 * (or "" for keyless commands): node-redis Cluster needs it to route the command to its slot.
 *
 * Contract:
 * - `run` resolves to the raw reply (string, number, null, arrays of those; Buffers are not asked for)
 *   and rejects with the client's own error; callers wrap failures in `TallyError("STORAGE_FAILED")`.
 * - The adapter never connects, quits or reconfigures the client: whoever made it owns it.
 */

import { TallyError } from "../../errors.ts";

export interface RedisCommandRunner {
  run(args: readonly string[], firstKey: string): Promise<unknown>;
}

/** node-redis (`redis` package, v4+): `client.sendCommand(args)`. */
export interface NodeRedisLike {
  sendCommand(args: string[]): Promise<unknown>;
}

/** node-redis Cluster: `cluster.sendCommand(firstKey, isReadonly, args)`. */
export interface NodeRedisClusterLike {
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
}

/** ioredis client or Cluster: `client.call(command, ...args)`. */
export interface IoRedisLike {
  call(command: string, ...args: string[]): Promise<unknown>;
}

export function fromNodeRedis(client: NodeRedisLike): RedisCommandRunner {
  return { run: (args) => client.sendCommand([...args]) };
}

export function fromNodeRedisCluster(cluster: NodeRedisClusterLike): RedisCommandRunner {
  return { run: (args, firstKey) => cluster.sendCommand(firstKey === "" ? undefined : firstKey, false, [...args]) };
}

export function fromIoRedis(client: IoRedisLike): RedisCommandRunner {
  return {
    run: (args) => {
      if (args.length === 0) return Promise.reject(new Error("empty Redis command"));
      // `call(command, ...rest)` with the array as it is: no rest array copied on every command.
      return Reflect.apply(client.call, client, args) as Promise<unknown>;
    },
  };
}

/** Accepts a runner as it is, or adapts a node-redis or ioredis client by its shape. */
export function toCommandRunner(client: RedisCommandRunner | NodeRedisLike | IoRedisLike): RedisCommandRunner {
  if ("run" in client && typeof client.run === "function") return client;
  if ("call" in client && typeof client.call === "function") return fromIoRedis(client);
  return fromNodeRedis(client as NodeRedisLike);
}

/**
 * The runner of a store's `options.client`; a `TallyError("INVALID_OPTION")` naming `store` when the
 * options or the client are missing (the meter stores' constructors start with this check).
 */
export function runnerOfOptions(options: unknown, store: string): RedisCommandRunner {
  const client = typeof options === "object" && options !== null ? (options as { client?: unknown }).client : null;
  if (typeof client !== "object" || client === null) {
    throw new TallyError("INVALID_OPTION", `${store} needs { client }: an ioredis or node-redis client`);
  }
  return toCommandRunner(client as RedisCommandRunner | NodeRedisLike | IoRedisLike);
}
