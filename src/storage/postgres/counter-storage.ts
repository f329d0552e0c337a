/**
 * `PostgresStorage`: counter persistence in one PostgreSQL table (see `../storage.ts` for the contract).
 *
 * - Takes a `pg` Pool (or Client, or anything with `query(text, params)`) that the caller owns and
 *   closes; `await storage.migrate()` creates the table (`counter-storage.sql`, idempotent).
 * - Rows are `(namespace, key, value bytea, updated_at)`, primary key `(namespace, key)`, so several
 *   stores share one table under different namespaces.
 * - `save` is one upsert; `saveMany` is one `INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE`
 *   statement: all-or-nothing, one round trip. Committed rows survive power loss with PostgreSQL's
 *   default `fsync`/`synchronous_commit`.
 * - PostgreSQL text cannot hold U+0000, so a key containing it is rejected (`STORAGE_FAILED`);
 *   event ids never contain control characters.
 */

import { readFileSync } from "node:fs";
import { TallyError } from "../../errors.ts";
import { checkKey, checkValue, lastPerKey, type Storage, type StorageCapabilities, storageFailed } from "../storage.ts";

/** The part of a `pg` Pool or Client this adapter uses. */
export interface PgQueryable {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

export interface PostgresStorageOptions {
  /** Separates stores sharing one table. @default "default" */
  namespace?: string;
  /** Table name, optionally schema-qualified (`"metrics.tally_counter_events"`). @default "tally_counter_events" */
  table?: string;
}

const NAME = "PostgresStorage";
const TABLE = /^(?:[A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const SCHEMA = readFileSync(new URL("./counter-storage.sql", import.meta.url), "utf8");

export class PostgresStorage implements Storage {
  readonly capabilities: StorageCapabilities = Object.freeze({ atomicBatch: true, durable: true, crossProcess: true });
  readonly namespace: string;
  readonly table: string;
  readonly #db: PgQueryable;
  readonly #sql: {
    upsert: string;
    upsertMany: string;
    select: string;
    selectMany: string;
    remove: string;
    keys: string;
  };

  constructor(db: PgQueryable, options: PostgresStorageOptions = {}) {
    if (db === null || typeof db !== "object" || typeof db.query !== "function") {
      throw new TallyError("INVALID_CONFIG", `${NAME} needs a pg Pool or Client (an object with query(text, params))`);
    }
    this.namespace = options.namespace ?? "default";
    this.table = options.table ?? "tally_counter_events";
    if (typeof this.namespace !== "string") {
      throw new TallyError("INVALID_CONFIG", `${NAME} namespace must be a string, got ${typeof this.namespace}`);
    }
    if (!TABLE.test(this.table)) {
      throw new TallyError(
        "INVALID_CONFIG",
        `${NAME} table name ${JSON.stringify(this.table)} is not a plain identifier: use letters, digits and "_", optionally "schema.table"`,
        { details: { table: this.table } },
      );
    }
    this.#db = db;
    const t = this.table;
    const conflict =
      "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
    this.#sql = {
      upsert: `INSERT INTO ${t} (namespace, key, value, updated_at) VALUES ($1, $2, $3, now()) ${conflict}`,
      upsertMany: `INSERT INTO ${t} (namespace, key, value, updated_at) SELECT $1, u.k, u.v, now() FROM unnest($2::text[], $3::bytea[]) AS u(k, v) ${conflict}`,
      select: `SELECT value FROM ${t} WHERE namespace = $1 AND key = $2`,
      selectMany: `SELECT key, value FROM ${t} WHERE namespace = $1 AND key = ANY($2::text[])`,
      remove: `DELETE FROM ${t} WHERE namespace = $1 AND key = $2`,
      keys: `SELECT key FROM ${t} WHERE namespace = $1`,
    };
  }

  /** Creates the table if it does not exist. Safe to run at every start. */
  async migrate(): Promise<void> {
    try {
      await this.#db.query(SCHEMA.replaceAll("{{table}}", this.table));
    } catch (error) {
      throw storageFailed(`${NAME}: could not create table ${this.table}`, error);
    }
  }

  async save(key: string, value: Uint8Array): Promise<void> {
    checkKey(NAME, key);
    checkValue(NAME, key, value);
    try {
      await this.#db.query(this.#sql.upsert, [this.namespace, key, value]);
    } catch (error) {
      throw storageFailed(`${NAME}: could not save ${JSON.stringify(key)} in ${this.table}`, error, { key });
    }
  }

  async saveMany(entries: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void> {
    const batch = lastPerKey(NAME, entries);
    if (batch.length === 0) return;
    const keys = batch.map(([key]) => key);
    try {
      await this.#db.query(this.#sql.upsertMany, [this.namespace, keys, batch.map(([, value]) => value)]);
    } catch (error) {
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
    let rows: unknown[];
    try {
      ({ rows } = await this.#db.query(this.#sql.select, [this.namespace, key]));
    } catch (error) {
      throw storageFailed(`${NAME}: could not load ${JSON.stringify(key)} from ${this.table}`, error, { key });
    }
    const value = (rows[0] as { value?: unknown } | undefined)?.value;
    if (value === undefined || value === null) return undefined;
    if (!(value instanceof Uint8Array)) {
      throw storageFailed(
        `${NAME}: could not load ${JSON.stringify(key)}`,
        new TypeError(`value column came back as ${typeof value}, not bytea`),
        { key },
      );
    }
    return new Uint8Array(value);
  }

  async loadMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    for (const key of keys) checkKey(NAME, key);
    const found = new Map<string, Uint8Array>();
    try {
      const { rows } = await this.#db.query(this.#sql.selectMany, [this.namespace, [...keys]]);
      for (const row of rows) {
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
      await this.#db.query(this.#sql.remove, [this.namespace, key]);
    } catch (error) {
      throw storageFailed(`${NAME}: could not delete ${JSON.stringify(key)} from ${this.table}`, error, { key });
    }
  }

  async listKeys(): Promise<string[]> {
    try {
      const { rows } = await this.#db.query(this.#sql.keys, [this.namespace]);
      return rows.map((row) => String((row as { key: unknown }).key));
    } catch (error) {
      throw storageFailed(`${NAME}: could not list keys of ${this.table}`, error);
    }
  }
}
