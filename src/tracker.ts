/**
 * The `tally/tracker` entry: curated public exports only (no `export *`). Each module adds its
 * exports here as it lands.
 */

export {};
