/**
 * Tracker definitions: built from constructor options (checked: `INVALID_TRACKER`) and read back
 * from stored rows (compiled once per definition object, failing loudly: `UNKNOWN_TYPE`,
 * `UNSUPPORTED_SCHEMA`). Tracker types resolve by their string tag through `TRACKER_TYPES`.
 */

import { TallyError } from "../errors.ts";
import { canonicalKey, coerceNumber, compileNode, type Predicate } from "./condition-compile.ts";
import { type ConditionNode, type NodeBudget, normalizeCondition } from "./condition-node.ts";
import { isCustomRegistered } from "./custom-conditions.ts";
import { compileGetter, isPlainObject, MISSING_VALUE, type Path, parsePath } from "./key-path.ts";
import { limiterType, readLimiter } from "./limiter-runtime.ts";
import type { Limiter, LimiterDefinition } from "./limiters.ts";
import { ResetPolicy } from "./reset-policy.ts";
import {
  type Overflow,
  type ProgressMode,
  SCHEMA_VERSION,
  type StoredTracker,
  type TrackerDefinition,
  type TrackerState,
} from "./stored-tracker.ts";

export interface TrackerOptions {
  /** 1–200 chars, unique in a group. */
  name: string;
  /** AND-ed in order; `[]` matches every event. */
  conditions: readonly (ConditionNode | { toJSON(): ConditionNode })[];
  /** One target or one per stage; finite, >= 0. */
  target: number | readonly number[];
  /** @default [] */
  limiters?: readonly Limiter[];
  /** @default ResetPolicy.DEFAULT (LIMITER) */
  resetPolicy?: number;
  /** @default false */
  loopForever?: boolean;
  /** @default 0 */
  initProgress?: number;
  /** @default "cumulative" ("perStage" with "drop" when resetPolicy has the PROGRESS bit) */
  progressMode?: ProgressMode;
  /** perStage only. @default "carry" */
  overflow?: Overflow;
  /** Complete every stage a large increment crosses. @default false */
  catchUp?: boolean;
  /** Read strict decimal strings as numbers. @default false */
  coerceNumbers?: boolean;
}

export interface AccumulationOptions extends TrackerOptions {
  /** The path of the numeric field summed. */
  key: Path;
  /** @default true */
  allowNegative?: boolean;
}

export type TrackerKind = "count" | "accumulation";

/** What the manager evaluates for one definition. */
export interface CompiledTracker {
  def: TrackerDefinition;
  /** Top-level conditions with their memo ids (interned canonical form + coerce flag). */
  conditions: { id: number; test: Predicate }[];
  /** The increment for a matching event, or the per-tracker error it causes. */
  increment: (data: object) => number | TallyError;
}

const MAX_NAME = 200;

export function checkName(name: unknown, code: "INVALID_TRACKER" | "INVALID_ARGUMENT" = "INVALID_TRACKER"): string {
  if (typeof name !== "string" || name.trim().length === 0 || name.length > MAX_NAME) {
    throw new TallyError(
      code,
      `tracker name ${JSON.stringify(name)} must be a non-blank string of 1–${MAX_NAME} chars`,
      {
        details: { name },
      },
    );
  }
  return name;
}

function invalid(message: string, details?: Record<string, unknown>): TallyError {
  return new TallyError("INVALID_TRACKER", message, details === undefined ? {} : { details });
}

export function checkTargets(targets: readonly unknown[], mode: ProgressMode): number[] {
  for (const t of targets) {
    if (typeof t !== "number" || !Number.isFinite(t) || t < 0) {
      throw invalid(`target ${JSON.stringify(t)} must be a finite number >= 0`, { target: t });
    }
  }
  const list = targets as number[];
  if (mode === "cumulative") {
    for (let i = 1; i < list.length; i++) {
      if ((list[i] as number) < (list[i - 1] as number)) {
        throw invalid(
          `cumulative targets must not decrease (${list.join(", ")}): use progressMode "perStage" for per-stage amounts`,
        );
      }
    }
  }
  return [...list];
}

