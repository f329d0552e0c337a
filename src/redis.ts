/**
 * The `tally/redis` entry: curated public exports only (no `export *`). Each module adds its
 * exports here as it lands.
 */

export {
  eventKey,
  type RedisBackendOptions,
  type RedisBatching,
  redisBackend,
} from "./storage/redis/counter-backend.ts";
export { RedisStorage, type RedisStorageOptions } from "./storage/redis/counter-storage.ts";
export { RedisRollups, type RedisRollupsOptions, type RedisRollupsTtl } from "./storage/redis/meter-rollups.ts";
export { RedisStream, type RedisStreamOptions } from "./storage/redis/meter-stream.ts";
export {
  fromIoRedis,
  fromNodeRedis,
  fromNodeRedisCluster,
  type IoRedisLike,
  type NodeRedisClusterLike,
  type NodeRedisLike,
  type RedisCommandRunner,
} from "./storage/redis/redis-client.ts";
export { RedisTrackerStore, type RedisTrackerStoreOptions } from "./storage/redis/tracker-store.ts";
