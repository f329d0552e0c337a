/**
 * Turns a limiter's constraints into one atomic backend evaluation, and the state that evaluation
 * returns into the same verdict details an in-process `Limiter` gives (spec §6).
 *
 * The backend decides pass/fail (it must, to write atomically); this file computes what only a
 * denial needs: `observed`, `retryAfter` (fixed: the first boundary of U at which the remaining
 * buckets + pending + c fit; sliding: the earliest instant the estimate fits) and `usage`.
 */

import type { Periods } from "../../time/calendar.ts";
import { uniformPeriods } from "../../time/calendar.ts";
import type { Constraint, ScheduleLike } from "../constraints.ts";
import type { LimitUsage, Violation } from "../limit-result.ts";
import type { BackendTest, EvaluateReply, EventState } from "./counter-backend.ts";
import type { SharedEngine } from "./shared-engine.ts";
import { earliestFit, estimate, finerRingReached, slidingTerms, type Term } from "./sliding-window.ts";

export interface Plan {
  readonly eventIds: readonly string[];
  readonly tests: BackendTest[];
  readonly depth: number[][];
  /** Per constraint: its sliding terms at `now` (sliding atMost only). */
  readonly terms: Array<Term[] | undefined>;
}

/** The parts of a plan that do not name its events. */
type Shape = Pick<Plan, "tests" | "depth" | "terms">;

/** Most shapes `PlanShapes` keeps; past it, it starts over (sharing only saves work). */
const MAX_SHAPES = 1_024;

/**
 * The shapes of one store's plans that do not depend on now, by the key `ConstraintShape` gives.
 * Limiters of one shape (the same constraints but for the events they name, as with a limiter per
 * user) get plans that share one set of tests and depths: a limiter built per request finds its plan
 * without building one, what a backend caches by their identity is one entry for all of them, and a
 * lone caller's check reads one warm copy rather than a cold one per limiter (with a thousand
 * limiters, the cache misses of their own copies were ~2 µs of a ~65 µs Redis round trip).
 */
export class PlanShapes {
  readonly #shapes = new Map<string, Shape>();

  /** The plan of shape `key` for `eventIds`, when a plan of that shape was kept. */
  find(key: string, eventIds: readonly string[]): Plan | undefined {
    const shape = this.#shapes.get(key);
    return shape === undefined ? undefined : { eventIds, tests: shape.tests, depth: shape.depth, terms: shape.terms };
  }

  /** Keeps `plan` as the one of shape `key`; returns it. */
  keep(key: string, plan: Plan): Plan {
    if (this.#shapes.size >= MAX_SHAPES) this.#shapes.clear();
    this.#shapes.set(key, plan);
    return plan;
  }
}

/**
 * A limiter's constraints as `makePlan` sees them, built as they are added: the events they name (in
 * the order they first appear) and a text naming everything else a plan takes from them, each event as
 * its index. Two limiters whose keys for a call are equal get plans with equal tests and depths (the
 * property test in plan-shapes.test.ts holds `makePlan` to that), whatever events they name.
 */
export class ConstraintShape {
  /** The distinct events named, in order of appearance; replaced, never changed, when one is added. */
  #ids: readonly string[] = [];
  #text = "";

  get ids(): readonly string[] {
    return this.#ids;
  }

  add(c: Constraint): void {
    this.#text += `${tokenOf(c, "eventId" in c ? this.#indexOf(c.eventId) : -1)};`;
  }

  /** The key of a plan for a call on `id` of `count` (`makePlan` puts `id` first, then the others). */
  key(id: string, count: number): string {
    return `${count}/${this.#ids.indexOf(id)}/${this.#text}`;
  }

  /** The `eventIds` of a plan for a call on `id`: `id`, then the others in order of appearance. */
  eventIdsFor(id: string): readonly string[] {
    const ids = this.#ids;
    return ids[0] === id ? ids : [id, ...ids.filter((x) => x !== id)];
  }

  #indexOf(id: string): number {
    const i = this.#ids.indexOf(id);
    if (i >= 0) return i;
    this.#ids = [...this.#ids, id];
    return this.#ids.length - 1;
  }
}

