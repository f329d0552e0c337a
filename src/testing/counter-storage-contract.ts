/**
 * `storageContract(name, factory)`: the one test suite every counter `Storage` adapter passes
 * (tally runs it on MemoryStorage, FilePerEvent, SqliteStorage, RedisStorage and PostgresStorage
 * against real servers). Run it on your own adapter from a `node:test` file:
 *
 *   storageContract("S3Storage", async (t) => new S3Storage(await freshBucket(t)));
 *
 * `factory(t)` returns a storage over a fresh, empty namespace for each test (clean it up with
 * `t.after`), or `undefined` after calling `t.skip(reason)` when its backend is unavailable.
 * It checks what `src/storage/storage.ts` promises: atomic replace, missing keys, deleting a missing
 * key, odd keys (unicode, `/`, `..`, case twins, 500-character ids), copied bytes, `saveMany` as its
 * capability flags say, `loadMany` when present, and that failures are `TallyError("STORAGE_FAILED")`.
 * Crash safety needs a process to die mid-write; tally's own tests do that per adapter.
 */

import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { isTallyError } from "../errors.ts";
import type { Storage } from "../storage/storage.ts";

export type StorageFactory = (t: TestContext) => Promise<Storage | undefined> | Storage | undefined;

/** Keys that break naive adapters: path syntax, case twins, globs, unicode, long ids. */
export const ODD_KEYS: readonly string[] = Object.freeze([
  "plain",
  "with space",
  "ключ",
  "🎉 party",
  "e\u0301",
  "\u00e9",
  "a/b",
  "/",
  "/leading/slash",
  "..",
  ".",
  "../escape",
  "a/../../b",
  ".hidden",
  "a\\b",
  "C:\\temp",
  "con",
  "CON",
  "nul.txt",
  "lpt1",
  "Aa",
  "aA",
  "aa",
  "AA",
  "%41",
  "A",
  "~tilde",
  "*",
  "?",
  "[x]",
  "a*b?c[d]\\",
  "x.tmp-1-abcd",
  "x.bin",
  "x.json",
  "user:{42}:login",
  "\u0001tally:meta",
  "a".repeat(500),
  `${"a".repeat(499)}b`,
  "A".repeat(500),
  "Ä".repeat(500),
  "🎉".repeat(250),
]);

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (seed + i * 31) & 255;
  return out;
}

async function rejectsWithStorageFailed(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isTallyError(error), `expected a TallyError, got ${String(error)}`);
    assert.equal(error.code, "STORAGE_FAILED");
    assert.ok(error.cause instanceof Error, "STORAGE_FAILED carries the cause as an Error");
    return true;
  });
}

function sorted(keys: readonly string[]): string[] {
  return [...keys].sort();
}

