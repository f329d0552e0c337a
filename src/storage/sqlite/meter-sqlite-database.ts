/**
 * The small structural shape of a better-sqlite3 `Database` that `SqliteRollups` uses, so users can
 * pass their own handle and the module never imports better-sqlite3 at load time.
 */

import { TallyError } from "../../errors.ts";

export interface SqliteStatement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

export interface SqliteDatabaseLike {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): unknown;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): ((...args: A) => R) & { immediate(...args: A): R };
  function(name: string, options: { deterministic?: boolean }, fn: (...args: unknown[]) => unknown): unknown;
  close(): unknown;
  readonly open: boolean;
}

/** Loads better-sqlite3 on first use, or `NOT_CONFIGURED` saying how to get it. */
export async function openSqlite(path: string): Promise<SqliteDatabaseLike> {
  let ctor: new (path: string) => SqliteDatabaseLike;
  try {
    const mod = (await import("better-sqlite3")) as unknown as { default: new (path: string) => SqliteDatabaseLike };
    ctor = mod.default;
  } catch (cause) {
    throw new TallyError(
      "NOT_CONFIGURED",
      "SQLite rollups need the optional package better-sqlite3: run `npm install better-sqlite3`, or pass `rollups` (e.g. MemoryRollups or PostgresRollups) to EventMeter",
      { cause },
    );
  }
  return new ctor(path);
}
