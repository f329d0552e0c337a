/**
 * The commit path of `PostgresRollups`: one call of the installed `<p>_commit` function per batch
 * (see `meter-schema.sql` for what it checks and writes, all in one transaction).
 *
 * - Histograms: the store remembers the histograms of the row versions it wrote
 *   (`meter-known-histograms.ts`, bounded) and sends, for those rows, the new absolute counts,
 *   which the function lays over the stored histograms only while the row's xmin is still the
 *   writing transaction; other rows' deltas are added in SQL by `<p>_hist_add`.
 * - A known row that changed since (another writer, a cleanup) makes the function refuse the whole
 *   commit (TL410, nothing applied); the batch is sent again with every row unknown, and that
 *   report's commits skip the known path for a while (1, 2, 4 ... 64 commits while refusals
 *   repeat), so two writers on one report stay exact and mostly cost one merge in SQL per commit.
 * - Commits of one report run one at a time here, so each builds its totals on what the previous
 *   one taught the cache (two in flight would make the second's known rows stale).
 * - A deadlock or serialization failure rolled the statement back and is retried.
 */

import { LockLostError, TallyError } from "../../errors.ts";
import type { CommitBatch, CommitResult, ReportRef } from "../../meter/rollups.ts";
import { ArrayLiteral } from "./meter-array-literals.ts";
import { cmp, commitRows, learnCommit, rollupParams, stateParams } from "./meter-commit-rows.ts";
import { KnownHistograms } from "./meter-known-histograms.ts";
import { isRetryable, type PgPoolLike, sqlState, unavailable } from "./meter-pool.ts";

const NAME = "PostgresRollups";
const MAX_DEADLOCK_RETRIES = 5;
/**
 * Rows whose histograms a store remembers (about 1 KB each): several commits' worth of hour and
 * day buckets, so a steady processor merges histograms in JavaScript; a forgotten row costs one
 * merge in SQL, never a wrong count.
 */
const KNOWN_ROWS = 16_384;
/** SQLSTATE of `<p>_commit` when a known row changed since it was written. */
const STALE = "TL410";
/** The most commits in a row that skip the known path after repeated TL410s. */
const MAX_PAUSE = 64;

function refId(ref: ReportRef): string {
  return `${ref.namespace}\u0000${ref.name}\u0000${ref.version}`;
}

export class MeterCommitter {
  readonly #pool: PgPoolLike;
  readonly #sql: string;
  readonly #prefix: string;
  readonly #known = new KnownHistograms(KNOWN_ROWS);
  readonly #pauses = new Map<string, { left: number; streak: number }>();
  /** The last commit of each report still running (settled, never rejecting). */
  readonly #commits = new Map<string, Promise<void>>();

  constructor(pool: PgPoolLike, commitSql: string, tablePrefix: string) {
    this.#pool = pool;
    this.#sql = commitSql;
    this.#prefix = tablePrefix;
  }

  commit(ref: ReportRef, batch: CommitBatch): Promise<CommitResult> {
    const id = refId(ref);
    const previous = this.#commits.get(id);
    const run = previous === undefined ? this.#commit(ref, batch) : previous.then(() => this.#commit(ref, batch));
    const settled = run.then(
      () => {},
      () => {},
    );
    this.#commits.set(id, settled);
    void settled.then(() => {
      if (this.#commits.get(id) === settled) this.#commits.delete(id);
    });
    return run;
  }

  async #commit(ref: ReportRef, batch: CommitBatch): Promise<CommitResult> {
    const markers = [...batch.markers].sort((a, b) => cmp(a.unit, b.unit));
    const fence = batch.fence;
    const rows = commitRows(ref, batch);
    const units = new ArrayLiteral();
    const expected = new ArrayLiteral();
    const high = new ArrayLiteral();
    for (const m of markers) {
      units.text(m.unit);
      expected.number(m.expected);
      high.number(m.high);
    }
    const head = [
      ref.namespace,
      ref.name,
      ref.version,
      batch.now,
      fence?.key ?? null,
      fence?.token ?? null,
      fence?.fence ?? null,
      String(units),
      String(expected),
      String(high),
    ];
    const state = stateParams(batch.intervalState);
    const pause = this.#pause(ref);
    let rollups = rollupParams(rows, pause.left > 0 ? null : this.#known);
    if (pause.left > 0) pause.left--;
    for (let attempt = 1; ; attempt++) {
      let row: { status?: unknown; conflicts?: unknown; written?: unknown; merged?: unknown } | undefined;
      try {
        const { rows } = await this.#pool.query(this.#sql, [...head, ...rollups.columns, ...state]);
        row = rows[0] as typeof row;
      } catch (error) {
        // Known rows changed since this store wrote them (another writer, a cleanup): nothing was
        // applied; send the batch again with every row unknown, and leave the known path alone for
        // a while, as another writer is likely to change them again.
        if (sqlState(error) === STALE && rollups.known.some((k) => k !== undefined)) {
          for (const key of rows.keys) this.#known.forget(key);
          pause.streak = Math.min(pause.streak * 2 || 1, MAX_PAUSE);
          pause.left = pause.streak;
          rollups = rollupParams(rows, null);
          continue;
        }
        // A deadlock or serialization failure rolled the whole statement back: try again.
        if (isRetryable(error) && attempt < MAX_DEADLOCK_RETRIES) continue;
        throw unavailable(`${NAME}: commit of ${ref.name} v${ref.version} failed (nothing was applied)`, error);
      }
      const status = Number(row?.status);
      if (status === 1) {
        learnCommit(rows, rollups, this.#known, Number(row?.written), row?.merged);
        if (pause.left === 0 && rollups.known.some((k) => k !== undefined)) pause.streak = 0;
        return { ok: true };
      }
      if (status === -1 && fence !== null) {
        throw new LockLostError(
          `the lease ${fence.key} (fence ${fence.fence}) is no longer held; another processor took it over`,
        );
      }
      if (status === 0 && Array.isArray(row?.conflicts)) return { ok: false, conflicts: row.conflicts.map(String) };
      throw new TallyError(
        "STORE_UNAVAILABLE",
        `${NAME}: ${this.#prefix}_commit answered ${JSON.stringify(row)}; reinstall the schema (install())`,
      );
    }
  }

  /** How many commits of `ref` skip the known path (after TL410s), and the current backoff. */
  #pause(ref: ReportRef): { left: number; streak: number } {
    const id = refId(ref);
    let pause = this.#pauses.get(id);
    if (pause === undefined) {
      pause = { left: 0, streak: 0 };
      this.#pauses.set(id, pause);
    }
    return pause;
  }
}
