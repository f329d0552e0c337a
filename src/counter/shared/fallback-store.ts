/**
 * What `SharedEventStore.fallback(store)` needs from the local store it falls back to: the public
 * API of an in-process `EventStore` (structurally, so this file imports nothing from it).
 *
 * Contract of the fallback: while the backend fails, limits, records and queries run against this
 * store instead and their results carry `degraded: true`. Its quota is per process (N processes
 * may admit N x L); records made while degraded stay in it and are never replayed to the backend
 * (a replay after a timeout could count twice).
 */

import type { Instant } from "../../time/clock.ts";
import type { Duration } from "../../time/duration.ts";
import type { TimeUnit } from "../../time/units.ts";
import type { ScheduleLike } from "../constraints.ts";
import type { LimitExceeded, LimitResult, LimitUsage } from "../limit-result.ts";
import type { RangeMethods, RangeSpec } from "../range-methods.ts";
import type { Window } from "../window.ts";
import type { SyncReservation } from "./shared-reservation.ts";

export interface FallbackRange {
  sum(): number | undefined;
  average(): number | undefined;
  averageNonzero(): number | undefined;
  countNonzero(): number | undefined;
  buckets(): number[] | undefined;
}

export type RangeSourceLike<R> = Pick<RangeMethods<R>, keyof RangeMethods<R>>;

export interface FallbackQuery extends RangeSourceLike<FallbackRange> {
  lastSeenAt(): number | undefined;
  firstSeenAt(): number | undefined;
  lastSeen(): number | undefined;
  firstSeen(): number | undefined;
  firstSeenIn(unit: TimeUnit): number | undefined;
}

export interface FallbackLimiter {
  atMost(id: string, limit: number, window: Window, options?: { sliding?: boolean }): unknown;
  atLeast(id: string, count: number, window: Window): unknown;
  cooldown(id: string, d: Duration): unknown;
  within(id: string, d: Duration): unknown;
  during(s: ScheduleLike): unknown;
  outsideOf(s: ScheduleLike): unknown;
  check(id: string, count?: number): LimitResult;
  allowed(id: string, count?: number): boolean;
  checkAndRecord(id: string, count?: number): LimitResult;
  usage(id: string): LimitUsage;
  reserve(
    id: string,
    options?: { count?: number; ttl?: Duration },
  ): { ok: true; reservation: SyncReservation } | { ok: false; error: LimitExceeded };
}

export interface FallbackStore {
  recordCountAt(id: string, count: number, at: Instant): void;
  query(id: string): FallbackQuery;
  queryMany(ids: readonly string[]): RangeSourceLike<FallbackRange>;
  limit(): FallbackLimiter;
}

/** Calls the range method of `source` that `spec` came from. */
export function replayRange<R>(source: RangeSourceLike<R>, spec: RangeSpec): R {
  if (spec.unit === undefined) return source.ever();
  if (spec.end === Number.POSITIVE_INFINITY) return source[`${spec.unit}From`](spec.start);
  return source[spec.unit](spec.start, spec.end);
}
