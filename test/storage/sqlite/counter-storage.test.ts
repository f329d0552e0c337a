import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { isTallyError } from "../../../src/errors.ts";
import { SqliteStorage } from "../../../src/storage/sqlite/counter-storage.ts";
import { storageContract } from "../../../src/testing/counter-storage-contract.ts";
import { TestClock } from "../../../src/time/clock.ts";
import { runChild } from "../../support/child.ts";
import { assertWholeVersions, killWriterMidWrite } from "../crash.ts";

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "tally-sqlite-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const isStorageFailed = (e: unknown): boolean =>
  isTallyError(e) && e.code === "STORAGE_FAILED" && e.cause instanceof Error;

storageContract("SqliteStorage (open)", async (t) => {
  const storage = await SqliteStorage.open(join(await tempDir(t), "tally.db"));
  t.after(() => storage.close());
  return storage;
});

storageContract("SqliteStorage (given database, custom table)", (t) => {
  const db = new Database(":memory:");
  t.after(() => db.close());
  return new SqliteStorage(db, { table: "counters" });
});

describe("SqliteStorage", () => {
  it("opens its own file in WAL mode with synchronous=NORMAL and closes it", async (t) => {
    const path = join(await tempDir(t), "tally.db");
    const storage = await SqliteStorage.open(path);
    await storage.save("k", Uint8Array.of(1, 2));
    assert.equal(storage.capabilities.durable, false, "NORMAL may lose the last commits on power loss");
    assert.equal(storage.capabilities.atomicBatch, true);
    await storage.close();
    await storage.close();
    await assert.rejects(storage.load("k"), isStorageFailed);
    const db = new Database(path);
    t.after(() => db.close());
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    const row = db.prepare("SELECT key, value, updated_at FROM tally_counter_events").get() as Record<string, unknown>;
    assert.equal(row.key, "k");
    assert.deepEqual(new Uint8Array(row.value as Buffer), Uint8Array.of(1, 2));
  });

  it("never closes a database it was given, and stamps rows with its clock", async () => {
    const db = new Database(":memory:");
    db.pragma("synchronous = FULL");
    const clock = new TestClock("2024-05-01T00:00:00Z");
    const storage = new SqliteStorage(db, { clock });
    assert.equal(storage.capabilities.durable, true, "synchronous=FULL is durable");
    await storage.saveMany([["a", Uint8Array.of(1)]]);
    await storage.close();
    const row = db.prepare("SELECT updated_at FROM tally_counter_events WHERE key = 'a'").get() as {
      updated_at: number;
    };
    assert.equal(row.updated_at, clock.now());
    db.close();
  });

  it("creates the table WITHOUT ROWID as the spec gives it", async () => {
    const db = new Database(":memory:");
    new SqliteStorage(db);
    const { sql } = db.prepare("SELECT sql FROM sqlite_master WHERE name = 'tally_counter_events'").get() as {
      sql: string;
    };
    assert.match(sql, /key TEXT PRIMARY KEY,\s+value BLOB NOT NULL,\s+updated_at INTEGER NOT NULL\s+\) WITHOUT ROWID/);
    db.close();
  });

  it("rejects a table name that is not an identifier", () => {
    const db = new Database(":memory:");
    assert.throws(
      () => new SqliteStorage(db, { table: "x; DROP TABLE y" }),
      (e) => isTallyError(e) && e.code === "INVALID_CONFIG",
    );
    db.close();
  });

  it("rolls back a whole saveMany when one row fails inside the transaction", async () => {
    const db = new Database(":memory:");
    const storage = new SqliteStorage(db);
    await storage.save("a", Uint8Array.of(1));
    db.exec(
      "CREATE TRIGGER refuse BEFORE INSERT ON tally_counter_events WHEN NEW.key = 'poison' BEGIN SELECT RAISE(ABORT, 'refused'); END",
    );
    await assert.rejects(
      storage.saveMany([
        ["a", Uint8Array.of(2)],
        ["b", Uint8Array.of(2)],
        ["poison", Uint8Array.of(2)],
      ]),
      (e) => isStorageFailed(e) && /none written/.test((e as Error).message),
    );
    assert.deepEqual(await storage.load("a"), Uint8Array.of(1));
    assert.deepEqual(await storage.listKeys(), ["a"]);
    db.close();
  });

  it("fails with STORAGE_FAILED once the given database is closed", async () => {
    const db = new Database(":memory:");
    const storage = new SqliteStorage(db);
    db.close();
    for (const attempt of [
      storage.save("k", Uint8Array.of(1)),
      storage.saveMany([["k", Uint8Array.of(1)]]),
      storage.load("k"),
      storage.delete("k"),
      storage.listKeys(),
    ]) {
      await assert.rejects(attempt, isStorageFailed);
    }
  });

  it("loads better-sqlite3 only when a storage is opened, never on import", async () => {
    const script = fileURLToPath(new URL("../fixtures/lazy-sqlite.ts", import.meta.url));
    const result = await runChild(script);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout.trim()) as { afterImport: number; afterOpen: number; addon: boolean };
    assert.equal(report.afterImport, 0, "importing tally and tally/sqlite loads no native addon");
    assert.ok(report.afterOpen >= 1 && report.addon, "open() loads better-sqlite3");
  });

  it("keeps the old or the new row when the writer is killed mid-write", async (t) => {
    const path = join(await tempDir(t), "crash.db");
    const last = await killWriterMidWrite(["sqlite", path]);
    const storage = await SqliteStorage.open(path);
    t.after(() => storage.close());
    await assertWholeVersions(storage, last);
    assert.deepEqual((await storage.listKeys()).sort(), ["b1", "b2", "b3", "big"]);
  });
});
