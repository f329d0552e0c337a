/**
 * `SqliteStorage`: counter persistence in one SQLite table (see `../storage.ts` for the contract).
 *
 * - `new SqliteStorage(db, { table })` uses a better-sqlite3 `Database` you own (never closed here);
 *   `await SqliteStorage.open(path)` opens its own file in WAL mode with `synchronous=NORMAL` and a
 *   busy timeout, and `close()` closes it. better-sqlite3 is loaded only by `open`, so importing this
 *   module (or `tally`) never pulls the native addon in.
 * - A save is one statement and `saveMany` one transaction: atomic per key and per batch, and
 *   committed data survives a process crash. `durable` is true only when `synchronous` is FULL or
 *   EXTRA: in WAL mode with NORMAL the last commits may roll back on power loss (never tear).
 * - The table is `(key TEXT PRIMARY KEY, value BLOB NOT NULL, updated_at INTEGER NOT NULL) WITHOUT
 *   ROWID`, created if missing (`counter-storage.sql`); `updated_at` is the clock's epoch ms.
 */

import { readFileSync } from "node:fs";
import { TallyError } from "../../errors.ts";
import { type Clock, systemClock } from "../../time/clock.ts";
import { checkKey, checkValue, lastPerKey, type Storage, type StorageCapabilities, storageFailed } from "../storage.ts";

/** The part of a better-sqlite3 statement this adapter uses. */
export interface SqliteStorageStatement {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

/** The part of a better-sqlite3 `Database` this adapter uses. */
export interface SqliteStorageDatabase {
  prepare(source: string): SqliteStorageStatement;
  exec(source: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction(fn: () => void): () => unknown;
  close(): unknown;
}

export interface SqliteStorageOptions {
  /** Table name, a plain SQL identifier. @default "tally_counter_events" */
  table?: string;
  /** Clock for `updated_at`. @default systemClock */
  clock?: Clock;
}

const NAME = "SqliteStorage";
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Databases `open` made, handed to the constructor so the storage knows it owns them. */
const opened = new WeakSet<SqliteStorageDatabase>();
const SCHEMA = readFileSync(new URL("./counter-storage.sql", import.meta.url), "utf8");

export class SqliteStorage implements Storage {
  readonly capabilities: StorageCapabilities;
  readonly table: string;
  readonly #db: SqliteStorageDatabase;
  readonly #owned: boolean;
  readonly #clock: Clock;
  readonly #upsert: SqliteStorageStatement;
  readonly #select: SqliteStorageStatement;
  readonly #selectMany: SqliteStorageStatement;
  readonly #remove: SqliteStorageStatement;
  readonly #keys: SqliteStorageStatement;
  #closed = false;

