/**
 * `SharedLimiter`: the fluent limiter of spec §6 whose terminals are one atomic backend round trip
 * each (check, allowed, checkAndRecord, usage, reserve). Constraint methods validate immediately
 * and throw like the in-process `Limiter`; terminals resolve to the same values, plus `degraded:
 * true` when the failure policy or the fallback store answered instead of the backend.
 *
 * Failure policy (limit terminals only; see `SharedEventStore`): with a fallback store the same
 * constraints run against it; else "throw" rejects with `STORAGE_FAILED`, "allow" resolves
 * `{ ok: true, degraded: true }` (the limit is not enforced while the backend is down), "deny"
 * resolves `{ ok: false, error, degraded: true }` whose constraint is `{ kind: "unavailable" }`
 * (nothing passes while the backend is down). `usage` has no verdict to degrade to: without a
 * fallback it rejects whatever the policy.
 */

import { randomUUID } from "node:crypto";
import { isTallyError, TallyError } from "../../errors.ts";
import type { Duration } from "../../time/duration.ts";
import { toMs } from "../../time/duration.ts";
import {
  type Constraint,
  type ScheduleLike,
  validateLimitValue,
  validateSchedule,
  validateTerminalCount,
} from "../constraints.ts";
import { validateEventId } from "../event-id.ts";
import { ALLOWED, denial, type LimitExceeded, type LimitResult, type LimitUsage } from "../limit-result.ts";
import { checkWindowFits, resolveWindow, type Window } from "../window.ts";
import type { FallbackLimiter, FallbackStore } from "./fallback-store.ts";
import { ConstraintShape, explain, makePlan, type Plan, type PlanShapes, usageOf } from "./limit-plan.ts";
import type { SharedEngine, StoreErrorPolicy } from "./shared-engine.ts";
import {
  BackendReservation,
  FallbackReservation,
  type SharedReservation,
  UnheldReservation,
} from "./shared-reservation.ts";

export type SharedLimitResult =
  | LimitResult
  | { readonly ok: true; readonly degraded: true }
  | { readonly ok: false; readonly error: LimitExceeded; readonly degraded: true };

export type SharedReserveResult =
  | { readonly ok: true; readonly reservation: SharedReservation; readonly degraded?: true }
  | { readonly ok: false; readonly error: LimitExceeded; readonly degraded?: true };

/** What a limiter needs from its store. */
export interface SharedContext {
  readonly engine: SharedEngine;
  readonly policy: StoreErrorPolicy;
  readonly fallback: FallbackStore | undefined;
  /** The store's plan shapes, shared by its limiters. */
  readonly shapes: PlanShapes;
  /** Records through the store (used by an "allow" reservation's commit). */
  recordCount(id: string, count: number): Promise<void>;
}

const UNAVAILABLE: Constraint = Object.freeze({ kind: "unavailable" as const });
const DEGRADED_OK = Object.freeze({ ok: true as const, degraded: true as const });
const DEFAULT_TTL = 60_000;

export class SharedLimiter {
  readonly #context: SharedContext;
  readonly #constraints: Constraint[] = [];
  /** The same constraint calls, replayed on the fallback store's limiter when it is needed. */
  readonly #calls: Array<(limiter: FallbackLimiter) => unknown> = [];
  #fallbackLimiter: FallbackLimiter | undefined;
  readonly #shape = new ConstraintShape();
  // The plan of the last call (see `#plan`), by id and count: fields of the limiter rather than an
  // object of their own, so a lone check of one of many limiters reads one object fewer from cold memory.
  #lastId: string | undefined;
  #lastCount = 0;
  #lastPlan: Plan | undefined;
  #timeDependent = false;

  constructor(context: SharedContext) {
    this.#context = context;
  }

  get constraints(): readonly Constraint[] {
    return this.#constraints;
  }

