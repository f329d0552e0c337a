/**
 * `Storage`: where an `EventStore` keeps one value (an encoded `EventSnapshot`) per key.
 *
 * Guarantees every adapter gives (the shared contract suite in `tally/testing` checks them):
 * - `save` is atomic per key: a reader sees the old or the new bytes, never a mix, also after a
 *   crash at any point of the write.
 * - Once `save` resolves, the value survives a crash of this process (MemoryStorage excepted).
 *   `capabilities.durable` says it also survives power loss (fsync, or a synchronous commit).
 * - `load` returns bytes the caller may keep and change (a copy, never a view of adapter state);
 *   a missing key gives `undefined`. The bytes given to `save` are not kept either.
 * - Deleting a missing key succeeds.
 * - `listKeys` returns every stored key and nothing else (no temp files, no foreign entries).
 * - `saveMany`, when present, is all-or-nothing if `capabilities.atomicBatch`, else atomic per key.
 *   A key given twice in one batch ends with its last value.
 * - `loadMany`, when present, answers like `load` for each key, in the order given (one round trip
 *   instead of one per key; `build()` uses it to load thousands of events at once). It is a tally
 *   addition to the crate's trait, optional like `saveMany`.
 * - Every failure rejects with `TallyError("STORAGE_FAILED")` carrying the driver error as `cause`,
 *   never with a non-Error.
 * - An adapter never closes a client it was given; one that opens its own handle has `close()`.
 *   The EventStore never closes its storage: whoever created it does.
 * - One live EventStore per storage namespace (last writer wins per key); processes that must
 *   count together use `SharedEventStore` instead.
 *
 * `saveMany` replaces the crate's begin/commit/rollback trio: one call, one batch.
 */

import { isTallyError, TallyError } from "../errors.ts";

export interface StorageCapabilities {
  /** `saveMany` writes all entries or none. */
  atomicBatch?: boolean;
  /** A resolved `save` survives power loss, not only a process crash. */
  durable?: boolean;
  /** Several processes may read and write the same namespace. */
  crossProcess?: boolean;
}

export interface Storage {
  save(key: string, value: Uint8Array): Promise<void>;
  load(key: string): Promise<Uint8Array | undefined>;
  delete(key: string): Promise<void>;
  listKeys(): Promise<string[]>;
  saveMany?(entries: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void>;
  loadMany?(keys: readonly string[]): Promise<Array<Uint8Array | undefined>>;
  readonly capabilities?: StorageCapabilities;
}

/**
 * Wraps a driver failure as `STORAGE_FAILED` with the driver's message appended (a TallyError
 * passes through unchanged, so a failure is never wrapped twice).
 */
export function storageFailed(message: string, cause: unknown, details?: Record<string, unknown>): TallyError {
  if (isTallyError(cause)) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  const text = `${message}: ${reason}`;
  return new TallyError("STORAGE_FAILED", text, details === undefined ? { cause } : { cause, details });
}

/** Rejects values that are not bytes before an adapter touches its backend. */
export function checkValue(adapter: string, key: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TallyError(
      "STORAGE_FAILED",
      `${adapter}: the value for key ${JSON.stringify(key)} is ${describe(value)}, not a Uint8Array: encode it with a Format first`,
      { cause: new TypeError("value must be a Uint8Array"), details: { key } },
    );
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Rejects keys that are not strings, or not well-formed UTF-16: a lone surrogate has no UTF-8
 * form, so two such keys could share one file name or database row. An empty string is a key.
 */
export function checkKey(adapter: string, key: unknown): asserts key is string {
  if (typeof key !== "string") {
    throw new TallyError("STORAGE_FAILED", `${adapter}: key ${describe(key)} is not a string`, {
      cause: new TypeError("key must be a string"),
      details: { key },
    });
  }
  if (LONE_SURROGATE.test(key)) {
    throw new TallyError(
      "STORAGE_FAILED",
      `${adapter}: key ${JSON.stringify(key)} holds a lone UTF-16 surrogate, which has no UTF-8 form: use well-formed strings`,
      { cause: new TypeError("key is not well-formed UTF-16"), details: { key } },
    );
  }
}

/** The last value per key of a batch, in first-seen key order (so a batch never writes one key twice). */
export function lastPerKey(
  adapter: string,
  entries: ReadonlyArray<readonly [string, Uint8Array]>,
): Array<readonly [string, Uint8Array]> {
  const latest = new Map<string, Uint8Array>();
  for (const entry of entries) {
    const [key, value] = entry;
    checkKey(adapter, key);
    checkValue(adapter, key, value);
    latest.set(key, value);
  }
  return [...latest];
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return `a ${(value as object).constructor?.name ?? "object"}`;
  return `${typeof value} ${String(value).slice(0, 40)}`;
}