/** Builds the definition and initial state from constructor options. */
export function buildDefinition(
  kind: TrackerKind,
  options: unknown,
): { name: string; def: TrackerDefinition; state: TrackerState } {
  if (!isPlainObject(options) && (typeof options !== "object" || options === null)) {
    throw invalid("tracker options must be an object");
  }
  const o = options as Partial<AccumulationOptions> & Record<string, unknown>;
  const name = checkName(o.name);
  if (!Array.isArray(o.conditions))
    throw invalid(`tracker "${name}" needs conditions (an array; [] matches every event)`);
  const budget: NodeBudget = { nodes: 0 };
  const conditions = o.conditions.map((c) => normalizeCondition(c, isCustomRegistered, budget));
  const resetPolicy = o.resetPolicy ?? ResetPolicy.DEFAULT;
  if (typeof resetPolicy !== "number" || !Number.isInteger(resetPolicy) || resetPolicy < 0 || resetPolicy > 3) {
    throw invalid(`resetPolicy ${JSON.stringify(resetPolicy)} must be an integer 0–3 (ResetPolicy.NONE … ALL)`);
  }
  const progressBit = (resetPolicy & ResetPolicy.PROGRESS) !== 0;
  if (o.progressMode !== undefined && o.progressMode !== "cumulative" && o.progressMode !== "perStage") {
    throw invalid(`progressMode ${JSON.stringify(o.progressMode)} must be "cumulative" or "perStage"`);
  }
  if (progressBit && o.progressMode === "cumulative") {
    throw invalid(`resetPolicy with the PROGRESS bit zeroes progress per stage: it cannot be "cumulative"`);
  }
  const progressMode: ProgressMode = o.progressMode ?? (progressBit ? "perStage" : "cumulative");
  if (o.overflow !== undefined && o.overflow !== "carry" && o.overflow !== "drop") {
    throw invalid(`overflow ${JSON.stringify(o.overflow)} must be "carry" or "drop"`);
  }
  if (o.overflow !== undefined && progressMode === "cumulative")
    throw invalid(`overflow applies to progressMode "perStage" only`);
  const overflow: Overflow = o.overflow ?? (progressBit && o.progressMode === undefined ? "drop" : "carry");
  const rawTargets = typeof o.target === "number" ? [o.target] : o.target;
  if (!Array.isArray(rawTargets) || rawTargets.length === 0)
    throw invalid(`target must be a number or a non-empty list`);
  const targets = checkTargets(rawTargets, progressMode);
  const loopForever = bool(o.loopForever, "loopForever");
  const catchUp = bool(o.catchUp, "catchUp");
  const coerceNumbers = bool(o.coerceNumbers, "coerceNumbers");
  if (loopForever && targets[targets.length - 1] === 0) throw invalid("loopForever needs a last target > 0");
  if (loopForever && catchUp && progressMode === "cumulative") {
    throw invalid(`catchUp with loopForever in cumulative mode would never stop: use progressMode "perStage"`);
  }
  const initProgress = o.initProgress ?? 0;
  if (typeof initProgress !== "number" || !Number.isFinite(initProgress))
    throw invalid("initProgress must be a finite number");
  const limiters: LimiterDefinition[] = (o.limiters ?? []).map((l: unknown) => {
    const def = typeof (l as { toJSON?: unknown })?.toJSON === "function" ? (l as Limiter).toJSON() : l;
    try {
      return readLimiter(def);
    } catch (cause) {
      throw new TallyError(
        "INVALID_LIMITER",
        `limiter ${JSON.stringify(def)} is not a CountLimiter, TimeLimiter or QuotaLimiter`,
        {
          cause,
        },
      );
    }
  });
  const def: TrackerDefinition = {
    conditions,
    targets,
    limiters,
    resetPolicy,
    progressMode,
    overflow,
    catchUp,
    loopForever,
    coerceNumbers,
    initProgress,
  };
  if (kind === "accumulation") {
    if (o.key === undefined) throw invalid(`AccumulationTracker "${name}" needs a key (the path of the field to sum)`);
    parsePath(o.key, "INVALID_TRACKER");
    def.key = typeof o.key === "string" ? o.key : [...o.key];
    def.allowNegative = o.allowNegative === undefined ? true : bool(o.allowNegative, "allowNegative");
  }
  const state: TrackerState = {
    progress: initProgress,
    stageIndex: 0,
    stagesCompleted: 0,
    limited: false,
    limiters: limiters.map((l) => limiterType(l.type).initial(l)),
    completedAt: null,
  };
  return { name, def, state };
}

function bool(value: unknown, what: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw invalid(`${what} must be a boolean`);
  return value;
}

// --- reading stored rows -------------------------------------------------------------------

const interned = new Map<string, number>();
/** Interns a canonical condition key as a small integer (memo slot). */
export function internKey(key: string): number {
  let id = interned.get(key);
  if (id === undefined) {
    id = interned.size;
    interned.set(key, id);
  }
  return id;
}

type IncrementFactory = (def: TrackerDefinition) => (data: object) => number | TallyError;

const ONE = () => 1;

