/**
 * The `tally/postgres` entry: curated public exports only (no `export *`). Each module adds its
 * exports here as it lands.
 */

export {
  counterBackendSql,
  type PostgresBackendOptions,
  type PostgresCounterBackend,
  postgresBackend,
} from "./storage/postgres/counter-backend.ts";
export { type PgQueryable, PostgresStorage, type PostgresStorageOptions } from "./storage/postgres/counter-storage.ts";
export { meterSchemaSql } from "./storage/postgres/meter-install.ts";
export type { PgClientLike, PgPoolLike, PgResultLike } from "./storage/postgres/meter-pool.ts";
export { PostgresRollups, type PostgresRollupsOptions } from "./storage/postgres/meter-rollups.ts";
export { PostgresStream, type PostgresStreamOptions } from "./storage/postgres/meter-stream.ts";
export {
  type PgTrackerPoolLike,
  type PgTrackerQueryable,
  type PgTrackerResult,
  PostgresTrackerStore,
  type PostgresTrackerStoreOptions,
} from "./storage/postgres/tracker-store.ts";
