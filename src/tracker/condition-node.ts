/**
 * The declarative JSON condition language (spec §1.4): what trackers store and evaluate.
 *
 * `normalizeCondition` checks a node at definition time (`INVALID_CONDITION`) and returns it with
 * defaults filled in (`caseSensitive: true`, `flags: ""`, `params: {}`), which is the canonical
 * form memo keys are built from. Condition classes compile to these nodes through `toJSON()`.
 */

import { TallyError } from "../errors.ts";
import { isJson, type Json, type JsonObject } from "./json-value.ts";
import { isPlainObject, type Path, parsePath } from "./key-path.ts";

export type LeafOp =
  | "exists"
  | "missing"
  | "eq"
  | "ne"
  | "lt"
  | "lte"
  | "gt"
  | "gte"
  | "in"
  | "nin"
  | "contains"
  | "hasItem"
  | "intersects"
  | "disjoint"
  | "between"
  | "startsWith"
  | "regex";

export interface LeafNode {
  path: Path;
  op: LeafOp;
  value?: Json;
  caseSensitive?: boolean;
  flags?: string;
}
export interface CustomNode {
  custom: string;
  params?: JsonObject;
}
export type ConditionNode =
  | { all: ConditionNode[] }
  | { any: ConditionNode[] }
  | { not: ConditionNode }
  | LeafNode
  | CustomNode;

/** Anything with `toJSON(): ConditionNode` (the condition classes) or a node itself. */
export interface ConditionLike {
  toJSON(): ConditionNode;
}
export type ConditionInput = ConditionNode | ConditionLike;

export const LEAF_OPS: readonly LeafOp[] = Object.freeze([
  "exists",
  "missing",
  "eq",
  "ne",
  "lt",
  "lte",
  "gt",
  "gte",
  "in",
  "nin",
  "contains",
  "hasItem",
  "intersects",
  "disjoint",
  "between",
  "startsWith",
  "regex",
]);

export const MAX_DEPTH = 16;
export const MAX_NODES = 256;
export const MAX_LIST = 10_000;
export const MAX_PATTERN = 256;

/** Counts nodes across one tracker's conditions. */
export interface NodeBudget {
  nodes: number;
}

/** Looks up whether a custom type is registered (injected to keep the registry module separate). */
export type CustomTypeCheck = (type: string) => boolean;

export function isConditionLike(value: unknown): value is ConditionLike {
  return (
    typeof value === "object" &&
    value !== null &&
    !isPlainObject(value) &&
    typeof (value as { toJSON?: unknown }).toJSON === "function"
  );
}

/** Checks and fills defaults; throws `INVALID_CONDITION` naming the bad part. */
export function normalizeCondition(
  input: ConditionInput | unknown,
  isRegistered: CustomTypeCheck,
  budget: NodeBudget = { nodes: 0 },
  depth = 1,
): ConditionNode {
  const node = isConditionLike(input) ? input.toJSON() : input;
  if (depth > MAX_DEPTH) throw invalid(node, `conditions nest deeper than ${MAX_DEPTH} levels`);
  budget.nodes++;
  if (budget.nodes > MAX_NODES) throw invalid(node, `a tracker may hold at most ${MAX_NODES} condition nodes`);
  if (!isPlainObject(node)) throw invalid(node, "a condition is a plain object or a condition class instance");
  const keys = Object.keys(node);
  if ("all" in node || "any" in node) {
    const kind = "all" in node ? "all" : "any";
    if (keys.length !== 1) throw invalid(node, `an "${kind}" node takes no other keys`);
    const list = node[kind];
    if (!Array.isArray(list)) throw invalid(node, `"${kind}" takes an array of conditions`);
    const children = list.map((c) => normalizeCondition(c, isRegistered, budget, depth + 1));
    return kind === "all" ? { all: children } : { any: children };
  }
  if ("not" in node) {
    if (keys.length !== 1) throw invalid(node, `a "not" node takes no other keys`);
    return { not: normalizeCondition(node.not, isRegistered, budget, depth + 1) };
  }
  if ("custom" in node) return normalizeCustom(node, keys, isRegistered);
  if ("op" in node || "path" in node) return normalizeLeaf(node, keys);
  throw invalid(node, `use one of "all", "any", "not", "custom", or a leaf { path, op, value }`);
}

