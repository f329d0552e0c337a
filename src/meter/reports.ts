/**
 * Reports read rollups only: they never process, scan raw events or write. A windowed report reads
 * the planner's tier cover; a no-window summary combines the retained hour buckets; a series reads
 * one tier with no fallback.
 */

import { DefinitionNotFoundError, TallyError } from "../errors.ts";
import type { Clock } from "../time/clock.ts";
import { checkStoredDefinition } from "./definition.ts";
import { decodeIndexKey, indexNameOf } from "./index-key.ts";
import { floorTier, minuteSpan, type PlanRetention, planWindow, type ReadPlan } from "./read-planner.ts";
import { indexKeyForBy, requireIndex, requireQuery, requireVersion, windowOf } from "./report-query.ts";
import { emptyRecord, mergeRecord } from "./rollup-record.ts";
import type { MeterRollups, ReportRef, RollupRecord, StoredDefinition, Tier } from "./rollups.ts";
import { NUMERIC_FIELDS, type NumericField, type Summary, summaryOf } from "./summary.ts";

export type SeriesPoint = { bucket: string } & Summary;

export interface Comparison {
  before: Summary;
  after: Summary;
  delta: Record<NumericField, number | null>;
  ratio: Record<NumericField, number | null>;
}

export interface BreakdownRow {
  values: Record<string, string>;
  summary: Summary;
}

export interface Breakdown {
  by: string[];
  rateWindowSeconds: number;
  rows: BreakdownRow[];
  totalValues: number;
}

export interface ReportContext {
  rollups: MeterRollups;
  clock: Clock;
  namespace: string;
  /** Retention per tier in ms (decides when the planner reads coarser tiers). */
  retention: { minute: number; hour: number };
  summaryKeyLimit: number | null;
}

const SERIES_SPAN: Record<Tier, number> = { minute: 3_600_000, hour: 86_400_000, day: 30 * 86_400_000 };
const MAX_POINTS = 10_000;

async function definitionOf(ctx: ReportContext, name: string, version: number): Promise<StoredDefinition> {
  const ref = { namespace: ctx.namespace, name, version };
  const stored = await ctx.rollups.getDefinition(ref);
  if (stored === null) {
    throw new DefinitionNotFoundError(`no report definition for ${name} v${version}; run processPending first`, {
      details: { name, version },
    });
  }
  return checkStoredDefinition(stored, name, version);
}

export async function reportDefinition(ctx: ReportContext, name: string, version: unknown): Promise<StoredDefinition> {
  return definitionOf(ctx, name, requireVersion(version));
}

function retentionCutoffs(ctx: ReportContext): PlanRetention {
  const now = ctx.clock.now();
  return { minuteCutoff: now - ctx.retention.minute, hourCutoff: now - ctx.retention.hour };
}

async function readPlan(ctx: ReportContext, ref: ReportRef, plan: ReadPlan, indexKey: string): Promise<RollupRecord> {
  const total = emptyRecord("minute", plan.start, "", indexKey);
  for (const tier of ["day", "hour", "minute"] as const) {
    const starts = plan[tier];
    if (starts.length === 0) continue;
    for (const record of await ctx.rollups.readBuckets(ref, tier, starts, indexKey)) mergeRecord(total, record);
  }
  return total;
}

async function windowedSummary(
  ctx: ReportContext,
  ref: ReportRef,
  window: [number, number],
  indexKey: string,
): Promise<Summary> {
  const [start, end] = minuteSpan(window[0], window[1]);
  const plan = planWindow(start, end, retentionCutoffs(ctx));
  const record = await readPlan(ctx, ref, plan, indexKey);
  return summaryOf(record, (plan.end - plan.start) / 1000);
}

export async function summary(ctx: ReportContext, name: string, rawQuery: unknown): Promise<Summary> {
  const query = requireQuery(rawQuery, "summary");
  const version = requireVersion(query.version);
  const window = windowOf(query);
  const def = await definitionOf(ctx, name, version);
  const indexKey = indexKeyForBy(def, query.by);
  const ref = { namespace: ctx.namespace, name, version };
  if (window !== null) return windowedSummary(ctx, ref, window, indexKey);
  const limit = ctx.summaryKeyLimit;
  const records = await ctx.rollups.listBuckets(
    ref,
    "hour",
    indexKey,
    limit === null ? Number.MAX_SAFE_INTEGER : limit + 1,
  );
  if (limit !== null && records.length > limit) {
    throw new TallyError(
      "TOO_MANY_BUCKETS",
      `summary without a window matched more than ${limit} hour buckets; pass from and to`,
      { details: { limit } },
    );
  }
  const total = emptyRecord("hour", 0, "", indexKey);
  for (const record of records) mergeRecord(total, record);
  const span =
    total.startedAtMin !== null && total.startedAtMax !== null ? (total.startedAtMax - total.startedAtMin) / 1000 : 0;
  return summaryOf(total, span);
}

function requireTier(every: unknown): Tier {
  if (every === undefined || every === null) return "minute";
  if (every === "minute" || every === "hour" || every === "day") return every;
  throw new TallyError("INVALID_QUERY", `invalid every ${String(every)}: pass "minute", "hour" or "day"`);
}

