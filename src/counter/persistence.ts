/**
 * Persistence of an `EventStore` (spec §8.4–8.6): what `build()` does with a storage, and the
 * `Persister` behind `persist()`, `persistAll()`, `autoPersist` and `close()`.
 *
 * Guarantees:
 * - `build()` reads the replica id from the reserved key `"\u0001tally:meta"`, lists the keys and
 *   loads them 32 at a time (or 1 000 per `loadMany` call when the storage has it), converting
 *   snapshots saved under another geometry. An event that cannot be loaded (`CORRUPT_DATA`, or
 *   `STORAGE_FAILED` for its key) is reported in `loadReport` and to `onError`; the others load.
 *   Only a failing `listKeys` rejects `build()`.
 * - Persists are serialised. Each writes the events unsaved when it starts (or every event), via
 *   `saveMany` when the storage has it, in batches of 10 000. An event is marked saved only at the
 *   version that was written, so a change made while a persist runs stays unsaved. A failed write
 *   leaves its events unsaved and rejects with `STORAGE_FAILED` naming the keys; the rest stay written.
 * - A crash loses the changes after the last successful persist, nothing else: every write is one
 *   `save`/`saveMany`, atomic per key by the storage contract.
 * - `autoPersist(d)`: one `unref()`'d interval; a tick persists if anything is unsaved, is skipped
 *   while a persist runs, and reports failures to `onError`. `close()` stops it and persists.
 * - The store never closes its storage: whoever created it does.
 */

import { randomUUID } from "node:crypto";
import { isTallyError, TallyError } from "../errors.ts";
import { type Storage, storageFailed } from "../storage/storage.ts";
import type { BuilderSettings } from "./builder.ts";
import { convertSnapshot, sameGeometry } from "./conversion.ts";
import { isValidReplicaId } from "./event-id.ts";
import { EventStore, type LoadReport, type Persister } from "./event-store.ts";
import { BinaryFormat } from "./formats/binary-format.ts";
import { decodeSnapshot, type Format } from "./formats/format.ts";

