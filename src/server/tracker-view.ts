/**
 * Trackers as plain data, and trackers built from plain JSON, for the CLI and the API. A JSON
 * definition is `{ type: "count" | "accumulation", name, conditions: ConditionNode[], target,
 * key?, limiters?: [{ type: "count", count } | { type: "time", startTs?, endTs?, interval? } |
 * { type: "quota", max, per, timeZone? }], resetPolicy?, loopForever?, initProgress?, ... }`.
 * Validation is the tracker's own (its `INVALID_*` errors); this file only maps shapes and names
 * the field that was wrong.
 */

import { TallyError } from "../errors.ts";
import { AccumulationTracker, CountLimiter, CountTracker, QuotaLimiter, TimeLimiter } from "../tracker.ts";

type Tracker = CountTracker | AccumulationTracker;
type TrackerOptions = ConstructorParameters<typeof CountTracker>[0];
type Limiter = NonNullable<TrackerOptions["limiters"]>[number];

export interface TrackerRow {
  groupId: string | null;
  name: string;
  type: string;
  progress: number;
  target: number;
  currentStage: number;
  stagesCompleted: number;
  remainingTargets: number[];
  completed: boolean;
  completedAt: string | null;
  limited: boolean;
  expiresAt: string | null;
}

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export function trackerRow(tracker: Tracker): TrackerRow {
  return {
    groupId: tracker.groupId,
    name: tracker.name,
    type: tracker.type,
    progress: tracker.progress,
    target: tracker.target,
    currentStage: tracker.currentStage,
    stagesCompleted: tracker.stagesCompleted,
    remainingTargets: [...tracker.multiTarget],
    completed: tracker.completed,
    completedAt: iso(tracker.completedAt),
    limited: tracker.limited,
    expiresAt: iso(tracker.expiresAt),
  };
}

function fieldError(field: string, message: string): TallyError {
  return new TallyError("INVALID_REQUEST", `${field}: ${message}`, { details: { field } });
}

/** `tracker` + `name` -> `tracker.name`; a root definition names the key alone. */
const join = (prefix: string, key: string) => (prefix === "" ? key : `${prefix}.${key}`);

const PASSED = [
  "resetPolicy",
  "loopForever",
  "initProgress",
  "progressMode",
  "overflow",
  "catchUp",
  "coerceNumbers",
] as const;

/** Builds a tracker from its JSON definition; `field` prefixes the names in error messages. */
export function trackerFromJson(value: unknown, field = ""): Tracker {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw fieldError(field === "" ? "body" : field, "must be an object with type, name, conditions and target");
  }
  const def = value as Record<string, unknown>;
  const type = def.type ?? "count";
  if (type !== "count" && type !== "accumulation") {
    throw fieldError(join(field, "type"), `must be "count" or "accumulation", got ${JSON.stringify(type)}`);
  }
  if (typeof def.name !== "string") throw fieldError(join(field, "name"), "must be a string");
  if (!Array.isArray(def.conditions))
    throw fieldError(join(field, "conditions"), "must be an array of condition nodes");
  const limiters = def.limiters === undefined ? [] : def.limiters;
  if (!Array.isArray(limiters)) throw fieldError(join(field, "limiters"), "must be an array");
  const options: Record<string, unknown> = {
    name: def.name,
    conditions: def.conditions,
    target: def.target,
    limiters: limiters.map((l, i) => limiterFromJson(l, `${join(field, "limiters")}[${i}]`)),
  };
  for (const key of PASSED) if (def[key] !== undefined) options[key] = def[key];
  try {
    if (type === "accumulation") {
      if (typeof def.key !== "string")
        throw fieldError(join(field, "key"), "an accumulation tracker needs the key to sum");
      const extra: Record<string, unknown> = { key: def.key };
      if (def.allowNegative !== undefined) extra.allowNegative = def.allowNegative;
      return new AccumulationTracker({ ...(options as unknown as TrackerOptions), ...extra } as ConstructorParameters<
        typeof AccumulationTracker
      >[0]);
    }
    return new CountTracker(options as unknown as TrackerOptions);
  } catch (error) {
    if (error instanceof TallyError && error.details?.field === undefined) {
      const named = field === "" ? "body" : field;
      throw new TallyError(error.code, `${named}: ${error.message}`, {
        cause: error,
        details: { ...error.details, field: named },
      });
    }
    throw error;
  }
}

function limiterFromJson(value: unknown, field: string): Limiter {
  if (typeof value !== "object" || value === null) throw fieldError(field, "must be an object with a type");
  const l = value as Record<string, unknown>;
  switch (l.type) {
    case "count":
      return new CountLimiter(l.count as number);
    case "time": {
      const opts: Record<string, unknown> = {};
      for (const key of ["startTs", "endTs", "interval"]) if (l[key] !== undefined) opts[key] = l[key];
      return new TimeLimiter(opts as ConstructorParameters<typeof TimeLimiter>[0]);
    }
    case "quota": {
      const opts: Record<string, unknown> = { max: l.max, per: l.per };
      if (l.timeZone !== undefined) opts.timeZone = l.timeZone;
      return new QuotaLimiter(opts as ConstructorParameters<typeof QuotaLimiter>[0]);
    }
    default:
      throw fieldError(join(field, "type"), `must be "count", "time" or "quota", got ${JSON.stringify(l.type)}`);
  }
}
