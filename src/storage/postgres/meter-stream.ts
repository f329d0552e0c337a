/**
 * `PostgresStream`: the meter's pending events in one PostgreSQL queue table (guarantees in
 * `src/meter/stream.ts`), for deployments that have PostgreSQL and no Redis.
 *
 * - Rows live in `<p>_stream(id bigserial, namespace, name, payload, claimed_by, claimed_until)`
 *   (installed with the rollup schema). Each row is its own unit (`pg-<id>`, seq 1).
 * - `read` is one statement: it picks rows whose claim expired (or was given back) first, then
 *   never-claimed ones, oldest first, with `FOR UPDATE SKIP LOCKED`, and stamps
 *   `claimed_until = now() + claimTimeout`, so concurrent readers never wait on or share a row and
 *   claims expire by the database clock. The UPDATE checks the claim again: a row another reader
 *   claimed between this statement's snapshot and its lock fails that check (the partial indexes
 *   let the planner drop the CTEs' own claim conditions from the re-check), so no row is shared.
 * - `ack` deletes the batch in one transaction only while every row is still claimed by this reader
 *   (or already gone); a reader whose claim was taken over gets `ok: false` and deletes nothing.
 *   `release` marks the reader's rows as given back (`claimed_until = '-infinity'`).
 * - Committed appends survive a crash per PostgreSQL's durability settings. The pool is the
 *   caller's: `close()` never ends it.
 */

import { TallyError } from "../../errors.ts";
import type { EventPayload } from "../../meter/payload.ts";
import type { AckResult, MeterStream, StreamBatch, StreamEntry, StreamRef } from "../../meter/stream.ts";
import { type Duration, toMs } from "../../time/duration.ts";
import { ensureMeterSchema, installMeterSchema } from "./meter-install.ts";
import { checkPool, checkTablePrefix, inTransaction, type PgPoolLike, unavailable } from "./meter-pool.ts";

export interface PostgresStreamOptions {
  /** A pg Pool (or anything with `query` and `connect`); the caller owns and ends it. */
  pool: PgPoolLike;
  /** Table name prefix (the table is `<prefix>_stream`). @default "tally_meter" */
  tablePrefix?: string;
  /** How long a read's claim lasts before another reader takes the rows. @default "60s" */
  claimTimeout?: Duration;
  /** Install the schema on first use when it is missing. @default true */
  autoInstall?: boolean;
}

const NAME = "PostgresStream";
const UNIT = "pg-";

class NotOwned extends Error {}

export class PostgresStream implements MeterStream {
  readonly tablePrefix: string;
  readonly claimTimeoutMs: number;
  readonly #pool: PgPoolLike;
  readonly #autoInstall: boolean;
  readonly #readers = new WeakMap<StreamBatch, string>();
  readonly #sql: Record<"append" | "read" | "lock" | "remove" | "release" | "count", string>;
  #ready: Promise<void> | null = null;