/** Reserved key of the store's own data; event ids cannot hold control characters. */
export const META_KEY = "\u0001tally:meta";
const LOAD_CONCURRENCY = 32;
const LOAD_MANY_CHUNK = 1_000;
const LOAD_MANY_CONCURRENCY = 4;
const BATCH_SIZE = 10_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** `build()` with a storage: load, convert, attach the persister. */
export async function buildPersistent(settings: BuilderSettings): Promise<EventStore> {
  const storage = settings.storage;
  if (storage === undefined) return new EventStore(settings);
  const format = (settings.format ?? BinaryFormat) as Format;
  const failed: LoadReport["failed"] = [];

  const meta = await loadMeta(storage, failed);
  const replicaId = settings.replicaId ?? meta ?? randomUUID();
  const store = new EventStore({ ...settings, replicaId });
  const onError = store.errorListener;

  let keys: string[];
  try {
    keys = await storage.listKeys();
  } catch (error) {
    throw storageFailed("EventStore.build: could not list the stored events", error);
  }
  const report: LoadReport = { loaded: 0, converted: 0, failed };
  const geometry = store.geometry;
  const accept = (key: string, bytes: Uint8Array | undefined): void => {
    if (bytes === undefined) return; // deleted since listKeys
    try {
      let snapshot = decodeSnapshot(bytes, format);
      const converted = !sameGeometry(snapshot, geometry);
      if (converted) snapshot = convertSnapshot(snapshot, geometry, store.clock.now());
      try {
        store.loadEvent(key, snapshot, converted);
      } catch (error) {
        if (isTallyError(error) && error.code === "INVALID_EVENT_ID") {
          throw new TallyError("CORRUPT_DATA", `stored key ${JSON.stringify(key)} is not a valid event id`, {
            cause: error,
          });
        }
        throw error;
      }
      report.loaded++;
      if (converted) report.converted++;
    } catch (error) {
      failed.push({ key, error: asLoadError(key, error), bytes });
    }
  };
  const loadOne = async (key: string): Promise<void> => {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await storage.load(key);
    } catch (error) {
      const cause = isTallyError(error)
        ? error
        : storageFailed(`could not load ${JSON.stringify(key)}`, error, { key });
      failed.push({ key, error: asLoadError(key, cause), bytes: undefined });
      return;
    }
    accept(key, bytes);
  };
  const events = keys.filter((key) => !key.startsWith("\u0001"));
  // With loadMany: chunks of keys, a few in flight; a failed chunk is retried key by key so each
  // failure is reported against its own key. Without: 32 single loads in flight.
  const chunk = storage.loadMany === undefined ? 1 : LOAD_MANY_CHUNK;
  const chunks: string[][] = [];
  for (let from = 0; from < events.length; from += chunk) chunks.push(events.slice(from, from + chunk));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < chunks.length) {
      const keysOfChunk = chunks[next++] as string[];
      if (storage.loadMany === undefined) {
        for (const key of keysOfChunk) await loadOne(key);
        continue;
      }
      let values: Array<Uint8Array | undefined> | undefined;
      try {
        values = await storage.loadMany(keysOfChunk);
      } catch {
        values = undefined;
      }
      if (values === undefined || values.length !== keysOfChunk.length) {
        for (const key of keysOfChunk) await loadOne(key);
      } else {
        for (const [i, key] of keysOfChunk.entries()) accept(key, values[i]);
      }
    }
  };
  const concurrency = storage.loadMany === undefined ? LOAD_CONCURRENCY : LOAD_MANY_CONCURRENCY;
  await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, worker));
  for (const failure of failed) onError(failure.error);

  const persister = new StorePersister(store, storage, format, meta !== replicaId ? replicaId : undefined);
  store.attachPersistence(persister, report);
  if (settings.autoPersistMs !== undefined) persister.startAutoPersist(settings.autoPersistMs);
  return store;
}

async function loadMeta(storage: Storage, failed: LoadReport["failed"]): Promise<string | undefined> {
  let bytes: Uint8Array | undefined;
  try {
    bytes = await storage.load(META_KEY);
  } catch (error) {
    const cause = isTallyError(error) ? error : storageFailed("could not load the store's meta key", error);
    failed.push({ key: META_KEY, error: asLoadError(META_KEY, cause), bytes: undefined });
    return undefined;
  }
  if (bytes === undefined) return undefined;
  try {
    const value = JSON.parse(decoder.decode(bytes)) as { replicaId?: unknown };
    if (!isValidReplicaId(value?.replicaId)) throw new Error("no valid replicaId");
    return value.replicaId;
  } catch (error) {
    failed.push({ key: META_KEY, error: asLoadError(META_KEY, error), bytes });
    return undefined;
  }
}

function asLoadError(key: string, error: unknown): TallyError {
  if (isTallyError(error) && (error.code === "CORRUPT_DATA" || error.code === "STORAGE_FAILED")) {
    if (error.details?.key === key) return error;
    return new TallyError(error.code, `event ${JSON.stringify(key)}: ${error.message}`, {
      cause: error,
      details: { key },
    });
  }
  return new TallyError("CORRUPT_DATA", `event ${JSON.stringify(key)} could not be loaded: ${String(error)}`, {
    cause: error,
    details: { key },
  });
}

