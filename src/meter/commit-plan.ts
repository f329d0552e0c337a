/**
 * One commit of a processing run (spec §6 steps 2–5): which entries are fresh against their unit
 * markers, their aggregation, and the compare-and-set commit with its retries.
 *
 * A plan may be made while the previous commit is still in flight. It then *assumes* that commit
 * succeeds: the marker highs and interval state that commit writes are taken as stored. The
 * processor commits such a plan only when the previous commit did succeed on its first try with
 * exactly those values; otherwise it plans again from what is stored. A wrong assumption about
 * markers could never double count anyway (the compare-and-set conflicts and the plan is redone),
 * and interval state is only moved under the report lease, so nothing else can move it meanwhile.
 */

import { LockLostError, TallyError } from "../errors.ts";
import { type Aggregate, aggregate } from "./aggregate.ts";
import { type CompiledDefinition, InternedBatch } from "./interned-batch.ts";
import { addEntry } from "./parse-row.ts";
import type { ProcessResult, ProcessRun } from "./processor.ts";
import type { CommitResult, Lease, MarkerUpdate } from "./rollups.ts";
import { stateKey } from "./rollups.ts";
import type { StreamEntry } from "./stream.ts";

const MAX_COMMIT_TRIES = 8;

/**
 * What a plan made ahead takes as stored: the in-flight commit's marker highs and interval state
 * (by `stateKey`). What it names is not read from the store at all: the commit sets exactly these
 * values if it succeeds on its first try (the only case in which the plan is used), and nothing
 * else moves them meanwhile. So in the steady state of a run, where a batch's units and identities
 * are the previous batch's, planning asks the store nothing and runs while the commit is in flight
 * (on Redis, where any read waits for the running commit script, a read would serialise the two).
 */
export interface Assumed {
  highs: ReadonlyMap<string, number>;
  intervalState: ReadonlyMap<string, number>;
}

export interface CommitPlan {
  entries: readonly StreamEntry[];
  /** Expected stored high-water per unit (absent = no marker). */
  markers: ReadonlyMap<string, number>;
  /** New high-water per unit with fresh entries. */
  highs: Map<string, number>;
  /** Null when no entry is fresh (nothing to commit). */
  deltas: Aggregate | null;
  fresh: number;
  skipped: number;
  malformed: number;
}

/** The run's fixed parts every plan needs. */
export interface PlanContext {
  run: ProcessRun;
  compiled: CompiledDefinition;
  lease: Lease | null;
  lost: () => boolean;
}

/** Stored markers of the entries' units, with the assumed highs over them. */
export async function readMarkersFor(
  ctx: PlanContext,
  entries: readonly StreamEntry[],
  assumed: Assumed | null,
): Promise<Map<string, number>> {
  const units = new Set<string>();
  let lastUnit: string | null = null;
  for (const entry of entries) {
    if (entry.unit !== lastUnit) {
      lastUnit = entry.unit;
      units.add(entry.unit);
    }
  }
  const unknown = assumed === null ? [...units] : [...units].filter((unit) => !assumed.highs.has(unit));
  const markers =
    unknown.length > 0 ? await ctx.run.rollups.readMarkers(ctx.run.ref, unknown) : new Map<string, number>();
  if (assumed !== null) {
    for (const unit of units) {
      const high = assumed.highs.get(unit);
      if (high !== undefined) markers.set(unit, high);
    }
  }
  return markers;
}

/** Ids of the fresh entries before position `end` (the slow path for out-of-order batches). */
function seenIds(entries: readonly StreamEntry[], end: number, markers: ReadonlyMap<string, number>): Set<string> {
  const seen = new Set<string>();
  for (let i = 0; i < end; i++) {
    const entry = entries[i] as StreamEntry;
    if (entry.seq > (markers.get(entry.unit) ?? 0)) seen.add(entry.id);
  }
  return seen;
}