  constructor(options: PostgresStreamOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TallyError("INVALID_OPTION", `${NAME} needs { pool }: a pg Pool`);
    }
    this.#pool = checkPool(options.pool, NAME);
    this.tablePrefix = checkTablePrefix(options.tablePrefix ?? "tally_meter", NAME);
    this.claimTimeoutMs = toMs(options.claimTimeout ?? "60s", `${NAME} claimTimeout`);
    if (this.claimTimeoutMs <= 0) throw new TallyError("INVALID_OPTION", `${NAME}: claimTimeout must be positive`);
    this.#autoInstall = options.autoInstall ?? true;
    const t = `${this.tablePrefix}_stream`;
    const scope = "namespace = $1 AND name = $2";
    this.#sql = {
      append: `INSERT INTO ${t} (namespace, name, payload)
        SELECT $1, u.name, u.payload FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(name, payload, ord) ORDER BY u.ord`,
      read: `WITH again AS (
          SELECT id, 0 AS pass FROM ${t} WHERE ${scope} AND claimed_until IS NOT NULL AND claimed_until <= now()
          ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
        ), fresh AS (
          SELECT id, 1 AS pass FROM ${t} WHERE ${scope} AND claimed_until IS NULL
          ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
        ), picked AS (
          SELECT id, pass FROM (SELECT * FROM again UNION ALL SELECT * FROM fresh) AS both_ ORDER BY pass, id LIMIT $3
        )
        UPDATE ${t} AS s SET claimed_by = $4, claimed_until = now() + $5::bigint * interval '1 millisecond'
        FROM picked WHERE s.id = picked.id AND (s.claimed_until IS NULL OR s.claimed_until <= now())
        RETURNING s.id, s.payload, picked.pass`,
      lock: `SELECT id, claimed_by FROM ${t} WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE`,
      remove: `DELETE FROM ${t} WHERE id = ANY($1::bigint[])`,
      release: `UPDATE ${t} SET claimed_by = NULL, claimed_until = '-infinity' WHERE id = ANY($1::bigint[]) AND claimed_by = $2`,
      count: `SELECT count(*) AS n FROM ${t} WHERE ${scope}`,
    };
  }

  /** Creates the meter tables if missing (the same schema as `PostgresRollups.install`). */
  async install(): Promise<void> {
    await installMeterSchema(this.#pool, this.tablePrefix, NAME);
    this.#ready = Promise.resolve();
  }

  #open(): Promise<void> {
    this.#ready ??= ensureMeterSchema(this.#pool, this.tablePrefix, this.#autoInstall, NAME).catch((error: unknown) => {
      this.#ready = null;
      throw error;
    });
    return this.#ready;
  }

  async #query(what: string, text: string, params: unknown[]): Promise<unknown[]> {
    await this.#open();
    try {
      return (await this.#pool.query(text, params)).rows;
    } catch (error) {
      throw unavailable(`${NAME}: ${what} failed`, error);
    }
  }

  async append(namespace: string, payloads: readonly EventPayload[]): Promise<void> {
    if (payloads.length === 0) return;
    const names = payloads.map((p) => (typeof p?.name === "string" ? p.name : ""));
    await this.#query("appending", this.#sql.append, [namespace, names, payloads.map((p) => JSON.stringify(p))]);
  }

  async read(ref: StreamRef, options: { maxRows: number; reader: string }): Promise<StreamBatch> {
    const entries: StreamEntry[] = [];
    const batch: StreamBatch = { ref: { namespace: ref.namespace, name: ref.name }, entries };
    this.#readers.set(batch, options.reader);
    const max = Math.floor(options.maxRows);
    if (!(max > 0)) return batch;
    const rows = (await this.#query("reading", this.#sql.read, [
      ref.namespace,
      ref.name,
      max,
      options.reader,
      this.claimTimeoutMs,
    ])) as { id: string; payload: string; pass: number }[];
    rows.sort((a, b) => a.pass - b.pass || compareIds(a.id, b.id));
    for (const row of rows) {
      let payload: unknown;
      try {
        payload = JSON.parse(row.payload);
      } catch {
        payload = undefined;
      }
      const unit = `${UNIT}${row.id}`;
      entries.push({ id: `${unit}:1`, unit, seq: 1, payload });
    }
    return batch;
  }

  async ack(batch: StreamBatch): Promise<AckResult> {
    if (batch.entries.length === 0) return { ok: true, removedUnits: [] };
    const reader = this.#readers.get(batch);
    const ids = batch.entries.map((e) => e.unit.slice(UNIT.length));
    await this.#open();
    try {
      await inTransaction(this.#pool, async (client) => {
        const { rows } = await client.query(this.#sql.lock, [ids]);
        if ((rows as { claimed_by: string | null }[]).some((r) => r.claimed_by !== reader)) throw new NotOwned();
        await client.query(this.#sql.remove, [ids]);
      });
    } catch (error) {
      if (error instanceof NotOwned) return { ok: false, removedUnits: [] };
      throw unavailable(`${NAME}: ack failed`, error);
    }
    return { ok: true, removedUnits: [...new Set(batch.entries.map((e) => e.unit))] };
  }

  async release(batch: StreamBatch): Promise<void> {
    const reader = this.#readers.get(batch);
    if (batch.entries.length === 0 || reader === undefined) return;
    await this.#query("releasing", this.#sql.release, [batch.entries.map((e) => e.unit.slice(UNIT.length)), reader]);
  }

  async pendingCount(ref: StreamRef): Promise<number> {
    const rows = await this.#query("counting", this.#sql.count, [ref.namespace, ref.name]);
    return Number((rows[0] as { n?: unknown } | undefined)?.n ?? 0);
  }

  async close(): Promise<void> {}
}

function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
