/**
 * `RedisStorage`: counter persistence as Redis strings (see `../storage.ts` for the contract).
 *
 * - One string per key at `prefix + key`. Values are stored base64-encoded because tally talks to
 *   Redis through a string-only command runner (`redis-client.ts`), so any client works unchanged.
 * - `save` is one SET (atomic). `saveMany` is one MSET: all-or-nothing on a single node (a single
 *   command, so nothing another user of a shared connection sends can land inside it, as it could
 *   between MULTI and EXEC). With `cluster: true` it is one SET per key instead (keys in different
 *   slots cannot share a command) and `atomicBatch` is false.
 * - `listKeys` walks SCAN with `MATCH <escaped prefix>*`. On Cluster put a hash tag in the prefix
 *   (`"{app}:counters:"`) so every key, and the SCAN, lives on one node.
 * - Durability is Redis's own (RDB/AOF settings): `durable: false`.
 * - The client belongs to the caller: this adapter never connects, quits or reconfigures it.
 */

import { TallyError } from "../../errors.ts";
import { checkKey, checkValue, lastPerKey, type Storage, type StorageCapabilities, storageFailed } from "../storage.ts";
import { type IoRedisLike, type NodeRedisLike, type RedisCommandRunner, toCommandRunner } from "./redis-client.ts";

export interface RedisStorageOptions {
  /** Prepended to every key. @default "tally:counter:" */
  prefix?: string;
  /** Keys may live on different Cluster slots: `saveMany` writes key by key. @default false */
  cluster?: boolean;
}

const NAME = "RedisStorage";
const SCAN_COUNT = "1000";
const CLUSTER_WRITES = 32;

export class RedisStorage implements Storage {
  readonly capabilities: StorageCapabilities;
  readonly prefix: string;
  readonly #runner: RedisCommandRunner;
  readonly #cluster: boolean;

