/**
 * `postgresBackend`: the `CounterBackend` of `SharedEventStore` on PostgreSQL (spec §10).
 *
 * Every operation is ONE call of a plpgsql function installed by `install()` (`counter-backend.sql`):
 * `<prefix>_evaluate(op)` for record, check, checkAndRecord, usage, reserve and queries,
 * `<prefix>_settle(op)` for commit and cancel. Inside, the function locks the events it touches (a
 * transaction-scoped advisory lock per event id, in id order, then SELECT … FOR UPDATE of their rows),
 * decides and writes, so N processes racing for L slots admit exactly L. The call runs in its own
 * transaction (autocommit), so a failure applies nothing; a deadlock cannot happen (ordered locks).
 *
 * Time: the client clock only (`serverClock: false`; `clockSource("server")` is refused at build).
 * Expiry: a row carries `expires_at` = now + ttl at its last write; an expired row reads as absent and
 * is replaced (with its reservations) by the next operation on it. Nothing deletes idle rows in the
 * background: prune them with `DELETE FROM <prefix>_events WHERE expires_at < <epoch ms>` if needed.
 *
 * Tables live in the pool's search_path schema; `tablePrefix` (default "tally_counter") names them.
 * The backend never ends the pool.
 */

import { readFileSync } from "node:fs";
import type {
  BoundCounterBackend,
  CounterBackend,
  CounterLayout,
  EvaluateOp,
  EvaluateReply,
  EventState,
  OpTime,
  RecordOp,
  SettleOp,
  SettleReply,
} from "../../counter/shared/counter-backend.ts";
import { TallyError } from "../../errors.ts";
import { checkPool, checkTablePrefix, inTransaction, type PgPoolLike, sqlState } from "./meter-pool.ts";

const SQL = readFileSync(new URL("./counter-backend.sql", import.meta.url), "utf8");

export interface PostgresBackendOptions {
  /** Prefix of the tables and functions (`<prefix>_events`, `<prefix>_evaluate`, …). @default "tally_counter" */
  tablePrefix?: string;
  /** Install the tables and functions on first use (else call `install()` yourself). @default true */
  autoInstall?: boolean;
}

export interface PostgresCounterBackend extends CounterBackend {
  /** Creates the tables and functions if missing (idempotent; safe from several hosts at once). */
  install(): Promise<void>;
}

/** The SQL `install()` runs, for a table prefix (to review or run by hand). */
export function counterBackendSql(options: { tablePrefix?: string } = {}): string {
  return SQL.replaceAll("{{p}}", checkTablePrefix(options.tablePrefix ?? "tally_counter", "counterBackendSql"));
}

export function postgresBackend(pool: PgPoolLike, options: PostgresBackendOptions = {}): PostgresCounterBackend {
  const db = checkPool(pool, "postgresBackend");
  const prefix = checkTablePrefix(options.tablePrefix ?? "tally_counter", "postgresBackend");
  const sql = SQL.replaceAll("{{p}}", prefix);
  let installed: Promise<void> | undefined;
  const install = (): Promise<void> => {
    installed ??= inTransaction(db, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`tally:${prefix}:install`]);
      await client.query(sql);
    }).catch((error: unknown) => {
      installed = undefined;
      throw new TallyError("STORAGE_FAILED", `installing the counter tables ${prefix}_* failed: ${String(error)}`, {
        cause: error,
      });
    });
    return installed;
  };
  const ready = options.autoInstall === false ? () => Promise.resolve() : install;
  return {
    kind: "postgres",
    serverClock: false,
    install,
    bind: (layout) => new PostgresBoundBackend(db, prefix, layout, ready),
  };
}

class PostgresBoundBackend implements BoundCounterBackend {
  readonly #db: PgPoolLike;
  readonly #evaluate: string;
  readonly #settle: string;
  readonly #common: { sig: string; ttl: number; bcs: number[] };
  readonly #ready: () => Promise<void>;