  atMost(id: string, limit: number, window: Window, options: { sliding?: boolean } = {}): this {
    const engine = this.#context.engine;
    this.#validate(id);
    validateLimitValue(limit, "an atMost limit");
    const spec = resolveWindow(window, engine.isTracked);
    const sliding = options.sliding === true;
    checkWindowFits(spec, engine.layout.sizes[engine.unitIndex(spec.unit)]!, sliding);
    if (sliding && engine.clockSource === "server") {
      throw new TallyError(
        "INVALID_CONFIG",
        `a sliding window needs clockSource("client"): its weights depend on now, which a server clock only knows inside the script; use a fixed window or the client clock`,
      );
    }
    this.#add(Object.freeze({ kind: "atMost", eventId: id, limit, window: Object.freeze(spec), sliding }), (l) =>
      l.atMost(id, limit, window, options),
    );
    return this;
  }

  atLeast(id: string, count: number, window: Window): this {
    const engine = this.#context.engine;
    this.#validate(id);
    validateLimitValue(count, "an atLeast count");
    const spec = resolveWindow(window, engine.isTracked);
    checkWindowFits(spec, engine.layout.sizes[engine.unitIndex(spec.unit)]!, false);
    this.#add(Object.freeze({ kind: "atLeast", eventId: id, count, window: Object.freeze(spec) }), (l) =>
      l.atLeast(id, count, window),
    );
    return this;
  }

  cooldown(id: string, d: Duration): this {
    this.#validate(id);
    const duration = toMs(d, "cooldown duration");
    this.#add(Object.freeze({ kind: "cooldown", eventId: id, duration }), (l) => l.cooldown(id, d));
    return this;
  }

  within(id: string, d: Duration): this {
    this.#validate(id);
    const duration = toMs(d, "within duration");
    this.#add(Object.freeze({ kind: "within", eventId: id, duration }), (l) => l.within(id, d));
    return this;
  }

  during(schedule: ScheduleLike): this {
    validateSchedule(schedule);
    this.#add(Object.freeze({ kind: "during", schedule }), (l) => l.during(schedule));
    return this;
  }

  outsideOf(schedule: ScheduleLike): this {
    validateSchedule(schedule);
    this.#add(Object.freeze({ kind: "outsideOf", schedule }), (l) => l.outsideOf(schedule));
    return this;
  }

  /** Evaluates every constraint; records nothing, creates nothing. */
  check(id: string, count = 1): Promise<SharedLimitResult> {
    return this.#verdict(id, count, "check", "onDenial");
  }

  /** `check` without building a denial. */
  async allowed(id: string, count = 1): Promise<boolean> {
    return (await this.#verdict(id, count, "check", "never")).ok;
  }

  /** Evaluates and, if allowed, records `count` into `id` in the same atomic step. */
  checkAndRecord(id: string, count = 1): Promise<SharedLimitResult> {
    return this.#verdict(id, count, "record", "onDenial");
  }

  /** The tightest atMost on `id`: count = window count + pending, remaining = max(0, limit - count). */
  async usage(id: string): Promise<LimitUsage> {
    this.#validate(id);
    const context = this.#context;
    const engine = context.engine;
    if (!this.#constraints.some((c) => c.kind === "atMost" && c.eventId === id)) {
      throw new TallyError(
        "NO_AT_MOST_CONSTRAINT",
        `usage("${id}") needs an atMost constraint on "${id}": add one with atMost("${id}", limit, window)`,
        { details: { eventId: id } },
      );
    }
    const now = engine.now();
    const plan = makePlan(engine, this.#constraints, id, 1, now);
    try {
      const reply = await engine.call(
        (b) =>
          b.evaluate({
            time: engine.time(now),
            eventIds: plan.eventIds,
            tests: [],
            action: "check",
            target: 0,
            count: 1,
            state: "always",
            depth: plan.depth,
          }),
        `usage("${id}")`,
      );
      return (
        usageOf(engine, this.#constraints, plan, { ...reply, results: [] }, id) ?? { count: 0, limit: 0, remaining: 0 }
      );
    } catch (error) {
      if (context.fallback === undefined || !isStorageFailure(error)) throw error;
      return this.#fallback().usage(id);
    }
  }

  /**
   * Holds `count` slots of `id` for `ttl` (default "60s") if every constraint passes with them, in
   * one atomic step; the event is created. Settle with `commit()`/`cancel()` or `await using`.
   */
  async reserve(id: string, options: { count?: number; ttl?: Duration } = {}): Promise<SharedReserveResult> {
    const count = options.count ?? 1;
    this.#validate(id);
    validateTerminalCount(count);
    const ttl = options.ttl === undefined ? DEFAULT_TTL : toMs(options.ttl, "reservation ttl");
    const context = this.#context;
    const engine = context.engine;
    const now = engine.now();
    const plan = makePlan(engine, this.#constraints, id, count, now);
    try {
      const reply = await engine.call(
        (b) =>
          b.evaluate({
            time: engine.time(now),
            eventIds: plan.eventIds,
            tests: plan.tests,
            action: "reserve",
            target: 0,
            count,
            reservation: { id: randomUUID(), ttlMs: ttl },
            state: "onDenial",
            depth: plan.depth,
          }),
        `reserve("${id}")`,
      );
      if (reply.passed && reply.reservation !== undefined) {
        const { token, expiresAt } = reply.reservation;
        return { ok: true, reservation: new BackendReservation(engine, id, count, expiresAt, token) };
      }
      return denial(id, this.#violations(plan, reply, id, count));
    } catch (error) {
      if (!isStorageFailure(error)) throw error;
      if (context.fallback !== undefined) {
        const result = this.#fallback().reserve(id, options);
        if (result.ok) return { ok: true, reservation: new FallbackReservation(result.reservation), degraded: true };
        return { ok: false, error: result.error, degraded: true };
      }
      if (context.policy === "allow") {
        const reservation = new UnheldReservation(engine.clock, id, count, now + ttl, () =>
          context.recordCount(id, count),
        );
        return { ok: true, reservation, degraded: true };
      }
      if (context.policy === "deny") return unavailable(id);
      throw error;
    }
  }

  async #verdict(
    id: string,
    count: number,
    action: "check" | "record",
    state: "never" | "onDenial",
  ): Promise<SharedLimitResult> {
    this.#validate(id);
    validateTerminalCount(count);
    const context = this.#context;
    const engine = context.engine;
    const now = engine.now();
    const plan = this.#plan(id, count, now);
    let reply: Awaited<ReturnType<typeof engine.bound.evaluate>>;
    try {
      reply = await engine.call(
        (b) =>
          b.evaluate({
            time: engine.time(now),
            eventIds: plan.eventIds,
            tests: plan.tests,
            action,
            target: 0,
            count,
            state,
            depth: plan.depth,
          }),
        `${action === "record" ? "checkAndRecord" : "check"}("${id}")`,
      );
    } catch (error) {
      if (!isStorageFailure(error)) throw error;
      if (context.fallback !== undefined) {
        const limiter = this.#fallback();
        const result = action === "record" ? limiter.checkAndRecord(id, count) : limiter.check(id, count);
        return result.ok ? DEGRADED_OK : { ok: false, error: result.error, degraded: true };
      }
      if (context.policy === "allow") return DEGRADED_OK;
      if (context.policy === "deny") return unavailable(id);
      throw error;
    }
    if (reply.passed) return ALLOWED;
    if (state === "never") return DENIED_QUIETLY;
    return denial(id, this.#violations(plan, reply, id, count));
  }

  #violations(plan: Plan, reply: Parameters<typeof explain>[3], id: string, count: number) {
    const violations = explain(this.#context.engine, this.#constraints, plan, reply, id, count);
    if (violations.length > 0) return violations;
    // The backend failed a test the details could not reproduce (rounding at the limit): name it.
    return this.#constraints
      .filter((_, i) => reply.results[i] === false)
      .map((constraint) => ({ constraint, retryAfter: undefined, observed: undefined }));
  }

  /**
   * The plan of a call. Without sliding windows or schedules it does not depend on now: the limiter
   * keeps its last, and the store one per shape (the backend caches their encoded tests by identity).
   */
  #plan(id: string, count: number, now: number): Plan {
    const context = this.#context;
    if (this.#timeDependent) return makePlan(context.engine, this.#constraints, id, count, now);
    // A limiter mostly serves one id at one count: that plan is found without building a key.
    if (this.#lastId === id && this.#lastCount === count && this.#lastPlan !== undefined) return this.#lastPlan;
    // Else the store's plan of this shape (a limiter built per request makes none of its own).
    const shape = this.#shape.key(id, count);
    const plan =
      context.shapes.find(shape, this.#shape.eventIdsFor(id)) ??
      context.shapes.keep(shape, makePlan(context.engine, this.#constraints, id, count, now));
    this.#lastId = id;
    this.#lastCount = count;
    this.#lastPlan = plan;
    return plan;
  }

  /**
   * Validates an event id, unless a constraint names it or the last call was on it (validated then:
   * the trim and regular expressions of a full validation are a noticeable share of a lone call).
   */
  #validate(id: string): void {
    if (this.#lastId !== id && !this.#shape.ids.includes(id)) validateEventId(id);
  }

  #add(constraint: Constraint, call: (limiter: FallbackLimiter) => unknown): void {
    this.#shape.add(constraint);
    this.#lastId = undefined;
    this.#lastPlan = undefined;
    if (
      constraint.kind === "during" ||
      constraint.kind === "outsideOf" ||
      (constraint.kind === "atMost" && constraint.sliding)
    ) {
      this.#timeDependent = true;
    }
    this.#constraints.push(constraint);
    this.#calls.push(call);
    this.#fallbackLimiter = undefined;
  }

  #fallback(): FallbackLimiter {
    if (this.#fallbackLimiter === undefined) {
      const limiter = this.#context.fallback!.limit();
      for (const call of this.#calls) call(limiter);
      this.#fallbackLimiter = limiter;
    }
    return this.#fallbackLimiter;
  }
}

/** `allowed()` never looks at the denial: one shared placeholder avoids building it. */
const DENIED_QUIETLY = Object.freeze({
  ok: false as const,
  error: Object.freeze({ eventId: "", constraint: UNAVAILABLE, violations: [], retryAfter: undefined }),
});

function unavailable(id: string): { ok: false; error: LimitExceeded; degraded: true } {
  const violation = { constraint: UNAVAILABLE, retryAfter: undefined, observed: undefined };
  return {
    ok: false,
    error: { eventId: id, constraint: UNAVAILABLE, violations: [violation], retryAfter: undefined },
    degraded: true,
  };
}

export function isStorageFailure(error: unknown): boolean {
  return isTallyError(error) && error.code === "STORAGE_FAILED";
}
