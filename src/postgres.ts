/**
 * The `tally/postgres` entry: curated public exports only (no `export *`). Each module adds its
 * exports here as it lands.
 */

export { type PgQueryable, PostgresStorage, type PostgresStorageOptions } from "./storage/postgres/counter-storage.ts";
export {
  type PgTrackerPoolLike,
  type PgTrackerQueryable,
  PostgresTrackerStore,
  type PostgresTrackerStoreOptions,
} from "./storage/postgres/tracker-store.ts";
