/**
 * `MemoryStorage`: the reference `Storage` (see `../storage.ts` for the contract). A Map of copies:
 * bytes are copied on save and on load, so neither the caller nor a store can change what another
 * reads. `saveMany` checks every entry before writing any, so a batch is all-or-nothing.
 * Nothing survives the process; several stores may use one instance in sequence (a restart in a
 * test is "build a new store on the same MemoryStorage").
 */

import { checkKey, checkValue, lastPerKey, type Storage, type StorageCapabilities } from "../storage.ts";

const NAME = "MemoryStorage";

export class MemoryStorage implements Storage {
  readonly capabilities: StorageCapabilities = Object.freeze({
    atomicBatch: true,
    durable: false,
    crossProcess: false,
  });
  readonly #values = new Map<string, Uint8Array>();

  async save(key: string, value: Uint8Array): Promise<void> {
    checkKey(NAME, key);
    checkValue(NAME, key, value);
    this.#values.set(key, value.slice());
  }

  async saveMany(entries: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void> {
    const batch = lastPerKey(NAME, entries);
    for (const [key, value] of batch) this.#values.set(key, value.slice());
  }

  async load(key: string): Promise<Uint8Array | undefined> {
    checkKey(NAME, key);
    return this.#values.get(key)?.slice();
  }

  async loadMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    for (const key of keys) checkKey(NAME, key);
    return keys.map((key) => this.#values.get(key)?.slice());
  }

  async delete(key: string): Promise<void> {
    checkKey(NAME, key);
    this.#values.delete(key);
  }

  async listKeys(): Promise<string[]> {
    return [...this.#values.keys()];
  }

  /** Number of stored keys (for tests and diagnostics). */
  get size(): number {
    return this.#values.size;
  }
}