/** Writes a store's events; one per store. */
class StorePersister implements Persister {
  readonly #store: EventStore;
  readonly #storage: Storage;
  readonly #format: Format;
  /** The replica id to write to the meta key at the next persist, until written. */
  #metaToSave: string | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #running = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(store: EventStore, storage: Storage, format: Format, metaToSave: string | undefined) {
    this.#store = store;
    this.#storage = storage;
    this.#format = format;
    this.#metaToSave = metaToSave;
  }

  persist(all: boolean): Promise<number> {
    this.#running++;
    const run = this.#queue.then(() => this.#write(all));
    this.#queue = run.catch(() => {}).finally(() => this.#running--);
    return run;
  }

  startAutoPersist(ms: number): void {
    this.#timer = setInterval(() => {
      if (this.#running > 0) return;
      if (!this.#store.hasUnsavedChanges() && this.#metaToSave === undefined) return;
      this.persist(false).catch((error: unknown) => this.#store.errorListener(asStorageError(error)));
    }, ms);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.persist(false);
  }

  async #write(all: boolean): Promise<number> {
    const store = this.#store;
    // Versions are taken now: an event is marked saved at this version at most, so a change made
    // while this persist runs (even one a later chunk's snapshot happens to include) stays unsaved.
    const entries = all ? store.allEntries() : store.unsavedEntries();
    const meta = this.#metaToSave;
    const failed: Array<{ key: string; error: unknown }> = [];
    let written = 0;
    // Snapshot, encode and save chunk by chunk, so the event loop breathes between chunks.
    for (let from = 0; from < entries.length || (from === 0 && meta !== undefined); from += BATCH_SIZE) {
      const chunk: Array<readonly [string, Uint8Array]> = [];
      const versions = new Map<string, number>();
      for (const { id, change } of entries.slice(from, from + BATCH_SIZE)) {
        const snapshot = store.snapshotOf(id);
        if (snapshot === undefined) continue;
        try {
          chunk.push([id, this.#format.encode(snapshot)]);
          versions.set(id, change);
        } catch (error) {
          failed.push({ key: id, error });
        }
      }
      if (from === 0 && meta !== undefined) chunk.push([META_KEY, encoder.encode(JSON.stringify({ replicaId: meta }))]);
      const refused = new Set<string>();
      for (const failure of await this.#save(chunk)) {
        failed.push(failure);
        refused.add(failure.key);
      }
      for (const [key] of chunk) {
        if (refused.has(key)) continue;
        if (key === META_KEY) {
          if (this.#metaToSave === meta) this.#metaToSave = undefined;
          continue;
        }
        store.markSaved(key, versions.get(key) as number);
        written++;
      }
    }
    if (failed.length > 0) {
      const keys = failed.map((f) => f.key);
      throw new TallyError(
        "STORAGE_FAILED",
        `persist could not write ${keys.length} of ${entries.length + (meta === undefined ? 0 : 1)} entries (they stay unsaved; ${written} events were written): ${keys
          .slice(0, 10)
          .map((k) => JSON.stringify(k))
          .join(", ")}${keys.length > 10 ? ", …" : ""}`,
        { cause: failed[0]?.error, details: { keys, written } },
      );
    }
    return written;
  }

  /** Saves one chunk; resolves to the keys that were not written, with their error. */
  async #save(chunk: Array<readonly [string, Uint8Array]>): Promise<Array<{ key: string; error: unknown }>> {
    const storage = this.#storage;
    if (chunk.length === 0) return [];
    if (storage.saveMany !== undefined) {
      try {
        await storage.saveMany(chunk);
        return [];
      } catch (error) {
        // A non-atomic batch says which keys failed; otherwise assume none of the chunk was written.
        const named =
          isTallyError(error) && Array.isArray(error.details?.keys) ? (error.details.keys as string[]) : undefined;
        const keys = storage.capabilities?.atomicBatch === true || named === undefined ? chunk.map(([k]) => k) : named;
        return keys.map((key) => ({ key, error }));
      }
    }
    const failures: Array<{ key: string; error: unknown }> = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chunk.length) {
        const [key, value] = chunk[next++] as readonly [string, Uint8Array];
        try {
          await storage.save(key, value);
        } catch (error) {
          failures.push({ key, error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOAD_CONCURRENCY, chunk.length) }, worker));
    return failures;
  }
}

function asStorageError(error: unknown): TallyError {
  return isTallyError(error) ? error : storageFailed("auto-persist failed", error);
}
