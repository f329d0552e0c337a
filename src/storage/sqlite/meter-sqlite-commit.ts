/**
 * The `SqliteRollups` commit (contract in `src/meter/rollups.ts`), on whichever connection runs it:
 * the store's own, or the commit thread's (`meter-sqlite-commit-thread.ts`).
 *
 * One `BEGIN IMMEDIATE` transaction covers the fence check, the marker compare-and-set, the rollup
 * merges and the interval state, so the processed-entry gate is exact: a retry that reads a
 * different row set can never double count. With `synchronous=FULL` the commit is durable when
 * this returns, before the processor deletes stream rows.
 */

import { LockLostError } from "../../errors.ts";
import type { CommitResult, IntervalStateUpdate, Lease, MarkerUpdate, ReportRef } from "../../meter/rollups.ts";
import type { RollupRows } from "./meter-rollup-rows.ts";
import { RollupUpserts } from "./meter-rollup-upserts.ts";
import type { SqliteDatabaseLike } from "./meter-sqlite-database.ts";
import { prepareStatements, type Statements } from "./meter-statements.ts";

/** A `CommitBatch` with its deltas as rows: what crosses to the commit thread. */
/** A lease renewal, as `SqliteRollups.renewLease` binds it (on the commit thread, in order with the commits). */
export interface RenewWork {
  key: string;
  token: string;
  fence: number;
  expiresAt: number;
  now: number;
}

export interface CommitWork {
  ref: ReportRef;
  /** The report's row id in `<p>_reports`. */
  report: number;
  rows: RollupRows;
  intervalState: IntervalStateUpdate[];
  markers: MarkerUpdate[];
  fence: Lease | null;
  now: number;
}

export class SqliteCommitter {
  readonly #st: Statements;
  readonly #upserts: RollupUpserts;
  readonly #tx: ((work: CommitWork) => CommitResult) & { immediate(work: CommitWork): CommitResult };

  constructor(db: SqliteDatabaseLike, prefix: string, statements: Statements = prepareStatements(db, prefix)) {
    this.#st = statements;
    this.#upserts = new RollupUpserts(db, prefix);
    this.#tx = db.transaction((work: CommitWork) => this.#commit(work));
  }

  commit(work: CommitWork): CommitResult {
    return this.#tx.immediate(work);
  }

  /** Extends a held lease; false when it is no longer held (see `SqliteRollups.renewLease`). */
  renewLease(r: RenewWork): boolean {
    return this.#st.leaseRenew.run(r.expiresAt, r.key, r.token, r.fence, r.now).changes === 1;
  }

  #commit(work: CommitWork): CommitResult {
    const st = this.#st;
    const { namespace, name, version } = work.ref;
    const fence = work.fence;
    if (fence !== null) {
      const held = st.lease.get(fence.key) as { token: unknown; fence: unknown; expires_at: unknown } | undefined;
      if (
        held === undefined ||
        held.token !== fence.token ||
        Number(held.fence) !== fence.fence ||
        Number(held.expires_at) <= work.now
      ) {
        throw new LockLostError(`the lease ${fence.key} (fence ${fence.fence}) is no longer held`);
      }
    }
    const conflicts: string[] = [];
    for (const m of work.markers) {
      const row = st.marker.get(namespace, name, version, m.unit) as { high_seq: unknown } | undefined;
      if ((row === undefined ? 0 : Number(row.high_seq)) !== m.expected) conflicts.push(m.unit);
    }
    if (conflicts.length > 0) return { ok: false, conflicts };
    for (const m of work.markers) st.markerUpsert.run(namespace, name, version, m.unit, m.high, work.now);
    this.#upserts.write(work.report, work.rows);
    for (const s of work.intervalState) st.stateUpsert.run(namespace, name, version, s.param, s.value, s.lastMs);
    return { ok: true };
  }
}