  constructor(client: RedisCommandRunner | NodeRedisLike | IoRedisLike, options: RedisStorageOptions = {}) {
    if (client === null || typeof client !== "object") {
      throw new TallyError(
        "INVALID_CONFIG",
        `${NAME} needs a Redis client (ioredis, node-redis) or a command runner, got ${String(client)}`,
      );
    }
    this.prefix = options.prefix ?? "tally:counter:";
    if (typeof this.prefix !== "string") {
      throw new TallyError("INVALID_CONFIG", `${NAME} prefix must be a string, got ${typeof this.prefix}`);
    }
    this.#runner = toCommandRunner(client);
    this.#cluster = options.cluster === true;
    this.capabilities = Object.freeze({ atomicBatch: !this.#cluster, durable: false, crossProcess: true });
  }

  async save(key: string, value: Uint8Array): Promise<void> {
    checkKey(NAME, key);
    checkValue(NAME, key, value);
    const redisKey = this.prefix + key;
    try {
      await this.#runner.run(["SET", redisKey, toBase64(value)], redisKey);
    } catch (error) {
      throw storageFailed(`${NAME}: could not save ${JSON.stringify(key)} (SET ${redisKey})`, error, { key });
    }
  }

  async saveMany(entries: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void> {
    const batch = lastPerKey(NAME, entries);
    if (batch.length === 0) return;
    if (this.#cluster) return this.#saveKeyByKey(batch);
    const args = ["MSET"];
    for (const [key, value] of batch) args.push(this.prefix + key, toBase64(value));
    try {
      await this.#runner.run(args, args[1] ?? "");
    } catch (error) {
      const keys = batch.map(([key]) => key);
      throw storageFailed(`${NAME}: could not save a batch of ${keys.length} keys (MSET, none written)`, error, {
        keys,
      });
    }
  }

  async #saveKeyByKey(batch: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void> {
    let next = 0;
    const failed: Array<{ key: string; error: unknown }> = [];
    const worker = async (): Promise<void> => {
      while (next < batch.length) {
        const entry = batch[next++];
        if (entry === undefined) break;
        try {
          await this.save(entry[0], entry[1]);
        } catch (error) {
          failed.push({ key: entry[0], error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CLUSTER_WRITES, batch.length) }, worker));
    if (failed.length > 0) {
      const keys = failed.map((f) => f.key);
      throw new TallyError(
        "STORAGE_FAILED",
        `${NAME}: ${keys.length} of ${batch.length} keys could not be saved (the others were): ${keys
          .slice(0, 10)
          .map((k) => JSON.stringify(k))
          .join(", ")}`,
        { cause: failed[0]?.error, details: { keys } },
      );
    }
  }

  async load(key: string): Promise<Uint8Array | undefined> {
    checkKey(NAME, key);
    const redisKey = this.prefix + key;
    let reply: unknown;
    try {
      reply = await this.#runner.run(["GET", redisKey], redisKey);
    } catch (error) {
      throw storageFailed(`${NAME}: could not load ${JSON.stringify(key)} (GET ${redisKey})`, error, { key });
    }
    return fromReply(reply, key);
  }

  /** One MGET (on Cluster, one GET per key: keys in different slots cannot share a command). */
  async loadMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    for (const key of keys) checkKey(NAME, key);
    if (keys.length === 0) return [];
    if (this.#cluster) return Promise.all(keys.map((key) => this.load(key)));
    let reply: unknown;
    try {
      reply = await this.#runner.run(["MGET", ...keys.map((key) => this.prefix + key)], this.prefix + keys[0]);
      if (!Array.isArray(reply) || reply.length !== keys.length) {
        throw new TypeError(`unexpected MGET reply of ${Array.isArray(reply) ? reply.length : typeof reply}`);
      }
    } catch (error) {
      throw storageFailed(`${NAME}: could not load ${keys.length} keys (MGET)`, error, { keys: [...keys] });
    }
    return (reply as unknown[]).map((value, i) => fromReply(value, keys[i] as string));
  }

  async delete(key: string): Promise<void> {
    checkKey(NAME, key);
    const redisKey = this.prefix + key;
    try {
      await this.#runner.run(["DEL", redisKey], redisKey);
    } catch (error) {
      throw storageFailed(`${NAME}: could not delete ${JSON.stringify(key)} (DEL ${redisKey})`, error, { key });
    }
  }

  async listKeys(): Promise<string[]> {
    const pattern = `${escapeGlob(this.prefix)}*`;
    const keys = new Set<string>();
    let cursor = "0";
    try {
      do {
        const reply = await this.#runner.run(["SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT], this.prefix);
        if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1])) {
          throw new TypeError(`unexpected SCAN reply ${JSON.stringify(reply)?.slice(0, 80)}`);
        }
        cursor = String(reply[0]);
        // SCAN may return a key more than once: the set keeps one.
        for (const found of reply[1] as unknown[]) {
          const name = String(found);
          if (name.startsWith(this.prefix)) keys.add(name.slice(this.prefix.length));
        }
      } while (cursor !== "0");
    } catch (error) {
      throw storageFailed(`${NAME}: could not list keys under prefix ${JSON.stringify(this.prefix)} (SCAN)`, error);
    }
    return [...keys];
  }
}

/** A GET/MGET reply as bytes: nil is a missing key; values are base64 text. */
function fromReply(reply: unknown, key: string): Uint8Array | undefined {
  if (reply === null || reply === undefined) return undefined;
  if (typeof reply !== "string" && !(reply instanceof Uint8Array)) {
    throw storageFailed(
      `${NAME}: could not load ${JSON.stringify(key)}`,
      new TypeError(`GET replied ${typeof reply}`),
      {
        key,
      },
    );
  }
  const text = typeof reply === "string" ? reply : Buffer.from(reply).toString("latin1");
  return new Uint8Array(Buffer.from(text, "base64"));
}

function toBase64(value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
}

/** Escapes Redis glob syntax so the prefix matches itself only. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}
