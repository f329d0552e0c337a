/**
 * Limit verdicts as values (spec §6). A denial is a plain object, never an Error and never thrown:
 * it lists every failing constraint in declaration order; `retryAfter` is undefined when any
 * violation's is (waiting cannot help), else the largest (the earliest instant at which every
 * constraint has cleared at least once; a re-check may ask for more). `{ ok: true }` is one shared
 * frozen object, so an allowed call allocates nothing.
 */

import type { Constraint, ScheduleLike } from "./constraints.ts";

export interface Violation<S extends ScheduleLike = ScheduleLike> {
  readonly constraint: Constraint<S>;
  /** ms until this constraint clears, or undefined when waiting cannot help. */
  readonly retryAfter: number | undefined;
  /** The count (atMost incl. pending, atLeast) or the elapsed ms (cooldown, within). */
  readonly observed: number | undefined;
}

export interface LimitExceeded<S extends ScheduleLike = ScheduleLike> {
  readonly eventId: string;
  /** The first violated constraint. */
  readonly constraint: Constraint<S>;
  readonly violations: readonly Violation<S>[];
  readonly retryAfter: number | undefined;
}

export type LimitResult<S extends ScheduleLike = ScheduleLike> =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: LimitExceeded<S> };

export interface LimitUsage {
  readonly count: number;
  readonly limit: number;
  readonly remaining: number;
}

export const ALLOWED: { readonly ok: true } = Object.freeze({ ok: true as const });

/** Undefined if any violation's is undefined, else the largest. */
export function combinedRetryAfter(violations: readonly Violation<ScheduleLike>[]): number | undefined {
  let max = 0;
  for (const v of violations) {
    if (v.retryAfter === undefined) return undefined;
    if (v.retryAfter > max) max = v.retryAfter;
  }
  return max;
}

/** Builds the denial for a non-empty violation list. */
export function denial<S extends ScheduleLike>(
  eventId: string,
  violations: Violation<S>[],
): { readonly ok: false; readonly error: LimitExceeded<S> } {
  const error: LimitExceeded<S> = {
    eventId,
    constraint: violations[0]!.constraint,
    violations,
    retryAfter: combinedRetryAfter(violations),
  };
  return { ok: false, error };
}
