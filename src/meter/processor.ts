/**
 * One `processPending` call (spec §6): read a batch, skip rows whose unit marker already covers
 * them, aggregate the rest, commit rollups and markers in one compare-and-set step, then ack.
 *
 * Why nothing is lost and nothing counts twice: rows leave the stream only after the commit that
 * advanced their unit's marker. A crash before the commit re-delivers them and they count once; a
 * crash after it re-delivers them and the marker skips them; two processors holding the same rows
 * race on the marker's `expected` value and the loser re-reads and skips. Interval rules need the
 * previous start per identity, so they run under a fenced lease; a processor whose lease was taken
 * over has its commit rejected with `LockLostError`.
 *
 * The loop runs one stage ahead (`Pipeline` below, `commit-plan.ts`): the next batch is read,
 * parsed and aggregated while the current commit is in flight. Commits still run one at a time and
 * in order, each batch is acked only after all its commits, and a plan made on the assumption that
 * the commit in flight succeeds is redone when it did not.
 */

import type { Clock } from "../time/clock.ts";
import {
  assumedAfter,
  type CommitPlan,
  makePlan,
  type PlanContext,
  readMarkersFor,
  settleCommit,
  startCommit,
} from "./commit-plan.ts";
import { compileDefinition } from "./interned-batch.ts";
import type { CommitResult, Lease, MeterRollups, ReportRef, StoredDefinition } from "./rollups.ts";
import type { MeterStream, StreamBatch } from "./stream.ts";

export interface ProcessProgress {
  processed: number;
  skippedAlreadyProcessed: number;
  malformed: number;
}

export interface ProcessResult {
  eventName: string;
  version: number;
  /** Newly applied rows, malformed ones included. */
  processed: number;
  /** Rows whose marker already existed, plus duplicate ids in a batch. */
  skippedAlreadyProcessed: number;
  /** Rows that failed strict parsing or carried another name. */
  malformed: number;
  /** Every row this call read was acknowledged (true when none were read). */
  complete: boolean;
  /** The report lease was busy; nothing was read. */
  locked: boolean;
  /** Stopped at maxRows and the last read was a full batch. */
  hasMore: boolean;
}

export interface ProcessRun {
  stream: MeterStream;
  rollups: MeterRollups;
  clock: Clock;
  ref: ReportRef;
  definition: StoredDefinition;
  reader: string;
  lockTtlMs: number;
  maxRows: number;
  batchRows: number;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: ProcessProgress) => void) | undefined;
  warn: (message: string, cause?: unknown) => void;
}

export function leaseKeyOf(ref: ReportRef): string {
  return `${ref.namespace}:report:${ref.name}:v${ref.version}`;
}

export async function runProcess(run: ProcessRun): Promise<ProcessResult> {
  const { rollups, clock, ref } = run;
  const result: ProcessResult = {
    eventName: ref.name,
    version: ref.version,
    processed: 0,
    skippedAlreadyProcessed: 0,
    malformed: 0,
    complete: true,
    locked: false,
    hasMore: false,
  };
  const compiled = compileDefinition(run.definition);
  let lease: Lease | null = null;
  let leaseLost = false;
  let renewTimer: NodeJS.Timeout | undefined;
  if (compiled.intervals.length > 0) {
    lease = await rollups.acquireLease(leaseKeyOf(ref), run.lockTtlMs, clock.now());
    if (lease === null) return { ...result, complete: false, locked: true };
    const held = lease;
    let renewing = false;
    renewTimer = setInterval(
      () => {
        if (renewing || leaseLost) return;
        renewing = true;
        rollups
          .renewLease(held, run.lockTtlMs, clock.now())
          .then((ok) => {
            if (!ok) leaseLost = true;
          })
          .catch(() => {
            leaseLost = true;
          })
          .finally(() => {
            renewing = false;
          });
      },
      Math.max(1, Math.floor(run.lockTtlMs / 3)),
    );
    renewTimer.unref();
  }

  const ctx: PlanContext = { run, compiled, lease, lost: () => leaseLost };
  // Markers of units that left the stream are forgotten once per call, not once per batch (one
  // store round trip and, for SQLite, one fsync less per batch). Unit names are never reused, so
  // a marker that outlives its unit for a moment is harmless (spec §6: "ack, before forget").
  const removed: string[] = [];
  const pipeline = new Pipeline(run, ctx, result, removed);
  try {
    await pipeline.run();
  } finally {
    if (renewTimer !== undefined) clearInterval(renewTimer);
    if (lease !== null) await rollups.releaseLease(lease).catch(() => {});
    if (removed.length > 0) {
      await rollups.forgetMarkers(ref, removed).catch((error: unknown) => {
        run.warn(`tally meter: forgetting ${removed.length} markers of ${ref.name} failed`, error);
      });
    }
  }
  return result;
}

interface Batch {
  batch: StreamBatch;
  /** Commits of its parts not yet settled. */
  unsettled: number;
  /** The counts once its last part settled, for `onProgress` after its ack. */
  progress: ProcessProgress | null;
}

interface InFlight {
  plan: CommitPlan;
  commit: Promise<CommitResult>;
  owner: Batch;
}