/** What `makePlan` takes from one constraint but its event (given as an index). */
function tokenOf(c: Constraint, event: number): string {
  switch (c.kind) {
    case "atMost":
      return `M${event},${c.limit},${c.window.count},${c.window.unit},${c.sliding ? 1 : 0}`;
    case "atLeast":
      return `L${event},${c.count},${c.window.count},${c.window.unit}`;
    case "cooldown":
    case "within":
      return `${c.kind === "cooldown" ? "C" : "W"}${event},${c.duration}`;
    case "during":
    case "outsideOf":
    case "unavailable":
      // A schedule's verdict depends on now: a limiter holding one never shares plans.
      return c.kind;
  }
}

/** Builds the tests of `constraints` for a request of `count` on `id` at `now` (client clock). */
export function makePlan(
  engine: SharedEngine,
  constraints: readonly Constraint[],
  id: string,
  count: number,
  now: number,
): Plan {
  const eventIds: string[] = [id];
  const depth: number[][] = [];
  const units = engine.layout.units.length;
  const eventIndex = (x: string): number => {
    let i = eventIds.indexOf(x);
    if (i < 0) i = eventIds.push(x) - 1;
    while (depth.length <= i) depth.push(new Array<number>(units).fill(0));
    return i;
  };
  eventIndex(id);
  const need = (event: number, u: number, d: number): void => {
    const row = depth[event]!;
    const capped = Math.min(d, engine.layout.sizes[u]!);
    if (capped > row[u]!) row[u] = capped;
  };
  const tests: BackendTest[] = [];
  const terms: Array<Term[] | undefined> = [];
  for (const c of constraints) {
    switch (c.kind) {
      case "atMost": {
        const event = eventIndex(c.eventId);
        const u = engine.unitIndex(c.window.unit);
        const add = c.eventId === id ? count : 0;
        if (c.sliding) {
          const t = slidingTerms(engine.layout, engine.periods, u, c.window.count, now);
          terms.push(t);
          need(event, u, c.window.count + 2);
          if (finerRingReached(engine.layout, u, c.window.count)) need(event, u - 1, engine.layout.sizes[u - 1]!);
          tests.push({ kind: "atMost", event, limit: c.limit, add, terms: t });
        } else {
          terms.push(undefined);
          need(event, u, c.window.count);
          tests.push({
            kind: "atMost",
            event,
            limit: c.limit,
            add,
            terms: [{ unit: u, from: 0, to: c.window.count - 1, weight: 1 }],
          });
        }
        break;
      }
      case "atLeast": {
        const event = eventIndex(c.eventId);
        const u = engine.unitIndex(c.window.unit);
        terms.push(undefined);
        need(event, u, c.window.count);
        tests.push({ kind: "atLeast", event, count: c.count, unit: u, depth: c.window.count });
        break;
      }
      case "cooldown":
        terms.push(undefined);
        tests.push({ kind: "cooldown", event: eventIndex(c.eventId), ms: c.duration });
        break;
      case "within":
        terms.push(undefined);
        tests.push({ kind: "within", event: eventIndex(c.eventId), ms: c.duration });
        break;
      case "during":
        terms.push(undefined);
        tests.push({ kind: "fixed", pass: c.schedule.contains(now, engine.timeZone) });
        break;
      case "outsideOf":
        terms.push(undefined);
        tests.push({ kind: "fixed", pass: !c.schedule.contains(now, engine.timeZone) });
        break;
      case "unavailable":
        terms.push(undefined);
        tests.push({ kind: "fixed", pass: false });
        break;
    }
  }
  return { eventIds, tests, depth, terms };
}

/** The periods ordinals were computed with: the store's, or uniform ones for a server clock. */
export function periodsOf(engine: SharedEngine): Periods {
  return engine.clockSource === "server" ? uniformPeriods() : engine.periods;
}

function sumRow(row: readonly number[] | undefined, from: number, to: number): number {
  let total = 0;
  if (row === undefined) return 0;
  for (let i = from; i <= to && i < row.length; i++) total += row[i]!;
  return total;
}

function pendingTotal(state: EventState): number {
  let total = 0;
  for (const p of state.pending) total += p.count;
  return total;
}