  constructor(db: SqliteStorageDatabase, options: SqliteStorageOptions = {}) {
    this.table = options.table ?? "tally_counter_events";
    if (!IDENTIFIER.test(this.table)) {
      throw new TallyError(
        "INVALID_CONFIG",
        `${NAME} table name ${JSON.stringify(this.table)} is not a plain SQL identifier: use letters, digits and "_"`,
        { details: { table: this.table } },
      );
    }
    this.#db = db;
    this.#owned = opened.delete(db);
    this.#clock = options.clock ?? systemClock;
    const t = this.table;
    try {
      db.exec(SCHEMA.replaceAll("{{table}}", t));
      this.#upsert = db.prepare(
        `INSERT INTO ${t} (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      );
      this.#select = db.prepare(`SELECT value FROM ${t} WHERE key = ?`);
      this.#selectMany = db.prepare(`SELECT key, value FROM ${t} WHERE key IN (SELECT value FROM json_each(?))`);
      this.#remove = db.prepare(`DELETE FROM ${t} WHERE key = ?`);
      this.#keys = db.prepare(`SELECT key FROM ${t}`);
      const synchronous = Number(db.pragma("synchronous", { simple: true }));
      this.capabilities = Object.freeze({ atomicBatch: true, durable: synchronous >= 2, crossProcess: true });
    } catch (error) {
      throw storageFailed(`${NAME}: could not prepare table ${t}`, error);
    }
  }

  /**
   * Opens (creating if needed) the SQLite file at `path` in WAL mode with `synchronous=NORMAL`.
   * Needs the optional peer `better-sqlite3`; the storage owns the file and `close()` closes it.
   */
  static async open(path: string, options: SqliteStorageOptions = {}): Promise<SqliteStorage> {
    let Database: new (filename: string) => SqliteStorageDatabase;
    try {
      const module = (await import("better-sqlite3")) as { default: new (filename: string) => SqliteStorageDatabase };
      Database = module.default;
    } catch (error) {
      throw new TallyError(
        "STORAGE_FAILED",
        `${NAME}.open needs the optional dependency better-sqlite3: run "npm install better-sqlite3"`,
        { cause: error },
      );
    }
    let db: SqliteStorageDatabase | undefined;
    try {
      db = new Database(path);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.pragma("busy_timeout = 5000");
      opened.add(db);
      return new SqliteStorage(db, options);
    } catch (error) {
      db?.close();
      throw storageFailed(`${NAME}: could not open ${path}`, error);
    }
  }

  async save(key: string, value: Uint8Array): Promise<void> {
    checkKey(NAME, key);
    checkValue(NAME, key, value);
    try {
      this.#upsert.run(key, value, this.#clock.now());
    } catch (error) {
      throw storageFailed(`${NAME}: could not save ${JSON.stringify(key)} in ${this.table}`, error, { key });
    }
  }

  async saveMany(entries: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void> {
    const batch = lastPerKey(NAME, entries);
    if (batch.length === 0) return;
    const now = this.#clock.now();
    try {
      this.#db.transaction(() => {
        for (const [key, value] of batch) this.#upsert.run(key, value, now);
      })();
    } catch (error) {
      const keys = batch.map(([key]) => key);
      throw storageFailed(
        `${NAME}: could not save a batch of ${keys.length} keys in ${this.table} (none written)`,
        error,
        {
          keys,
        },
      );
    }
  }

  async load(key: string): Promise<Uint8Array | undefined> {
    checkKey(NAME, key);
    let row: unknown;
    try {
      row = this.#select.get(key);
    } catch (error) {
      throw storageFailed(`${NAME}: could not load ${JSON.stringify(key)} from ${this.table}`, error, { key });
    }
    if (row === undefined) return undefined;
    const value = (row as { value: unknown }).value;
    if (!(value instanceof Uint8Array)) {
      throw storageFailed(
        `${NAME}: could not load ${JSON.stringify(key)} from ${this.table}`,
        new TypeError(`value column holds ${typeof value}, not a BLOB`),
        { key },
      );
    }
    return new Uint8Array(value);
  }

  async loadMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    for (const key of keys) checkKey(NAME, key);
    const found = new Map<string, Uint8Array>();
    try {
      // json_each keeps it one statement whatever the number of keys (no 32 766-parameter limit).
      for (const row of this.#selectMany.all(JSON.stringify(keys))) {
        const { key, value } = row as { key: string; value: unknown };
        if (value instanceof Uint8Array) found.set(key, new Uint8Array(value));
      }
    } catch (error) {
      throw storageFailed(`${NAME}: could not load ${keys.length} keys from ${this.table}`, error, { keys: [...keys] });
    }
    return keys.map((key) => found.get(key));
  }

  async delete(key: string): Promise<void> {
    checkKey(NAME, key);
    try {
      this.#remove.run(key);
    } catch (error) {
      throw storageFailed(`${NAME}: could not delete ${JSON.stringify(key)} from ${this.table}`, error, { key });
    }
  }

  async listKeys(): Promise<string[]> {
    try {
      return this.#keys.all().map((row) => String((row as { key: unknown }).key));
    } catch (error) {
      throw storageFailed(`${NAME}: could not list keys of ${this.table}`, error);
    }
  }

  /** Closes the database if `open` opened it; a database you passed in stays open. Idempotent. */
  async close(): Promise<void> {
    if (!this.#owned || this.#closed) return;
    this.#closed = true;
    try {
      this.#db.close();
    } catch (error) {
      throw storageFailed(`${NAME}: could not close the database`, error);
    }
  }
}
