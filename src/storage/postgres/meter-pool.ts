/**
 * The part of a `pg` Pool the meter's PostgreSQL adapters use, and the helpers around it.
 *
 * Contract: `query` runs one statement on any pooled connection (autocommit); `connect()` checks out
 * one connection for a transaction, given back with `release()`. tally never imports `pg` at the top
 * level: users pass the Pool they already have (or anything with this shape), and the adapters
 * never end it.
 */

import { TallyError } from "../../errors.ts";

export interface PgResultLike {
  rows: unknown[];
  rowCount?: number | null;
}

export interface PgClientLike {
  query(text: string, params?: unknown[]): Promise<PgResultLike>;
  release(error?: Error | boolean): void;
}

export interface PgPoolLike {
  query(text: string, params?: unknown[]): Promise<PgResultLike>;
  connect(): Promise<PgClientLike>;
}

const PREFIX = /^[A-Za-z_][A-Za-z0-9_]{0,40}$/;

/** A table prefix that is a plain identifier (tables are `<prefix>_rollups`, …), else INVALID_OPTION. */
export function checkTablePrefix(prefix: unknown, what: string): string {
  if (typeof prefix !== "string" || !PREFIX.test(prefix)) {
    throw new TallyError(
      "INVALID_OPTION",
      `${what}: invalid tablePrefix ${JSON.stringify(prefix)}; use letters, digits and "_" (at most 41 characters), and choose the schema with search_path`,
    );
  }
  return prefix;
}

export function checkPool(pool: unknown, what: string): PgPoolLike {
  const p = pool as Partial<PgPoolLike> | null;
  if (typeof p !== "object" || p === null || typeof p.query !== "function" || typeof p.connect !== "function") {
    throw new TallyError(
      "INVALID_OPTION",
      `${what} needs { pool }: a pg Pool (an object with query(text, params) and connect())`,
    );
  }
  return p as PgPoolLike;
}

/** The SQLSTATE of a driver error, if it has one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Deadlock or serialization failure: the transaction applied nothing and may be retried. */
export function isRetryable(error: unknown): boolean {
  const state = sqlState(error);
  return state === "40P01" || state === "40001";
}

export function unavailable(message: string, cause: unknown): TallyError {
  if (cause instanceof TallyError) return cause;
  return new TallyError("STORE_UNAVAILABLE", message, { cause });
}

/**
 * Runs `body` inside BEGIN/COMMIT on one checked-out connection. A thrown error rolls back; the
 * connection is discarded when the rollback itself fails (its state is unknown).
 */
export async function inTransaction<T>(pool: PgPoolLike, body: (client: PgClientLike) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query("BEGIN");
    const result = await body(client);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
