/**
 * The `tally/sqlite` entry: curated public exports only (no `export *`). Each module adds its
 * exports here as it lands.
 */

export {
  SqliteStorage,
  type SqliteStorageDatabase,
  type SqliteStorageOptions,
  type SqliteStorageStatement,
} from "./storage/sqlite/counter-storage.ts";
export { type SqliteDatabaseLike, SqliteRollups, type SqliteRollupsOptions } from "./storage/sqlite/meter-rollups.ts";
export {
  type SqliteTrackerDatabase,
  type SqliteTrackerStatement,
  SqliteTrackerStore,
  type SqliteTrackerStoreOptions,
} from "./storage/sqlite/tracker-store.ts";
