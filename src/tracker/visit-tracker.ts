/**
 * One tracker's part of a `track` call (spec §2.3 step 4, §2.4, §2.5): limiter pre-step,
 * conditions, increment, stage advance, limiter post-step. Pure: it returns the new row (or none)
 * and pushes events; a failing step returns the error and leaves the row as it was.
 *
 * Event order within a tracker: pre-step LIMITED → PROGRESSED → (STAGE_COMPLETED, RESET) per
 * stage crossed, or ALL_COMPLETED → post-step LIMITED. With `compat: "dictrack"` each stage pair
 * is emitted RESET first.
 */

import type { TallyError } from "../errors.ts";
import type { ConditionMemo } from "./condition-memo.ts";
import {
  EVENT_NAMES,
  EVENT_TRACKER_ALL_COMPLETED,
  EVENT_TRACKER_LIMITED,
  EVENT_TRACKER_PROGRESSED,
  EVENT_TRACKER_RESET,
  EVENT_TRACKER_STAGE_COMPLETED,
  type EventCode,
  type TrackerEvent,
} from "./events.ts";
import { limiterType } from "./limiter-runtime.ts";
import { ResetPolicy } from "./reset-policy.ts";
import type { StoredTracker, TrackerState } from "./stored-tracker.ts";
import { trackerFromRow } from "./tracker.ts";
import type { CompiledTracker } from "./tracker-definition.ts";

/** Stage advances one event may complete under catchUp (a guard against runaway carry loops). */
export const MAX_TURNS_PER_EVENT = 10_000;

export interface VisitEnv {
  now: number;
  eventId: string | undefined;
  compat: boolean;
  wants(code: EventCode): boolean;
  memo: ConditionMemo;
}

export type Visit =
  | { kind: "skipped"; stillLimited: boolean }
  | { kind: "error"; error: TallyError }
  | { kind: "done"; row: StoredTracker | undefined; matched: boolean; becameLimited: boolean; completedNow: boolean };

/** An event whose tracker copy is taken from the final row unless a snapshot is given. */
interface Pending {
  event: TrackerEvent;
  snapshot?: TrackerState;
  stageView?: boolean;
}

/** The common outcomes that carry nothing of their own, shared (callers only read them). */
const NO_MATCH: Visit = Object.freeze({
  kind: "done",
  row: undefined,
  matched: false,
  becameLimited: false,
  completedNow: false,
});
const STILL_LIMITED: Visit = Object.freeze({ kind: "skipped", stillLimited: true });

export function visitTracker(
  row: StoredTracker,
  compiled: CompiledTracker,
  data: object,
  env: VisitEnv,
  out: TrackerEvent[],
): Visit {
  const def = compiled.def;
  const st = row.state;
  const now = env.now;
  const hasLimiters = def.limiters.length > 0;
  let w: TrackerState | undefined;

  // Limiter pre-step: re-evaluate the limited state at now.
  if (hasLimiters) {
    const blocking = blockingLimiters(compiled, st, now);
    if (st.limited) {
      if (blocking.length > 0) return STILL_LIMITED;
      w = copyState(st);
      w.limited = false;
    } else if (blocking.length > 0) {
      w = copyState(st);
      w.limited = true;
      const next = bump(row, w, now);
      if (env.wants(EVENT_TRACKER_LIMITED)) {
        const pending: Pending[] = [];
        for (const i of blocking) pending.push(limitedEvent(row, compiled, w, i, env));
        flush(pending, next, env.now, out);
      }
      return { kind: "done", row: next, matched: false, becameLimited: true, completedNow: false };
    }
  }

  // Conditions, in order, short-circuiting; results shared through the memo.
  for (const c of compiled.conditions) {
    const r = env.memo.check(c.id, c.test, data, now);
    if (r === true) continue;
    if (r === false) {
      if (w === undefined) return NO_MATCH;
      return { kind: "done", row: bump(row, w, now), matched: false, becameLimited: false, completedNow: false };
    }
    return { kind: "error", error: r };
  }

  const increment = compiled.increment(data);
  if (typeof increment !== "number") return { kind: "error", error: increment };
  // Allocated only for a matching event: most visits end at the conditions.
  const pending: Pending[] = [];
  w = w === undefined ? copyState(st) : w;
  w.progress += increment;
  if (increment !== 0 && env.wants(EVENT_TRACKER_PROGRESSED)) {
    pending.push({ event: base(EVENT_TRACKER_PROGRESSED, row, env, { delta: increment }) });
  }

  const completedNow = advanceStages(row, compiled, w, env, pending);

  // Limiter post-step: count this event, then lock if a limiter is now exhausted.
  let becameLimited = false;
  if (hasLimiters) {
    const states = w.limiters;
    w.limiters = def.limiters.map((l, i) => limiterType(l.type).consume(l, states[i] ?? {}, now));
    if (w.completedAt === null && !w.limited) {
      const exhausted: number[] = [];
      def.limiters.forEach((l, i) => {
        if (limiterType(l.type).exhausted(l, (w as TrackerState).limiters[i] ?? {}, now)) exhausted.push(i);
      });
      if (exhausted.length > 0) {
        w.limited = true;
        becameLimited = true;
        if (env.wants(EVENT_TRACKER_LIMITED))
          for (const i of exhausted) pending.push(limitedEvent(row, compiled, w, i, env));
      }
    }
  }

  const next = bump(row, w, now);
  flush(pending, next, now, out);
  return { kind: "done", row: next, matched: true, becameLimited, completedNow };
}

