/**
 * EventMeter options, validated once in the constructor (bad options throw `INVALID_OPTION`
 * synchronously; everything after construction is either instrumentation that never throws or a
 * report that rejects).
 */

import { TallyError } from "../errors.ts";
import type { Clock } from "../time/clock.ts";
import { type Duration, toMs } from "../time/duration.ts";
import type { MeterRollups } from "./rollups.ts";
import type { MeterStream } from "./stream.ts";

export interface RetentionByTier {
  minute?: Duration;
  hour?: Duration;
  day?: Duration;
  intervalState?: Duration;
}

export interface EventMeterOptions {
  /** Separates meters that share stores. @default "tally" */
  namespace?: string;
  /** Where recorded events wait. @default new FileStream({ path: "./tally-data/meter" }) */
  stream?: MeterStream;
  /** Where processed rollups live. @default SqliteRollups at ./tally.db, imported lazily */
  rollups?: MeterRollups;
  /** @default systemClock */
  clock?: Clock;
  /** Clean history after processing passes. @default false */
  autoCleanupHistory?: boolean;
  /** How long each tier is kept; a single value sets every tier. @default { minute: "31d", hour: "400d", day: "1825d", intervalState: "400d" } */
  cleanupHistoryRetention?: Duration | RetentionByTier;
  /** Minimum gap between auto cleanups. @default "1h" */
  cleanupHistoryInterval?: Duration;
  /** Max hour buckets a no-window summary reads; null = unbounded. @default 10000 */
  summaryKeyLimit?: number | null;
  /** Receives auto-cleanup failures. @default process.emitWarning */
  onAutoCleanupError?: (error: unknown) => void;
  /** Report and cleanup lease, renewed every ttl/3. @default "30s" */
  lockTtl?: Duration;
}

export interface Retention {
  minute: number;
  hour: number;
  day: number;
  intervalState: number;
}

export const DEFAULT_RETENTION: Retention = {
  minute: 31 * 86_400_000,
  hour: 400 * 86_400_000,
  day: 1825 * 86_400_000,
  intervalState: 400 * 86_400_000,
};

function invalid(what: string, value: unknown, hint: string): TallyError {
  return new TallyError("INVALID_OPTION", `invalid ${what} ${String(value)}: ${hint}`, { details: { value } });
}

export function durationOption(value: unknown, what: string, fallback: number, positive = true): number {
  if (value === undefined) return fallback;
  let ms: number;
  try {
    ms = toMs(value, what);
  } catch (cause) {
    throw new TallyError("INVALID_OPTION", `invalid ${what} ${String(value)}: pass ms or a string like "30s"`, {
      cause,
    });
  }
  if (positive && !(ms > 0)) throw invalid(what, value, "it must be greater than 0");
  return ms;
}

export function retentionOption(value: unknown): Retention {
  if (value === undefined) return { ...DEFAULT_RETENTION };
  if (typeof value === "number" || typeof value === "string") {
    const ms = durationOption(value, "cleanupHistoryRetention", 0);
    return { minute: ms, hour: ms, day: ms, intervalState: ms };
  }
  if (typeof value !== "object" || value === null) {
    throw invalid("cleanupHistoryRetention", value, "pass a duration or { minute, hour, day, intervalState }");
  }
  const v = value as Record<string, unknown>;
  return {
    minute: durationOption(v.minute, "cleanupHistoryRetention.minute", DEFAULT_RETENTION.minute),
    hour: durationOption(v.hour, "cleanupHistoryRetention.hour", DEFAULT_RETENTION.hour),
    day: durationOption(v.day, "cleanupHistoryRetention.day", DEFAULT_RETENTION.day),
    intervalState: durationOption(
      v.intervalState,
      "cleanupHistoryRetention.intervalState",
      DEFAULT_RETENTION.intervalState,
    ),
  };
}

export interface ResolvedOptions {
  namespace: string;
  autoCleanupHistory: boolean;
  retention: Retention;
  cleanupIntervalMs: number;
  summaryKeyLimit: number | null;
  onAutoCleanupError: (error: unknown) => void;
  lockTtlMs: number;
}

export function resolveOptions(options: unknown): ResolvedOptions {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw invalid("EventMeter options", options, "pass an options object");
  }
  const o = (options ?? {}) as Record<string, unknown>;
  const namespace = o.namespace ?? "tally";
  if (typeof namespace !== "string" || namespace.trim() === "") {
    throw invalid("namespace", namespace, "pass a non-blank string");
  }
  const auto = o.autoCleanupHistory ?? false;
  if (typeof auto !== "boolean") throw invalid("autoCleanupHistory", auto, "pass true or false");
  const limit = o.summaryKeyLimit === undefined ? 10_000 : o.summaryKeyLimit;
  if (limit !== null && !(typeof limit === "number" && Number.isSafeInteger(limit) && limit > 0)) {
    throw invalid("summaryKeyLimit", limit, "pass a positive integer or null");
  }
  const handler = o.onAutoCleanupError;
  if (handler !== undefined && typeof handler !== "function") {
    throw invalid("onAutoCleanupError", handler, "pass a function");
  }
  if (o.clock !== undefined && typeof (o.clock as Clock | null)?.now !== "function") {
    throw invalid("clock", o.clock, "pass an object with now()");
  }
  for (const [key, methods] of [
    ["stream", ["append", "read", "ack", "release", "pendingCount", "close"]],
    ["rollups", ["commit", "readMarkers", "readBuckets", "ensureDefinition", "close"]],
  ] as const) {
    const store = o[key] as Record<string, unknown> | undefined | null;
    if (store === undefined) continue;
    if (typeof store !== "object" || store === null || methods.some((m) => typeof store[m] !== "function")) {
      throw invalid(key, store, `pass a Meter${key === "stream" ? "Stream" : "Rollups"} implementation`);
    }
  }
  return {
    namespace,
    autoCleanupHistory: auto,
    retention: retentionOption(o.cleanupHistoryRetention),
    cleanupIntervalMs: durationOption(o.cleanupHistoryInterval, "cleanupHistoryInterval", 3_600_000),
    summaryKeyLimit: limit as number | null,
    onAutoCleanupError:
      (handler as ((error: unknown) => void) | undefined) ??
      ((error: unknown) => {
        process.emitWarning(`tally meter auto cleanup failed: ${(error as Error)?.message ?? String(error)}`);
      }),
    lockTtlMs: durationOption(o.lockTtl, "lockTtl", 30_000),
  };
}
