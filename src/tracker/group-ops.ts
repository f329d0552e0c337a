/**
 * The manager's calls as plan steps over one group's `WorkingGroup`. Each step is pure (a plan
 * may run more than once), validates before it changes anything (so a step that throws leaves the
 * batch's other steps intact), and pushes the events it generates for delivery after commit.
 */

import { TallyError } from "../errors.ts";
import type { ConditionMemo } from "./condition-memo.ts";
import {
  EVENT_NAMES,
  EVENT_TRACKER_ADDED,
  EVENT_TRACKER_ERROR,
  EVENT_TRACKER_EXPIRED,
  EVENT_TRACKER_REMOVED,
  EVENT_TRACKER_RESET,
  type EventCode,
  type TrackerEvent,
} from "./events.ts";
import { limiterType } from "./limiter-runtime.ts";
import { ResetPolicy } from "./reset-policy.ts";
import { isActive, isExpired, SCHEMA_VERSION, type StoredTracker, type TrackerDefinition } from "./stored-tracker.ts";
import type { TrackResult } from "./track-result.ts";
import { type Tracker, trackerFromRow } from "./tracker.ts";
import { compiledOf } from "./tracker-definition.ts";
import { bump, visitTracker } from "./visit-tracker.ts";
import type { WorkingGroup } from "./working-group.ts";

export interface StepEnv {
  now: number;
  compat: boolean;
  wants(code: EventCode): boolean;
  memo: ConditionMemo;
}

export interface Step<T> {
  /** The eventId to look up among applied ids. */
  eventId?: string;
  now: number;
  run(w: WorkingGroup, env: StepEnv, events: TrackerEvent[]): T;
}

function event(code: EventCode, row: StoredTracker, now: number, extra: Partial<TrackerEvent> = {}): TrackerEvent {
  return {
    code,
    type: EVENT_NAMES[code],
    at: now,
    groupId: row.groupId,
    name: row.name,
    tracker: trackerFromRow(row, now),
    ...extra,
  } as TrackerEvent;
}

/** Deletes every expired row of the group, with EXPIRED. */
function expire(w: WorkingGroup, env: StepEnv, events: TrackerEvent[]): number {
  let count = 0;
  for (const row of w.rows) {
    if (row.expiresAt !== null && isExpired(row, env.now)) {
      w.delete(row.name);
      count++;
      if (env.wants(EVENT_TRACKER_EXPIRED)) events.push(event(EVENT_TRACKER_EXPIRED, row, env.now));
    }
  }
  return count;
}

export function trackStep(data: object, now: number, eventId: string | undefined): Step<TrackResult> {
  const step: Step<TrackResult> = {
    now,
    run(w, env, events) {
      if (eventId !== undefined && w.isApplied(eventId)) {
        return { ok: true, duplicate: true, dirtied: [], completed: [], limited: [], errors: [] };
      }
      expire(w, env, events);
      const rows = w.rows;
      const dirtied: Tracker[] = [];
      const completed: Tracker[] = [];
      const limited: Tracker[] = [];
      const errors: TrackResult["errors"] = [];
      let anyActive = false;
      const visitEnv = { now, eventId, compat: env.compat, wants: env.wants, memo: env.memo };
      env.memo.begin();
      for (const row of rows) {
        if (!isActive(row)) continue;
        anyActive = true;
        let visit: ReturnType<typeof visitTracker>;
        // A failing tracker's events are dropped: remember where its events would start.
        const mark = events.length;
        try {
          visit = visitTracker(row, compiledOf(row), data, visitEnv, events);
        } catch (error) {
          visit = { kind: "error", error: error as TallyError };
        }
        if (visit.kind === "error") {
          events.length = mark;
          const tracker = trackerFromRow(row, now);
          errors.push({ name: row.name, error: visit.error, tracker });
          if (env.wants(EVENT_TRACKER_ERROR)) {
            const e = event(EVENT_TRACKER_ERROR, row, now, { error: visit.error, source: "track" });
            if (eventId !== undefined) e.eventId = eventId;
            events.push(e);
          }
          continue;
        }
        if (visit.kind === "skipped") {
          limited.push(trackerFromRow(row, now));
          continue;
        }
        const final = visit.row ?? row;
        if (visit.row !== undefined) w.put(visit.row);
        const inDirtied = visit.matched || visit.becameLimited;
        if (!inDirtied && !final.state.limited) continue;
        const copy = trackerFromRow(final, now);
        if (inDirtied) dirtied.push(copy);
        if (visit.completedNow) completed.push(copy);
        if (final.state.limited && final.state.completedAt === null) limited.push(copy);
      }
      if (eventId !== undefined && anyActive) w.recordId(eventId);
      return {
        ok: errors.length === 0,
        duplicate: false,
        dirtied,
        completed,
        limited,
        errors,
      };
    },
  };
  if (eventId !== undefined) step.eventId = eventId;
  return step;
}

/** Fills what is fixed at insert: the TimeLimiter start (the manager clock's now). */
function resolveDefinition(def: TrackerDefinition, now: number): TrackerDefinition {
  if (!def.limiters.some((l) => l.type === "time")) return def;
  return { ...def, limiters: def.limiters.map((l) => limiterType(l.type).resolve(l, now)) };
}