function normalizeCustom(node: Record<string, unknown>, keys: string[], isRegistered: CustomTypeCheck): CustomNode {
  for (const key of keys) {
    if (key !== "custom" && key !== "params") throw invalid(node, `unknown key "${key}" in a custom condition`);
  }
  const type = node.custom;
  if (typeof type !== "string" || !isRegistered(type)) {
    throw invalid(node, `custom condition ${JSON.stringify(type)} is not registered: call defineCondition first`);
  }
  const params = node.params ?? {};
  if (!isPlainObject(params) || !isJson(params)) throw invalid(node, "custom params must be a JSON object");
  return { custom: type, params: params as JsonObject };
}

const LEAF_KEYS = new Set(["path", "op", "value", "caseSensitive", "flags"]);

function normalizeLeaf(node: Record<string, unknown>, keys: string[]): LeafNode {
  for (const key of keys) {
    if (!LEAF_KEYS.has(key)) throw invalid(node, `unknown key "${key}" in a leaf condition`);
  }
  const op = node.op as LeafOp;
  if (!LEAF_OPS.includes(op))
    throw invalid(node, `unknown op ${JSON.stringify(node.op)}; use one of ${LEAF_OPS.join(", ")}`);
  const path = node.path as Path;
  parsePath(path);
  const pathCopy: Path = typeof path === "string" ? path : [...path];
  const hasValue = "value" in node;
  const value = node.value;
  if ("caseSensitive" in node && op !== "contains" && op !== "startsWith") {
    throw invalid(node, `"caseSensitive" applies to "contains" and "startsWith" only`);
  }
  if ("caseSensitive" in node && typeof node.caseSensitive !== "boolean")
    throw invalid(node, `"caseSensitive" is a boolean`);
  if ("flags" in node && op !== "regex") throw invalid(node, `"flags" applies to "regex" only`);
  switch (op) {
    case "exists":
    case "missing":
      if (hasValue) throw invalid(node, `"${op}" takes no value`);
      return { path: pathCopy, op };
    case "eq":
    case "ne":
      if (!hasValue || !isJson(value)) throw invalid(node, `"${op}" takes a JSON value`);
      return { path: pathCopy, op, value: value as Json };
    case "lt":
    case "lte":
    case "gt":
    case "gte":
      if (!isFiniteNumber(value) && typeof value !== "string")
        throw invalid(node, `"${op}" takes a finite number or a string`);
      return { path: pathCopy, op, value };
    case "in":
    case "nin":
    case "intersects":
    case "disjoint":
      if (!Array.isArray(value) || !isJson(value)) throw invalid(node, `"${op}" takes an array of JSON values`);
      if (value.length > MAX_LIST) throw invalid(node, `lists hold at most ${MAX_LIST} items`);
      return { path: pathCopy, op, value: value as Json[] };
    case "contains":
    case "startsWith":
      if (typeof value !== "string") throw invalid(node, `"${op}" takes a string`);
      return { path: pathCopy, op, value, caseSensitive: node.caseSensitive !== false };
    case "hasItem":
      if (typeof value !== "string" && !isFiniteNumber(value))
        throw invalid(node, `"hasItem" takes a string or a finite number`);
      return { path: pathCopy, op, value };
    case "between": {
      if (!Array.isArray(value) || value.length !== 2) throw invalid(node, `"between" takes [lo, hi]`);
      const [lo, hi] = value as unknown[];
      const numbers = isFiniteNumber(lo) && isFiniteNumber(hi);
      const strings = typeof lo === "string" && typeof hi === "string";
      if (!numbers && !strings) throw invalid(node, `"between" takes two numbers or two strings`);
      if ((lo as number | string) > (hi as number | string)) throw invalid(node, `"between" needs lo <= hi`);
      return { path: pathCopy, op, value: [lo, hi] as Json[] };
    }
    case "regex": {
      if (typeof value !== "string" || value.length > MAX_PATTERN) {
        throw invalid(node, `"regex" takes a pattern string of at most ${MAX_PATTERN} chars`);
      }
      const flags = node.flags ?? "";
      if (typeof flags !== "string" || !/^[imsu]*$/.test(flags) || new Set(flags).size !== flags.length) {
        throw invalid(node, `regex flags come from "imsu", each at most once`);
      }
      try {
        new RegExp(value, flags);
      } catch (cause) {
        throw new TallyError("INVALID_CONDITION", `regex ${JSON.stringify(value)} does not compile: ${String(cause)}`, {
          cause,
        });
      }
      return { path: pathCopy, op, value, flags };
    }
  }
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function invalid(node: unknown, why: string): TallyError {
  let shown: string;
  try {
    shown = JSON.stringify(node) ?? String(node);
  } catch {
    shown = String(node);
  }
  if (shown.length > 200) shown = `${shown.slice(0, 200)}…`;
  return new TallyError("INVALID_CONDITION", `invalid condition ${shown}: ${why}`, { details: { node } });
}
