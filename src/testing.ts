/**
 * The `tally/testing` entry: curated public exports only (no `export *`). Each module adds its
 * exports here as it lands.
 */

export { ODD_KEYS, type StorageFactory, storageContract } from "./testing/counter-storage-contract.ts";
export { runTrackerStoreContract, type TrackerStoreHarness } from "./testing/tracker-store-contract.ts";
