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
 */

import { LockLostError, TallyError } from "../errors.ts";
import type { Clock } from "../time/clock.ts";
import { aggregate } from "./aggregate.ts";
import { type CompiledDefinition, compileDefinition, InternedBatch } from "./interned-batch.ts";
import { parseRow } from "./parse-row.ts";
import type { Lease, MarkerUpdate, MeterRollups, ReportRef, StoredDefinition } from "./rollups.ts";
import type { MeterStream, StreamBatch, StreamEntry } from "./stream.ts";

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

const MAX_COMMIT_TRIES = 8;

export function leaseKeyOf(ref: ReportRef): string {
  return `${ref.namespace}:report:${ref.name}:v${ref.version}`;
}

export async function runProcess(run: ProcessRun): Promise<ProcessResult> {
  const { stream, rollups, clock, ref } = run;
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

  let batch: StreamBatch | null = null;
  // Markers of units that left the stream are forgotten once per call, not once per batch (one
  // store round trip and, for SQLite, one fsync less per batch). Unit names are never reused, so
  // a marker that outlives its unit for a moment is harmless (spec §6: "ack, before forget").
  const removed: string[] = [];
  try {
    let readSoFar = 0;
    while (readSoFar < run.maxRows) {
      if (run.signal?.aborted === true) break;
      const want = Math.min(run.batchRows, run.maxRows - readSoFar);
      batch = await stream.read({ namespace: ref.namespace, name: ref.name }, { maxRows: want, reader: run.reader });
      if (batch.entries.length === 0) break;
      readSoFar += batch.entries.length;
      const current = batch;
      try {
        await applyBatch(run, compiled, current.entries, lease, () => leaseLost, result);
      } catch (error) {
        await stream.release(current).catch(() => {});
        throw error;
      }
      let ack: { ok: boolean; removedUnits: string[] };
      try {
        ack = await stream.ack(current);
      } catch (error) {
        run.warn(`tally meter: ack failed for ${ref.name}; the rows come back and their markers skip them`, error);
        ack = { ok: false, removedUnits: [] };
      }
      if (!ack.ok) {
        await stream.release(current).catch(() => {});
        batch = null;
        result.complete = false;
        break;
      }
      for (const unit of ack.removedUnits) removed.push(unit);
      run.onProgress?.({
        processed: result.processed,
        skippedAlreadyProcessed: result.skippedAlreadyProcessed,
        malformed: result.malformed,
      });
      if (readSoFar >= run.maxRows && current.entries.length === want) result.hasMore = true;
      if (current.entries.length < want) break;
    }
    if (batch !== null) await stream.release(batch);
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

async function applyBatch(
  run: ProcessRun,
  compiled: CompiledDefinition,
  entries: readonly StreamEntry[],
  lease: Lease | null,
  lost: () => boolean,
  result: ProcessResult,
): Promise<void> {
  const size = Math.max(1, run.rollups.maxEntriesPerCommit);
  for (let from = 0; from < entries.length; from += size) {
    await commitPart(run, compiled, entries.slice(from, from + size), lease, lost, result);
  }
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

async function commitPart(
  run: ProcessRun,
  compiled: CompiledDefinition,
  entries: readonly StreamEntry[],
  lease: Lease | null,
  lost: () => boolean,
  result: ProcessResult,
): Promise<void> {
  const { rollups, ref } = run;
  const units = new Set<string>();
  let lastUnit: string | null = null;
  for (const entry of entries) {
    if (entry.unit !== lastUnit) {
      lastUnit = entry.unit;
      units.add(entry.unit);
    }
  }
  let markers = await rollups.readMarkers(ref, [...units]);
  for (let attempt = 1; attempt <= MAX_COMMIT_TRIES; attempt++) {
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
      const event = parseRow(entry.payload, ref.name);
      if (event === null) malformed++;
      else interned.add(event);
    }
    if (fresh === 0) {
      result.skippedAlreadyProcessed += skipped;
      return;
    }
    const keys = interned.intervalKeys();
    const state = keys.length > 0 ? await rollups.readIntervalState(ref, keys) : new Map<string, number>();
    const { rollups: deltas, intervalState } = aggregate(interned, state);
    const updates: MarkerUpdate[] = [];
    for (const [unit, high] of highs) updates.push({ unit, expected: markers.get(unit) ?? 0, high });
    if (lost())
      throw new LockLostError(`the lease on ${ref.name} v${ref.version} was lost; another processor holds it`);
    const outcome = await rollups.commit(ref, {
      rollups: deltas,
      intervalState,
      markers: updates,
      fence: lease,
      now: run.clock.now(),
    });
    if (outcome.ok) {
      result.processed += fresh;
      result.malformed += malformed;
      result.skippedAlreadyProcessed += skipped;
      return;
    }
    const reread = await rollups.readMarkers(ref, outcome.conflicts);
    markers = new Map(markers);
    for (const unit of outcome.conflicts) {
      const high = reread.get(unit);
      if (high === undefined) markers.delete(unit);
      else markers.set(unit, high);
    }
  }
  throw new TallyError(
    "STORE_UNAVAILABLE",
    `processing ${ref.name} v${ref.version} kept conflicting with another processor after ${MAX_COMMIT_TRIES} tries; run it again`,
  );
}