/** Completes stages while progress reaches the target (once, or repeatedly under catchUp). */
function advanceStages(
  row: StoredTracker,
  compiled: CompiledTracker,
  w: TrackerState,
  env: VisitEnv,
  pending: Pending[],
): boolean {
  const def = compiled.def;
  let turns = 0;
  while (w.completedAt === null) {
    const index = w.stageIndex;
    const target = def.targets[index] as number;
    if (w.progress < target) return false;
    const isLast = index === def.targets.length - 1;
    w.stagesCompleted++;
    if (isLast && !def.loopForever) {
      w.completedAt = env.now;
      if (env.wants(EVENT_TRACKER_ALL_COMPLETED)) {
        pending.push({ event: base(EVENT_TRACKER_ALL_COMPLETED, row, env, { stage: index + 1 }) });
      }
      return true;
    }
    const finished = copyState(w);
    if (!isLast) w.stageIndex = index + 1;
    if (def.progressMode === "perStage") w.progress = def.overflow === "carry" ? w.progress - target : 0;
    if ((def.resetPolicy & ResetPolicy.LIMITER) !== 0 && def.limiters.length > 0) {
      const states = w.limiters;
      w.limiters = def.limiters.map((l, i) => limiterType(l.type).refill(l, states[i] ?? {}));
    }
    const stage: Pending = {
      event: base(EVENT_TRACKER_STAGE_COMPLETED, row, env, { stage: index + 1 }),
      snapshot: finished,
      stageView: true,
    };
    const reset: Pending = { event: base(EVENT_TRACKER_RESET, row, env, { reason: "stage" }), snapshot: copyState(w) };
    const wantStage = env.wants(EVENT_TRACKER_STAGE_COMPLETED);
    const wantReset = env.wants(EVENT_TRACKER_RESET);
    if (env.compat) {
      if (wantReset) pending.push(reset);
      if (wantStage) pending.push(stage);
    } else {
      if (wantStage) pending.push(stage);
      if (wantReset) pending.push(reset);
    }
    turns++;
    if (!def.catchUp || turns >= MAX_TURNS_PER_EVENT) return false;
  }
  return false;
}

function blockingLimiters(compiled: CompiledTracker, state: TrackerState, now: number): number[] {
  const found: number[] = [];
  const defs = compiled.def.limiters;
  for (let i = 0; i < defs.length; i++) {
    const l = defs[i];
    if (l !== undefined && limiterType(l.type).blocks(l, state.limiters[i] ?? {}, now)) found.push(i);
  }
  return found;
}

function limitedEvent(
  row: StoredTracker,
  compiled: CompiledTracker,
  w: TrackerState,
  i: number,
  env: VisitEnv,
): Pending {
  const l = compiled.def.limiters[i];
  const extra = l === undefined ? {} : { limiter: limiterType(l.type).snapshot(l, w.limiters[i] ?? {}, env.now) };
  return { event: base(EVENT_TRACKER_LIMITED, row, env, extra) };
}

function base(code: EventCode, row: StoredTracker, env: VisitEnv, extra: Partial<TrackerEvent>): TrackerEvent {
  const event = {
    code,
    type: EVENT_NAMES[code],
    at: env.now,
    groupId: row.groupId,
    name: row.name,
    tracker: undefined as unknown as TrackerEvent["tracker"],
    ...extra,
  } as TrackerEvent;
  if (env.eventId !== undefined) event.eventId = env.eventId;
  return event;
}

/** A changed row: same definition object (so compiled forms stay cached), next version. */
export function bump(row: StoredTracker, state: TrackerState, now: number): StoredTracker {
  return {
    schemaVersion: row.schemaVersion,
    type: row.type,
    groupId: row.groupId,
    name: row.name,
    seq: row.seq,
    version: row.version + 1,
    definition: row.definition,
    state,
    expiresAt: row.expiresAt,
    createdAt: row.createdAt,
    updatedAt: now,
  };
}

/** A shallow copy of a state as one literal (a stable shape is cheaper than a spread). */
export function copyState(st: TrackerState): TrackerState {
  return {
    progress: st.progress,
    stageIndex: st.stageIndex,
    stagesCompleted: st.stagesCompleted,
    limited: st.limited,
    limiters: st.limiters,
    completedAt: st.completedAt,
  };
}

function flush(pending: Pending[], final: StoredTracker, now: number, out: TrackerEvent[]): void {
  for (const p of pending) {
    const r = p.snapshot === undefined ? final : { ...final, state: p.snapshot };
    p.event.tracker = trackerFromRow(r, now, p.stageView === true);
    out.push(p.event);
  }
}