  constructor(db: PgPoolLike, prefix: string, layout: CounterLayout, ready: () => Promise<void>) {
    this.#db = db;
    this.#evaluate = `SELECT ${prefix}_evaluate($1::jsonb) AS r`;
    this.#settle = `SELECT ${prefix}_settle($1::jsonb) AS r`;
    this.#common = { sig: layout.signature, ttl: layout.ttlMs, bcs: layout.units.map((u) => u.bucketCount) };
    this.#ready = ready;
  }

  #time(time: OpTime): { now: number; ords: readonly number[] } {
    if (time.now === undefined || time.ordinals === undefined) {
      throw new TallyError("INVALID_CONFIG", 'the postgres backend needs clockSource("client")');
    }
    return { now: time.now, ords: time.ordinals };
  }

  async record(op: RecordOp): Promise<void> {
    const instant = op.instant;
    let at: number | null = null;
    let atOrds: readonly number[] | null = null;
    if (instant !== undefined) {
      if (!("at" in instant) || instant.ordinals === undefined) {
        throw new TallyError("INVALID_CONFIG", 'the postgres backend needs clockSource("client")');
      }
      at = instant.at;
      atOrds = instant.ordinals;
    }
    await this.#call(this.#evaluate, {
      ...this.#common,
      ...this.#time(op.time),
      ids: [op.eventId],
      action: "record",
      target: 0,
      count: op.count,
      state: "never",
      depth: [],
      tests: [],
      at,
      atOrds,
    });
  }

  async evaluate(op: EvaluateOp): Promise<EvaluateReply> {
    const r = (await this.#call(this.#evaluate, {
      ...this.#common,
      ...this.#time(op.time),
      ids: op.eventIds,
      action: op.action,
      target: op.target,
      count: op.count,
      reservation: op.reservation ?? null,
      state: op.state,
      depth: op.depth,
      tests: op.tests,
    })) as {
      passed: boolean;
      now: number;
      results: boolean[];
      events: RawState[] | null;
      reservation: { token: string; expiresAt: number } | null;
    };
    return {
      passed: r.passed,
      now: r.now,
      results: r.results,
      events: r.events === null ? undefined : r.events.map(parseState),
      reservation: r.reservation ?? undefined,
    };
  }

  async settle(op: SettleOp): Promise<SettleReply> {
    const r = (await this.#call(this.#settle, {
      ...this.#common,
      ...this.#time(op.time),
      id: op.eventId,
      token: op.token,
      count: op.count,
      action: op.action,
    })) as { wasPending: boolean; now: number };
    return { wasPending: r.wasPending, now: r.now };
  }

  async #call(text: string, op: unknown): Promise<unknown> {
    try {
      await this.#ready();
      const { rows } = await this.#db.query(text, [JSON.stringify(op)]);
      return (rows[0] as { r: unknown }).r;
    } catch (error) {
      if (error instanceof TallyError) throw error;
      if (sqlState(error) === "TLY01") {
        throw new TallyError(
          "INVALID_CONFIG",
          `a counter in PostgreSQL was written with another layout (${String((error as Error).message)}): every process sharing a table prefix must track the same units, bucket counts, alignment and time zone; use a new tablePrefix to change them`,
          { cause: error },
        );
      }
      throw new TallyError("STORAGE_FAILED", `PostgreSQL counter call failed: ${String(error)}`, { cause: error });
    }
  }
}

interface RawState {
  exists: boolean;
  first: number | null;
  last: number | null;
  pending: Array<{ count: number; createdAt: number; expiresAt: number }>;
  buckets: number[][];
  ahead?: Array<number | string | null>;
}

function parseState(raw: RawState): EventState {
  const state: EventState = {
    exists: raw.exists,
    firstSeenAt: raw.first ?? undefined,
    lastSeenAt: raw.last ?? undefined,
    pending: raw.pending.map((p) => ({ count: Number(p.count), createdAt: p.createdAt, expiresAt: p.expiresAt })),
    buckets: raw.buckets.map((row) => row.map(Number)),
  };
  const ahead = raw.ahead ?? [];
  if (ahead.every((o) => o === null)) return state;
  return { ...state, aheadOrdinals: ahead.map((o) => (o === null ? undefined : Number(o))) };
}
