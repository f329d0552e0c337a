/**
 * Runs a scenario of `scenarios.ts` against any store (in-process or shared) and compares: the
 * behaviour suite of every shared backend (Redis, PostgreSQL) uses it.
 */

import assert from "node:assert/strict";
import { EventStore } from "../../../src/counter/event-store.ts";
import type { CounterBackend } from "../../../src/counter/shared/counter-backend.ts";
import { SharedEventStore } from "../../../src/counter/shared/shared-event-store.ts";
import { isTallyError } from "../../../src/errors.ts";
import { TestClock } from "../../../src/time/clock.ts";
import type { BuilderLike, LimiterLike, Range, Scenario, Step } from "./scenarios.ts";

type Dyn = Record<string, (...args: unknown[]) => unknown>;

function round(x: unknown): unknown {
  return typeof x === "number" && !Number.isInteger(x) ? Math.round(x * 1e9) / 1e9 : x;
}

function constraint(c: Record<string, unknown>): unknown {
  return { ...c, schedule: c.schedule === undefined ? undefined : "schedule" };
}

/** A verdict, a usage or a plain value, in a form both stores can be compared on. */
export function normal(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(round);
  if (typeof value !== "object" || value === null) return round(value);
  const v = value as Record<string, unknown>;
  if ("ok" in v) {
    const out: Record<string, unknown> = { ok: v.ok };
    const error = v.error as Record<string, unknown> | undefined;
    if (error !== undefined) {
      out.error = {
        eventId: error.eventId,
        retryAfter: error.retryAfter,
        constraint: constraint(error.constraint as Record<string, unknown>),
        violations: (error.violations as Array<Record<string, unknown>>).map((x) => ({
          constraint: constraint(x.constraint as Record<string, unknown>),
          retryAfter: x.retryAfter,
          observed: round(x.observed),
        })),
      };
    }
    return out;
  }
  if ("remaining" in v) return { count: round(v.count), limit: v.limit, remaining: round(v.remaining) };
  return value;
}

function range(source: unknown, r: Range): Dyn {
  const [method, ...args] = r;
  return (source as Dyn)[method]!(...args) as Dyn;
}

export async function run(scenario: Scenario, store: unknown, clock: TestClock): Promise<unknown[]> {
  const s = store as Dyn;
  const limiters = new Map<string, unknown>();
  const reservations = new Map<string, Dyn>();
  const out: unknown[] = [];
  for (const step of scenario.steps) {
    try {
      out.push(normal(await apply(step)));
    } catch (error) {
      if (!isTallyError(error)) throw error;
      out.push({ error: error.code });
    }
  }
  return out;

  async function apply(step: Step): Promise<unknown> {
    switch (step.do) {
      case "record":
        if (step.at !== undefined) return s.recordCountAt!(step.id, step.count ?? 1, step.at);
        if (step.ago !== undefined) return s.recordCountAgo!(step.id, step.count ?? 1, step.ago);
        return s.recordCount!(step.id, step.count ?? 1);
      case "advance":
        return clock.advance(step.by as never);
      case "set":
        return clock.set(step.to);
      case "query": {
        let q = range(s.query!(step.id), step.range);
        if (step.take !== undefined) q = q.take!(step.take) as Dyn;
        return q[step.terminal]!();
      }
      case "many":
        return range(s.queryMany!(step.ids), step.range)[step.terminal]!();
      case "ratio":
        return range(s.queryRatio!(step.a, step.b), step.range);
      case "delta":
        return (range(s.queryDelta!(step.a, step.b), step.range) as Dyn).sum!();
      case "seen":
        return (s.query!(step.id) as Dyn)[step.what]!(step.unit);
      case "define": {
        const limiter = s.limit!();
        limiters.set(step.limiter, limiter);
        step.build(limiter as LimiterLike);
        return "defined";
      }
      case "limit":
        return (limiters.get(step.limiter) as Dyn)[step.terminal]!(
          step.id,
          ...(step.count === undefined ? [] : [step.count]),
        );
      case "reserve": {
        const options: Record<string, unknown> = {};
        if (step.count !== undefined) options.count = step.count;
        if (step.ttl !== undefined) options.ttl = step.ttl;
        const result = (await (limiters.get(step.limiter) as Dyn).reserve!(step.id, options)) as Record<
          string,
          unknown
        >;
        if (result.ok === true) reservations.set(step.name, result.reservation as Dyn);
        return result.ok === true
          ? { ok: true, expiresAt: (result.reservation as { expiresAt: number }).expiresAt }
          : result;
      }
      case "settle": {
        const r = reservations.get(step.name);
        if (r === undefined) return "no reservation";
        if (step.how === "state") return (r as unknown as { state: string }).state;
        return r[step.how]!();
      }
    }
  }
}

/** Runs `scenario` on an in-process store and on a shared store over `backend`; every answer must match. */
export async function compareWithLocal(scenario: Scenario, backend: CounterBackend): Promise<void> {
  const localClock = new TestClock(scenario.start);
  const sharedClock = new TestClock(scenario.start);
  const local = await (
    scenario.config(EventStore.builder().withClock(localClock) as unknown as BuilderLike) as unknown as {
      build(): Promise<EventStore>;
    }
  ).build();
  const shared = await (
    scenario.config(
      SharedEventStore.builder()
        .withClock(sharedClock)
        .withBackend(backend)
        .backendTimeout("30s") as unknown as BuilderLike,
    ) as unknown as { build(): Promise<SharedEventStore> }
  ).build();
  const expected = await run(scenario, local, localClock);
  const actual = await run(scenario, shared, sharedClock);
  scenario.steps.forEach((step: Step, i) => {
    const where = `step ${i} ${JSON.stringify(step)}`;
    assert.deepEqual(
      actual[i],
      expected[i],
      `${where}: shared ${JSON.stringify(actual[i])} vs local ${JSON.stringify(expected[i])}`,
    );
    if ("expect" in step)
      assert.deepEqual(expected[i], normal(step.expect), `${where}: expected ${JSON.stringify(step.expect)}`);
  });
}