export function storageContract(name: string, factory: StorageFactory): void {
  const withStorage = (title: string, body: (storage: Storage, t: TestContext) => Promise<void>): void => {
    it(title, async (t) => {
      const storage = await factory(t);
      if (storage === undefined) return;
      await body(storage, t);
    });
  };

  describe(`Storage contract: ${name}`, () => {
    withStorage("starts empty; a missing key loads as undefined", async (storage) => {
      assert.deepEqual(await storage.listKeys(), []);
      assert.equal(await storage.load("missing"), undefined);
    });

    withStorage("round-trips bytes exactly: empty, every byte value, 1 MB", async (storage) => {
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      const big = pattern(1 << 20, 7);
      await storage.save("empty", new Uint8Array(0));
      await storage.save("all", all);
      await storage.save("big", big);
      assert.deepEqual(await storage.load("empty"), new Uint8Array(0));
      assert.deepEqual(await storage.load("all"), all);
      assert.deepEqual(await storage.load("big"), big);
      assert.deepEqual(sorted(await storage.listKeys()), ["all", "big", "empty"]);
    });

    withStorage("save replaces the whole value (shorter and longer)", async (storage) => {
      const long = pattern(10_000, 1);
      await storage.save("k", long);
      await storage.save("k", bytes(9, 8, 7));
      assert.deepEqual(await storage.load("k"), bytes(9, 8, 7));
      await storage.save("k", long);
      assert.deepEqual(await storage.load("k"), long);
      assert.deepEqual(await storage.listKeys(), ["k"]);
    });

    withStorage("copies bytes on save and on load", async (storage) => {
      const value = bytes(1, 2, 3, 4);
      await storage.save("k", value);
      value[0] = 99;
      const loaded = await storage.load("k");
      assert.deepEqual(loaded, bytes(1, 2, 3, 4));
      assert.ok(loaded instanceof Uint8Array);
      loaded[1] = 99;
      assert.deepEqual(await storage.load("k"), bytes(1, 2, 3, 4));
      // A view into a larger buffer: only the view's bytes are the value.
      const backing = bytes(50, 51, 52, 53, 54, 55);
      await storage.save("view", backing.subarray(2, 4));
      assert.deepEqual(await storage.load("view"), bytes(52, 53));
    });

    withStorage("deletes: a missing key succeeds, a deleted key is gone from load and listKeys", async (storage) => {
      await storage.delete("never-saved");
      await storage.save("a", bytes(1));
      await storage.save("b", bytes(2));
      await storage.delete("a");
      await storage.delete("a");
      assert.equal(await storage.load("a"), undefined);
      assert.deepEqual(await storage.listKeys(), ["b"]);
      assert.deepEqual(await storage.load("b"), bytes(2));
    });

    withStorage("keeps odd keys apart and lists them exactly", async (storage) => {
      for (const [i, key] of ODD_KEYS.entries()) await storage.save(key, text(`value ${i}`));
      assert.deepEqual(sorted(await storage.listKeys()), sorted(ODD_KEYS));
      for (const [i, key] of ODD_KEYS.entries()) {
        assert.deepEqual(await storage.load(key), text(`value ${i}`), `key ${JSON.stringify(key)}`);
      }
      const removed = ODD_KEYS.filter((_, i) => i % 2 === 0);
      for (const key of removed) await storage.delete(key);
      const kept = ODD_KEYS.filter((_, i) => i % 2 === 1);
      assert.deepEqual(sorted(await storage.listKeys()), sorted(kept));
      for (const key of removed) assert.equal(await storage.load(key), undefined, `key ${JSON.stringify(key)}`);
      for (const [i, key] of ODD_KEYS.entries()) {
        if (i % 2 === 1) assert.deepEqual(await storage.load(key), text(`value ${i}`), `key ${JSON.stringify(key)}`);
      }
    });

    withStorage("concurrent saves: one key ends with one whole value, distinct keys all land", async (storage) => {
      const values = Array.from({ length: 20 }, (_, i) => pattern(4096 + i, i));
      await Promise.all(values.map((value) => storage.save("same", value)));
      const loaded = await storage.load("same");
      assert.ok(
        values.some((value) => loaded !== undefined && Buffer.compare(value, loaded) === 0),
        "the value is one of those saved, whole",
      );
      await Promise.all(values.map((value, i) => storage.save(`key-${i}`, value)));
      for (const [i, value] of values.entries()) assert.deepEqual(await storage.load(`key-${i}`), value);
    });

    withStorage("rejects bad input with STORAGE_FAILED", async (storage) => {
      await rejectsWithStorageFailed(storage.save("k", "not bytes" as unknown as Uint8Array));
      await rejectsWithStorageFailed(storage.save("lone \ud800 surrogate", bytes(1)));
      assert.deepEqual(await storage.listKeys(), []);
    });

    withStorage("declares its capabilities as booleans", async (storage) => {
      for (const flag of ["atomicBatch", "durable", "crossProcess"] as const) {
        const value = storage.capabilities?.[flag];
        assert.ok(value === undefined || typeof value === "boolean", `${flag} is ${String(value)}`);
      }
    });

    withStorage("saveMany writes every entry; a key given twice keeps its last value", async (storage, t) => {
      if (storage.saveMany === undefined) return void t.diagnostic("no saveMany: nothing to check");
      await storage.saveMany([]);
      await storage.save("existing", bytes(0));
      const entries = Array.from({ length: 300 }, (_, i) => [`batch-${i}`, pattern(100 + i, i)] as const);
      await storage.saveMany([...entries, ["existing", bytes(1, 1)], ["twice", bytes(1)], ["twice", bytes(2)]]);
      for (const [key, value] of entries) assert.deepEqual(await storage.load(key), value);
      assert.deepEqual(await storage.load("existing"), bytes(1, 1));
      assert.deepEqual(await storage.load("twice"), bytes(2));
      assert.equal((await storage.listKeys()).length, 302);
    });

    withStorage("loadMany answers like load, key by key, in order", async (storage, t) => {
      if (storage.loadMany === undefined) return void t.diagnostic("no loadMany: nothing to check");
      assert.deepEqual(await storage.loadMany([]), []);
      for (const [i, key] of ODD_KEYS.entries()) await storage.save(key, text(`value ${i}`));
      const asked = [...ODD_KEYS, "missing", ODD_KEYS[0] as string].reverse();
      const values = await storage.loadMany(asked);
      assert.equal(values.length, asked.length);
      for (const [i, key] of asked.entries()) {
        assert.deepEqual(values[i], await storage.load(key), `key ${JSON.stringify(key)}`);
      }
      const first = values[0];
      assert.ok(first instanceof Uint8Array);
      first[0] = 0;
      assert.deepEqual(await storage.load(asked[0] as string), text(`value 0`), "loadMany returns copies");
      const many = Array.from({ length: 1100 }, (_, i) => [`many-${i}`, pattern(20, i)] as const);
      if (storage.saveMany !== undefined) await storage.saveMany(many);
      else for (const [key, value] of many) await storage.save(key, value);
      assert.deepEqual(
        await storage.loadMany(many.map(([key]) => key)),
        many.map(([, value]) => value),
      );
      await rejectsWithStorageFailed(storage.loadMany(["ok", "lone \ud800"]));
    });

    withStorage("a failing saveMany rejects with STORAGE_FAILED and honours atomicBatch", async (storage, t) => {
      if (storage.saveMany === undefined) return void t.diagnostic("no saveMany: nothing to check");
      await storage.save("a", bytes(1));
      const failing = storage.saveMany([
        ["a", bytes(2)],
        ["b", bytes(2)],
        ["bad", null as unknown as Uint8Array],
        ["c", bytes(2)],
      ]);
      await rejectsWithStorageFailed(failing);
      const a = await storage.load("a");
      if (storage.capabilities?.atomicBatch === true) {
        assert.deepEqual(a, bytes(1), "an atomic batch that failed wrote nothing");
        assert.deepEqual(await storage.listKeys(), ["a"]);
      } else {
        // Per-key atomic: every key holds its old value or its new one, whole.
        assert.ok(a !== undefined && (a[0] === 1 || a[0] === 2) && a.length === 1);
        for (const key of ["b", "c"]) {
          const value = await storage.load(key);
          assert.ok(value === undefined || (value.length === 1 && value[0] === 2), key);
        }
      }
    });
  });
}