export async function makePlan(
  ctx: PlanContext,
  entries: readonly StreamEntry[],
  markers: ReadonlyMap<string, number>,
  assumed: Assumed | null,
): Promise<CommitPlan> {
  const { run, compiled } = ctx;
  const highs = new Map<string, number>();
  const interned = new InternedBatch(compiled, entries.length);
  let skipped = 0;
  let malformed = 0;
  let fresh = 0;
  // Duplicate ids: a batch holds an ascending run per unit, so an entry whose seq is not above
  // its unit's high so far is either a duplicate or out of order; only then are ids compared.
  let seen: Set<string> | null = null;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as StreamEntry;
    if (entry.seq <= (markers.get(entry.unit) ?? 0)) {
      skipped++;
      continue;
    }
    const high = highs.get(entry.unit);
    if (high !== undefined && entry.seq <= high) {
      seen ??= seenIds(entries, i, markers);
      if (seen.has(entry.id)) {
        skipped++;
        continue;
      }
    } else highs.set(entry.unit, entry.seq);
    seen?.add(entry.id);
    fresh++;
    if (!addEntry(interned, entry, run.ref.name)) malformed++;
  }
  if (fresh === 0) return { entries, markers, highs, deltas: null, fresh, skipped, malformed };
  const keys = interned.intervalKeys();
  const known = assumed?.intervalState;
  const unknown = known === undefined ? keys : keys.filter((k) => !known.has(stateKey(k.param, k.value)));
  const state = unknown.length > 0 ? await run.rollups.readIntervalState(run.ref, unknown) : new Map<string, number>();
  if (known !== undefined) for (const [key, lastMs] of known) state.set(key, lastMs);
  return { entries, markers, highs, deltas: aggregate(interned, state), fresh, skipped, malformed };
}

/** What a later plan may assume once this plan's commit succeeded. */
export function assumedAfter(plan: CommitPlan): Assumed {
  const intervalState = new Map<string, number>();
  for (const s of plan.deltas?.intervalState ?? []) intervalState.set(stateKey(s.param, s.value), s.lastMs);
  return { highs: plan.highs, intervalState };
}

/** Starts the plan's commit (resolves `{ ok: true }` at once when nothing is fresh). */
export function startCommit(ctx: PlanContext, plan: CommitPlan): Promise<CommitResult> {
  const deltas = plan.deltas;
  if (deltas === null) return Promise.resolve({ ok: true });
  const { run } = ctx;
  if (ctx.lost()) {
    return Promise.reject(
      new LockLostError(`the lease on ${run.ref.name} v${run.ref.version} was lost; another processor holds it`),
    );
  }
  const updates: MarkerUpdate[] = [];
  for (const [unit, high] of plan.highs) updates.push({ unit, expected: plan.markers.get(unit) ?? 0, high });
  return run.rollups.commit(run.ref, {
    // The delta objects are made only for a store that reads them (see `RollupColumns`).
    get rollups() {
      return deltas.rollups;
    },
    columns: deltas.columns,
    intervalState: deltas.intervalState,
    markers: updates,
    fence: ctx.lease,
    now: run.clock.now(),
  });
}

/**
 * Awaits the plan's commit and redoes it (re-reading the conflicting markers) until it succeeds,
 * then adds its counts to `result`. True when the first try succeeded.
 */
export async function settleCommit(
  ctx: PlanContext,
  first: CommitPlan,
  commit: Promise<CommitResult>,
  result: ProcessResult,
): Promise<boolean> {
  let plan = first;
  let outcome = await commit;
  for (let attempt = 1; !outcome.ok; attempt++) {
    if (attempt >= MAX_COMMIT_TRIES) {
      const { ref } = ctx.run;
      throw new TallyError(
        "STORE_UNAVAILABLE",
        `processing ${ref.name} v${ref.version} kept conflicting with another processor after ${MAX_COMMIT_TRIES} tries; run it again`,
      );
    }
    const reread = await ctx.run.rollups.readMarkers(ctx.run.ref, outcome.conflicts);
    const markers = new Map(plan.markers);
    for (const unit of outcome.conflicts) {
      const high = reread.get(unit);
      if (high === undefined) markers.delete(unit);
      else markers.set(unit, high);
    }
    plan = await makePlan(ctx, plan.entries, markers, null);
    outcome = await startCommit(ctx, plan);
  }
  result.processed += plan.fresh;
  result.malformed += plan.malformed;
  result.skippedAlreadyProcessed += plan.skipped;
  return plan === first;
}