const accumulate: IncrementFactory = (def) => {
  if (def.key === undefined) throw new TallyError("UNKNOWN_TYPE", "stored accumulation tracker has no key");
  const get = compileGetter(def.key);
  const coerce = def.coerceNumbers;
  const allowNegative = def.allowNegative !== false;
  const keyText = JSON.stringify(def.key);
  return (data) => {
    const raw = get(data);
    if (raw === MISSING_VALUE || raw === null) return 0;
    const value = coerce ? coerceNumber(raw) : raw;
    if (typeof value !== "number" || !Number.isFinite(value)) {
      return new TallyError(
        "INVALID_VALUE",
        `the value at ${keyText} is ${JSON.stringify(raw) ?? String(raw)}, not a finite number`,
        {
          details: { key: def.key, value: raw },
        },
      );
    }
    if (value < 0 && !allowNegative) {
      return new TallyError(
        "INVALID_VALUE",
        `the value at ${keyText} is negative (${value}) and allowNegative is false`,
        {
          details: { key: def.key, value: raw },
        },
      );
    }
    return value;
  };
};

/** Tracker types by tag: how each increments. */
export const TRACKER_TYPES: ReadonlyMap<string, IncrementFactory> = new Map<string, IncrementFactory>([
  ["count", () => ONE],
  ["accumulation", accumulate],
]);

/** Migrations from schemaVersion n to n+1, applied on read (none yet: version 1 is the first). */
const MIGRATIONS: ReadonlyMap<number, (row: StoredTracker) => StoredTracker> = new Map();

const compiledCache = new WeakMap<object, CompiledTracker>();

/** Brings a row up to the current schema, or throws UNSUPPORTED_SCHEMA / UNKNOWN_TYPE. */
export function migrateRow(row: StoredTracker): StoredTracker {
  let current = row;
  if (typeof current.schemaVersion !== "number" || current.schemaVersion > SCHEMA_VERSION) {
    throw new TallyError(
      "UNSUPPORTED_SCHEMA",
      `tracker "${row.name}" in group "${row.groupId}" has schemaVersion ${row.schemaVersion}, newer than this tally reads (${SCHEMA_VERSION}): upgrade tally`,
      { details: { groupId: row.groupId, name: row.name, schemaVersion: row.schemaVersion } },
    );
  }
  while (current.schemaVersion < SCHEMA_VERSION) {
    const step = MIGRATIONS.get(current.schemaVersion);
    if (step === undefined) {
      throw new TallyError("UNSUPPORTED_SCHEMA", `no migration from tracker schemaVersion ${current.schemaVersion}`);
    }
    current = step(current);
  }
  if (!TRACKER_TYPES.has(current.type)) {
    throw new TallyError(
      "UNKNOWN_TYPE",
      `tracker "${row.name}" in group "${row.groupId}" has unknown type ${JSON.stringify(row.type)}: upgrade tally or remove it`,
      { details: { groupId: row.groupId, name: row.name, type: row.type } },
    );
  }
  return current;
}

/** The compiled form of a row's definition, cached per definition object. */
export function compiledOf(row: StoredTracker): CompiledTracker {
  const cached = compiledCache.get(row.definition);
  if (cached !== undefined && row.schemaVersion === SCHEMA_VERSION) return cached;
  const migrated = migrateRow(row);
  const def = readDefinition(migrated.definition, row);
  const factory = TRACKER_TYPES.get(migrated.type) as IncrementFactory;
  const compiled: CompiledTracker = {
    def,
    conditions: def.conditions.map((node) => ({
      id: internKey(canonicalKey(node, def.coerceNumbers)),
      test: compileNode(node, def.coerceNumbers),
    })),
    increment: factory(def),
  };
  compiledCache.set(row.definition, compiled);
  return compiled;
}

function readDefinition(raw: unknown, row: StoredTracker): TrackerDefinition {
  const where = `tracker "${row.name}" in group "${row.groupId}"`;
  if (
    !isPlainObject(raw) ||
    !Array.isArray(raw.targets) ||
    !Array.isArray(raw.conditions) ||
    !Array.isArray(raw.limiters)
  ) {
    throw new TallyError("UNKNOWN_TYPE", `${where} has an unreadable definition`, {
      details: { groupId: row.groupId, name: row.name },
    });
  }
  const conditions = raw.conditions.map((c) => {
    try {
      return normalizeCondition(c, () => true);
    } catch (cause) {
      throw new TallyError("UNKNOWN_TYPE", `${where} stores a condition this tally cannot read`, { cause });
    }
  });
  const limiters = raw.limiters.map((l) => readLimiter(l));
  return { ...(raw as unknown as TrackerDefinition), conditions, limiters };
}