/**
 * The read -> plan -> commit -> ack loop, one stage ahead: while a part's commit is in flight
 * (a server round trip for PostgreSQL and Redis, the commit thread for SQLite), the next part is
 * planned and aggregated, assuming that commit succeeds (`commit-plan.ts`), and once a batch's last
 * part is planned the batch after it is read. Commits stay one at a time and in order; a batch is
 * acked (its rows deleted) only after all its parts committed, and acks run in order behind the
 * commits. A failure releases every batch not yet acked.
 */
class Pipeline {
  readonly #run: ProcessRun;
  readonly #ctx: PlanContext;
  readonly #result: ProcessResult;
  readonly #removed: string[];
  readonly #open: Batch[] = [];
  #acks: Promise<void> = Promise.resolve();
  #ackFailed = false;
  #readSoFar = 0;
  #done = false;

  constructor(run: ProcessRun, ctx: PlanContext, result: ProcessResult, removed: string[]) {
    this.#run = run;
    this.#ctx = ctx;
    this.#result = result;
    this.#removed = removed;
  }

  async run(): Promise<void> {
    let inflight: InFlight | null = null;
    // The batch after `current`, read while the commit in flight finishes.
    let next: Promise<Batch | null> | null = null;
    try {
      const size = Math.max(1, this.#run.rollups.maxEntriesPerCommit);
      for (let current = await this.#read(); current !== null; current = await (next ?? this.#read())) {
        next = null;
        const entries = current.batch.entries;
        current.unsettled = Math.ceil(entries.length / size);
        for (let from = 0; from < entries.length; from += size) {
          const part = entries.slice(from, from + size);
          const assumed = inflight === null ? null : assumedAfter(inflight.plan);
          let plan = await makePlan(this.#ctx, part, await readMarkersFor(this.#ctx, part, assumed), assumed);
          if (from + size >= entries.length) {
            // The last part is planned: the next read's file or network waits overlap the wait for
            // the commit in flight instead of following it (a batch read ahead that is never
            // committed is released below, like any batch not acked).
            next = this.#read();
            next.catch(() => {});
          }
          if (inflight !== null && !(await this.#settle(inflight))) {
            plan = await makePlan(this.#ctx, part, await readMarkersFor(this.#ctx, part, null), null);
          }
          if (this.#ackFailed) return;
          const commit = startCommit(this.#ctx, plan);
          // Awaited in #settle; a rejection meanwhile must not count as unhandled.
          commit.catch(() => {});
          inflight = { plan, commit, owner: current };
        }
      }
      if (inflight !== null) await this.#settle(inflight);
      inflight = null;
      await this.#acks;
    } finally {
      if (next !== null) await next.catch(() => null);
      if (inflight !== null) await inflight.commit.catch(() => {});
      await this.#acks;
      // Whatever is still open was not acked (an error or a failed ack): give its rows back.
      for (const open of this.#open.splice(0)) await this.#run.stream.release(open.batch).catch(() => {});
    }
  }

  /** The next batch, or null when maxRows, the signal, a short batch or a failed ack says stop. */
  async #read(): Promise<Batch | null> {
    const run = this.#run;
    if (this.#done || this.#ackFailed || this.#readSoFar >= run.maxRows || run.signal?.aborted === true) return null;
    const want = Math.min(run.batchRows, run.maxRows - this.#readSoFar);
    const batch = await run.stream.read(
      { namespace: run.ref.namespace, name: run.ref.name },
      { maxRows: want, reader: run.reader },
    );
    if (batch.entries.length === 0) {
      this.#done = true;
      return null;
    }
    this.#readSoFar += batch.entries.length;
    if (this.#readSoFar >= run.maxRows && batch.entries.length === want) this.#result.hasMore = true;
    if (batch.entries.length < want) this.#done = true;
    const open: Batch = { batch, unsettled: 0, progress: null };
    this.#open.push(open);
    return open;
  }

  /** Settles a commit (see `settleCommit`); acks its batch after its last part. */
  async #settle(inflight: InFlight): Promise<boolean> {
    const firstTry = await settleCommit(this.#ctx, inflight.plan, inflight.commit, this.#result);
    const owner = inflight.owner;
    if (--owner.unsettled === 0) {
      const { processed, skippedAlreadyProcessed, malformed } = this.#result;
      owner.progress = { processed, skippedAlreadyProcessed, malformed };
      this.#acks = this.#acks.then(() => this.#ack(owner));
    }
    return firstTry;
  }

  async #ack(owner: Batch): Promise<void> {
    const run = this.#run;
    if (this.#ackFailed) return;
    let ack: { ok: boolean; removedUnits: string[] };
    try {
      ack = await run.stream.ack(owner.batch);
    } catch (error) {
      run.warn(`tally meter: ack failed for ${run.ref.name}; the rows come back and their markers skip them`, error);
      ack = { ok: false, removedUnits: [] };
    }
    if (!ack.ok) {
      this.#ackFailed = true;
      this.#result.complete = false;
      this.#result.hasMore = false;
      return;
    }
    this.#open.splice(this.#open.indexOf(owner), 1);
    for (const unit of ack.removedUnits) this.#removed.push(unit);
    if (owner.progress !== null) run.onProgress?.(owner.progress);
  }
}