/** Window count (sliding: the estimate) of an atMost constraint, without pending. */
function windowCount(plan: Plan, index: number, state: EventState, u: number, n: number): number {
  const t = plan.terms[index];
  if (t !== undefined) return estimate(t, state.buckets, []);
  return sumRow(state.buckets[u], 0, n - 1);
}

/** The violations of a denied evaluation, in declaration order, for the tests the backend failed. */
export function explain(
  engine: SharedEngine,
  constraints: readonly Constraint[],
  plan: Plan,
  reply: EvaluateReply,
  id: string,
  count: number,
): Violation<ScheduleLike>[] {
  const now = reply.now;
  const periods = periodsOf(engine);
  const states = reply.events ?? [];
  const violations: Violation<ScheduleLike>[] = [];
  constraints.forEach((c, index) => {
    if (reply.results[index] !== false) return;
    const test = plan.tests[index]!;
    const state = "event" in test ? states[test.event] : undefined;
    switch (c.kind) {
      case "atMost": {
        if (state === undefined) break;
        const u = engine.unitIndex(c.window.unit);
        const n = c.window.count;
        const pending = pendingTotal(state);
        const extra = pending + (c.eventId === id ? count : 0);
        const observed = windowCount(plan, index, state, u, n) + pending;
        let retryAfter: number | undefined;
        if (c.sliding) {
          retryAfter = earliestFit(engine.layout, periods, u, n, now, state.buckets, extra, c.limit);
        } else if (extra <= c.limit) {
          const row = state.buckets[u];
          // Counted from the period bucket 0 holds: now's, or a later one when the clock went back.
          const ord = state.aheadOrdinals?.[u] ?? periods.ordinal(c.window.unit, now);
          for (let k = 1; k <= n; k++) {
            if (sumRow(row, 0, n - 1 - k) + extra <= c.limit) {
              retryAfter = Math.max(0, periods.start(c.window.unit, ord + k) - now);
              break;
            }
          }
        }
        violations.push({ constraint: c, retryAfter, observed });
        break;
      }
      case "atLeast": {
        const u = engine.unitIndex(c.window.unit);
        const observed = state === undefined ? 0 : sumRow(state.buckets[u], 0, c.window.count - 1);
        violations.push({ constraint: c, retryAfter: undefined, observed });
        break;
      }
      case "cooldown": {
        let last = state?.lastSeenAt;
        for (const p of state?.pending ?? []) if (last === undefined || p.createdAt > last) last = p.createdAt;
        const elapsed = last === undefined ? undefined : Math.max(0, now - last);
        const retryAfter = elapsed === undefined ? undefined : Math.max(0, c.duration - elapsed);
        violations.push({ constraint: c, retryAfter, observed: elapsed });
        break;
      }
      case "within": {
        const last = state?.lastSeenAt;
        const elapsed = last === undefined ? undefined : Math.max(0, now - last);
        violations.push({ constraint: c, retryAfter: undefined, observed: elapsed });
        break;
      }
      case "during":
      case "outsideOf": {
        const change = c.schedule.nextChange(now, engine.timeZone);
        violations.push({
          constraint: c,
          retryAfter: change === undefined ? undefined : change - now,
          observed: undefined,
        });
        break;
      }
      case "unavailable":
        violations.push({ constraint: c, retryAfter: undefined, observed: undefined });
        break;
    }
  });
  return violations;
}

/** `usage(id)`: the tightest atMost on id (smallest remaining, first declared on ties). */
export function usageOf(
  engine: SharedEngine,
  constraints: readonly Constraint[],
  plan: Plan,
  reply: EvaluateReply,
  id: string,
): LimitUsage | undefined {
  const state = reply.events?.[0];
  let best: LimitUsage | undefined;
  constraints.forEach((c, index) => {
    if (c.kind !== "atMost" || c.eventId !== id || state === undefined) return;
    const u = engine.unitIndex(c.window.unit);
    const used = windowCount(plan, index, state, u, c.window.count) + pendingTotal(state);
    const remaining = Math.max(0, c.limit - used);
    if (best === undefined || remaining < best.remaining) best = { count: used, limit: c.limit, remaining };
  });
  return best;
}