export function addStep(rows: readonly StoredTracker[], now: number, expiresAt: number | null): Step<Tracker[]> {
  return {
    now,
    run(w, env, events) {
      expire(w, env, events);
      for (const src of rows) {
        if (w.find(src.name) !== undefined) {
          throw new TallyError(
            "CONFLICTING_NAME",
            `group "${w.groupId}" already has a tracker named "${src.name}" (active or completed): remove it first or pick another name`,
            { details: { groupId: w.groupId, name: src.name } },
          );
        }
      }
      const stored: Tracker[] = [];
      for (const src of rows) {
        const row: StoredTracker = {
          schemaVersion: SCHEMA_VERSION,
          type: src.type,
          groupId: w.groupId,
          name: src.name,
          seq: w.nextSeq(),
          version: 1,
          definition: resolveDefinition(src.definition, now),
          state: src.state,
          expiresAt,
          createdAt: now,
          updatedAt: now,
        };
        w.put(row);
        const copy = trackerFromRow(row, now);
        stored.push(copy);
        if (env.wants(EVENT_TRACKER_ADDED)) events.push({ ...event(EVENT_TRACKER_ADDED, row, now), tracker: copy });
      }
      return stored;
    },
  };
}

function findLive(w: WorkingGroup, name: string, now: number): StoredTracker {
  const row = w.find(name);
  if (row === undefined || isExpired(row, now)) {
    throw new TallyError("TRACKER_NOT_FOUND", `group "${w.groupId}" has no tracker named "${name}"`, {
      details: { groupId: w.groupId, name },
    });
  }
  if (!isActive(row)) {
    throw new TallyError(
      "TRACKER_COMPLETED",
      `tracker "${name}" in group "${w.groupId}" is completed: it cannot change`,
      {
        details: { groupId: w.groupId, name },
      },
    );
  }
  return row;
}

export function updateStep(copy: StoredTracker, now: number, force: boolean): Step<Tracker> {
  return {
    now,
    run(w) {
      const existing = findLive(w, copy.name, now);
      if (copy.state.completedAt !== null) {
        throw new TallyError("TRACKER_COMPLETED", `the copy of "${copy.name}" is completed: it cannot be stored`);
      }
      if (!force && copy.version !== existing.version) {
        throw new TallyError(
          "VERSION_CONFLICT",
          `tracker "${copy.name}" changed since this copy was read (version ${copy.version}, stored ${existing.version}): re-read it, re-apply your change and retry, or pass { force: true }`,
          { details: { groupId: w.groupId, name: copy.name, version: copy.version, stored: existing.version } },
        );
      }
      const row: StoredTracker = {
        ...existing,
        type: copy.type,
        definition: resolveDefinition(copy.definition, now),
        state: copy.state,
        version: existing.version + 1,
        updatedAt: now,
      };
      compiledOf(row);
      w.put(row);
      return trackerFromRow(row, now);
    },
  };
}

export function removeStep(names: readonly string[] | undefined, now: number): Step<number> {
  return {
    now,
    run(w, env, events) {
      expire(w, env, events);
      const targets = names === undefined ? [...w.rows] : names.map((n) => w.find(n)).filter((r) => r !== undefined);
      for (const row of targets) {
        w.delete(row.name);
        if (env.wants(EVENT_TRACKER_REMOVED)) events.push(event(EVENT_TRACKER_REMOVED, row, now));
      }
      return targets.length;
    },
  };
}

export function resetStep(
  name: string,
  policy: number | undefined,
  resetCount: number | undefined,
  now: number,
): Step<Tracker> {
  return {
    now,
    run(w, env, events) {
      const row = findLive(w, name, now);
      const def = compiledOf(row).def;
      const bits = policy ?? def.resetPolicy;
      const limiterBit = (bits & ResetPolicy.LIMITER) !== 0;
      if (resetCount !== undefined && (!limiterBit || !def.limiters.some((l) => l.type === "count"))) {
        throw new TallyError(
          "INVALID_ARGUMENT",
          `resetCount needs the LIMITER bit in the reset policy and a CountLimiter on tracker "${name}"`,
          { details: { policy: bits, resetCount } },
        );
      }
      const state = { ...row.state };
      let definition = row.definition;
      if ((bits & ResetPolicy.PROGRESS) !== 0) state.progress = 0;
      if (limiterBit) {
        const limiters = def.limiters.map((l, i) =>
          limiterType(l.type).reset(l, row.state.limiters[i] ?? {}, now, l.type === "count" ? resetCount : undefined),
        );
        state.limiters = limiters.map(([, s]) => s);
        if (resetCount !== undefined) definition = { ...row.definition, limiters: limiters.map(([d]) => d) };
        state.limited = limiters.some(([d, s]) => limiterType(d.type).blocks(d, s, now));
      }
      const next = { ...bump(row, state, now), definition };
      w.put(next);
      const copy = trackerFromRow(next, now);
      if (env.wants(EVENT_TRACKER_RESET))
        events.push({ ...event(EVENT_TRACKER_RESET, next, now), tracker: copy, reason: "manual" });
      return copy;
    },
  };
}

export function sweepStep(now: number): Step<number> {
  return { now, run: (w, env, events) => expire(w, env, events) };
}

export function readStep(names: readonly string[] | undefined, now: number): Step<StoredTracker[]> {
  return {
    now,
    run(w) {
      const wanted = names === undefined ? undefined : new Set(names);
      return w.rows.filter((r) => !isExpired(r, now) && (wanted === undefined || wanted.has(r.name)));
    },
  };
}