export async function series(ctx: ReportContext, name: string, rawQuery: unknown): Promise<SeriesPoint[]> {
  const query = requireQuery(rawQuery, "series");
  const version = requireVersion(query.version);
  const every = requireTier(query.every);
  const size = { minute: 60_000, hour: 3_600_000, day: 86_400_000 }[every];
  let window = windowOf(query);
  if (window === null) {
    const to = floorTier(ctx.clock.now(), every) + size;
    window = [to - SERIES_SPAN[every], to];
  }
  const first = floorTier(window[0], every);
  const points = Math.ceil((window[1] - first) / size);
  if (points > MAX_POINTS) {
    throw new TallyError(
      "INVALID_WINDOW",
      `a series of ${points} ${every} points is more than ${MAX_POINTS}; narrow the window or use a coarser every`,
    );
  }
  const def = await definitionOf(ctx, name, version);
  const indexKey = indexKeyForBy(def, query.by);
  const ref = { namespace: ctx.namespace, name, version };
  const starts: number[] = [];
  for (let t = first; t < window[1]; t += size) starts.push(t);
  const found = new Map<number, RollupRecord>();
  for (const record of await ctx.rollups.readBuckets(ref, every, starts, indexKey)) {
    const existing = found.get(record.bucketStart);
    if (existing === undefined) found.set(record.bucketStart, record);
    else mergeRecord(existing, record);
  }
  return starts.map((start) => ({
    bucket: new Date(start).toISOString(),
    ...summaryOf(found.get(start) ?? emptyRecord(every, start, "", indexKey), size / 1000),
  }));
}

function sideWindow(value: unknown, side: string): [number, number] {
  if (typeof value !== "object" || value === null) {
    throw new TallyError("INVALID_WINDOW", `compare needs ${side}: { from, to }`);
  }
  const window = windowOf(value as Record<string, unknown>, `${side}.`);
  if (window === null) throw new TallyError("INVALID_WINDOW", `compare needs ${side}.from and ${side}.to`);
  return window;
}

export async function compare(ctx: ReportContext, name: string, rawQuery: unknown): Promise<Comparison> {
  const query = requireQuery(rawQuery, "compare");
  const version = requireVersion(query.version);
  const beforeWindow = sideWindow(query.before, "before");
  const afterWindow = sideWindow(query.after, "after");
  const def = await definitionOf(ctx, name, version);
  const indexKey = indexKeyForBy(def, query.by);
  const ref = { namespace: ctx.namespace, name, version };
  const before = await windowedSummary(ctx, ref, beforeWindow, indexKey);
  const after = await windowedSummary(ctx, ref, afterWindow, indexKey);
  const delta = {} as Record<NumericField, number | null>;
  const ratio = {} as Record<NumericField, number | null>;
  for (const f of NUMERIC_FIELDS) {
    const b = before[f];
    const a = after[f];
    delta[f] = a === null || b === null ? null : a - b;
    ratio[f] = a === null || b === null || b === 0 ? null : a / b;
  }
  return { before, after, delta, ratio };
}

export async function breakdown(ctx: ReportContext, name: string, rawQuery: unknown): Promise<Breakdown> {
  const query = requireQuery(rawQuery, "breakdown");
  const version = requireVersion(query.version);
  const byRaw = query.by;
  const byList = typeof byRaw === "string" ? [byRaw] : Array.isArray(byRaw) ? byRaw : null;
  if (byList === null || byList.length === 0 || !byList.every((p) => typeof p === "string" && p !== "")) {
    throw new TallyError("INVALID_QUERY", `invalid breakdown by ${String(byRaw)}: pass a param name or a list of them`);
  }
  const window = windowOf(query);
  if (window === null) throw new TallyError("INVALID_WINDOW", "breakdown needs from and to");
  const sort = query.sort ?? "count";
  if (!NUMERIC_FIELDS.includes(sort as NumericField)) {
    throw new TallyError("INVALID_QUERY", `invalid sort ${String(sort)}: pass a numeric summary field like "count"`);
  }
  const order = query.order ?? "desc";
  if (order !== "desc" && order !== "asc") {
    throw new TallyError("INVALID_QUERY", `invalid order ${String(order)}: pass "desc" or "asc"`);
  }
  const limit = query.limit ?? 10;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new TallyError("INVALID_QUERY", `invalid limit ${String(limit)}: pass an integer from 1 to 1000`);
  }
  const def = await definitionOf(ctx, name, version);
  const index = requireIndex(def, byList as string[]);
  const ref = { namespace: ctx.namespace, name, version };
  const [start, end] = minuteSpan(window[0], window[1]);
  const plan = planWindow(start, end, retentionCutoffs(ctx));
  const merged = new Map<string, RollupRecord>();
  for (const tier of ["day", "hour", "minute"] as const) {
    if (plan[tier].length === 0) continue;
    const found = await ctx.rollups.readIndex(ref, tier, plan[tier], indexNameOf(index));
    for (const [key, record] of found) {
      const existing = merged.get(key);
      if (existing === undefined) merged.set(key, record);
      else mergeRecord(existing, record);
    }
  }
  const rateWindowSeconds = (plan.end - plan.start) / 1000;
  const field = sort as NumericField;
  const rows = [...merged].map(([key, record]) => {
    const { params, values } = decodeIndexKey(key);
    const named: Record<string, string> = {};
    params.forEach((p, i) => {
      named[p] = values[i] as string;
    });
    return { values: named, ordered: values, summary: summaryOf(record, rateWindowSeconds) };
  });
  const sign = order === "desc" ? -1 : 1;
  rows.sort((a, b) => {
    const x = a.summary[field];
    const y = b.summary[field];
    if (x !== y) {
      if (x === null) return 1;
      if (y === null) return -1;
      return (x - y) * sign;
    }
    for (let i = 0; i < a.ordered.length; i++) {
      const p = a.ordered[i] as string;
      const q = b.ordered[i] as string;
      if (p !== q) return p < q ? -1 : 1;
    }
    return 0;
  });
  return {
    by: index,
    rateWindowSeconds,
    rows: rows.slice(0, limit).map((r) => ({ values: r.values, summary: r.summary })),
    totalValues: rows.length,
  };
}
