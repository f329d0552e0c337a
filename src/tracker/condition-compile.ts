/**
 * Compiles normalized condition nodes to closures, once per definition, and evaluates them.
 * Truth rules (spec §2.2): every leaf but `missing` is false on a missing path; negated forms mean
 * "present and not the positive form"; ordering needs two finite numbers or two strings;
 * `coerceNumbers` reads strict decimal strings as numbers where they meet a numeric operand.
 * A custom condition that throws or returns a non-boolean throws `CONDITION_FAILED`.
 */

import { TallyError } from "../errors.ts";
import { systemClock } from "../time/clock.ts";
import { type ConditionInput, type ConditionNode, type LeafNode, normalizeCondition } from "./condition-node.ts";
import { customFunction, isCustomRegistered } from "./custom-conditions.ts";
import { canonicalJson, type Json, jsonEqual } from "./json-value.ts";
import { compileGetter, getPath, MISSING_VALUE } from "./key-path.ts";

export type Predicate = (data: object, now: number) => boolean;

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const MAX_REGEX_INPUT = 10_000;

/** A numeric string read as a number (under coerceNumbers); anything else as it is. */
export function coerceNumber(value: unknown): unknown {
  if (typeof value === "string" && DECIMAL.test(value)) {
    const n = Number(value);
    if (Number.isFinite(n)) return n;
  }
  return value;
}

/**
 * Compiles a normalized node. `onUnknownCustom` decides what an unregistered custom type is:
 * definition-time callers have already rejected it; readers of stored rows throw UNKNOWN_TYPE.
 */
export function compileNode(node: ConditionNode, coerce: boolean): Predicate {
  if ("all" in node) {
    const parts = node.all.map((c) => compileNode(c, coerce));
    if (parts.length === 1) return parts[0] as Predicate;
    return (data, now) => {
      for (const part of parts) if (!part(data, now)) return false;
      return true;
    };
  }
  if ("any" in node) {
    const parts = node.any.map((c) => compileNode(c, coerce));
    return (data, now) => {
      for (const part of parts) if (part(data, now)) return true;
      return false;
    };
  }
  if ("not" in node) {
    const inner = compileNode(node.not, coerce);
    return (data, now) => !inner(data, now);
  }
  if ("custom" in node) {
    const type = node.custom;
    const fn = customFunction(type);
    if (fn === undefined) {
      throw new TallyError(
        "UNKNOWN_TYPE",
        `custom condition "${type}" is not registered in this process: call defineCondition("${type}", fn) before reading trackers that use it`,
        { details: { type } },
      );
    }
    const params = node.params ?? {};
    return (data, now) => {
      let result: unknown;
      try {
        result = fn(data as Record<string, unknown>, params, { get: (path) => getPath(data, path), now });
      } catch (cause) {
        throw new TallyError("CONDITION_FAILED", `custom condition "${type}" threw: ${String(cause)}`, {
          cause,
          details: { type },
        });
      }
      if (typeof result !== "boolean") {
        throw new TallyError(
          "CONDITION_FAILED",
          `custom condition "${type}" returned ${typeof result}, not a boolean`,
          {
            details: { type },
          },
        );
      }
      return result;
    };
  }
  return compileLeaf(node, coerce);
}

function compileLeaf(node: LeafNode, coerce: boolean): Predicate {
  const get = compileGetter(node.path);
  const value = node.value;
  const numeric = coerce && typeof value === "number";
  switch (node.op) {
    case "exists":
      return (d) => get(d) !== MISSING_VALUE;
    case "missing":
      return (d) => get(d) === MISSING_VALUE;
    case "eq":
      return (d) => {
        const f = get(d);
        return f !== MISSING_VALUE && jsonEqual(numeric ? coerceNumber(f) : f, value);
      };
    case "ne":
      return (d) => {
        const f = get(d);
        return f !== MISSING_VALUE && !jsonEqual(numeric ? coerceNumber(f) : f, value);
      };
    case "lt":
    case "lte":
    case "gt":
    case "gte": {
      const test = orderTest(node.op);
      return (d) => {
        const f = get(d);
        if (f === MISSING_VALUE) return false;
        const c = compare(numeric ? coerceNumber(f) : f, value);
        return c !== undefined && test(c);
      };
    }
    case "between": {
      const [lo, hi] = value as [number, number] | [string, string];
      const coerceIt = coerce && typeof lo === "number";
      return (d) => {
        const raw = get(d);
        if (raw === MISSING_VALUE) return false;
        const f = coerceIt ? coerceNumber(raw) : raw;
        const a = compare(f, lo);
        const b = compare(f, hi);
        return a !== undefined && b !== undefined && a >= 0 && b <= 0;
      };
    }
    case "in":
    case "nin": {
      const member = memberTest(value as Json[], coerce);
      const negate = node.op === "nin";
      return (d) => {
        const f = get(d);
        if (f === MISSING_VALUE) return false;
        return member(f) !== negate;
      };
    }
    case "intersects":
    case "disjoint": {
      const member = memberTest(value as Json[], false);
      const negate = node.op === "disjoint";
      return (d) => {
        const f = get(d);
        if (f === MISSING_VALUE) return false;
        const hit = Array.isArray(f) && f.some(member);
        return hit !== negate;
      };
    }
    case "contains": {
      const needle = node.caseSensitive === false ? (value as string).toLowerCase() : (value as string);
      const fold = node.caseSensitive === false;
      return (d) => {
        const f = get(d);
        if (typeof f === "string") return (fold ? f.toLowerCase() : f).includes(needle);
        if (Array.isArray(f)) {
          for (const item of f) {
            if (item === needle || (fold && typeof item === "string" && item.toLowerCase() === needle)) return true;
          }
        }
        return false;
      };
    }
    case "hasItem":
      return (d) => {
        const f = get(d);
        return Array.isArray(f) && f.includes(value);
      };
    case "startsWith": {
      const fold = node.caseSensitive === false;
      const prefix = fold ? (value as string).toLowerCase() : (value as string);
      return (d) => {
        const f = get(d);
        return typeof f === "string" && (fold ? f.toLowerCase() : f).startsWith(prefix);
      };
    }
    case "regex": {
      const re = new RegExp(value as string, node.flags ?? "");
      return (d) => {
        const f = get(d);
        return typeof f === "string" && f.length <= MAX_REGEX_INPUT && re.test(f);
      };
    }
  }
}

/** -1/0/1 for two finite numbers or two strings (UTF-16 code units), else undefined. */
function compare(a: unknown, b: unknown): number | undefined {
  if (typeof a === "number" && typeof b === "number") {
    if (!Number.isFinite(a)) return undefined;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  return undefined;
}

function orderTest(op: "lt" | "lte" | "gt" | "gte"): (c: number) => boolean {
  switch (op) {
    case "lt":
      return (c) => c < 0;
    case "lte":
      return (c) => c <= 0;
    case "gt":
      return (c) => c > 0;
    case "gte":
      return (c) => c >= 0;
  }
}

/** Deep-equality membership with a Set for primitives; coerced numeric strings also try the number. */
function memberTest(items: readonly Json[], coerce: boolean): (f: unknown) => boolean {
  const primitives = new Set<unknown>();
  const composites: Json[] = [];
  for (const item of items) {
    if (item !== null && typeof item === "object") composites.push(item);
    else primitives.add(item);
  }
  return (f) => {
    if (f === null || typeof f !== "object") {
      if (typeof f === "number" && !Number.isFinite(f)) return false;
      if (primitives.has(f)) return true;
      if (coerce && typeof f === "string") {
        const n = coerceNumber(f);
        return n !== f && primitives.has(n);
      }
      return false;
    }
    for (const item of composites) if (jsonEqual(f, item)) return true;
    return false;
  };
}

/** The memo key text of a normalized node under a tracker's coerceNumbers flag. */
export function canonicalKey(node: ConditionNode, coerce: boolean): string {
  return `${coerce ? "c" : "s"}${canonicalJson(node)}`;
}

const adHoc = new Map<string, Predicate>();

/** Evaluates one condition outside a tracker (no memo). Throws for bad nodes and failing customs. */
export function evaluateCondition(
  node: ConditionInput,
  data: object,
  opts: { coerceNumbers?: boolean; now?: number } = {},
): boolean {
  const coerce = opts.coerceNumbers === true;
  const normalized = normalizeCondition(node, isCustomRegistered);
  const key = canonicalKey(normalized, coerce);
  let predicate = adHoc.get(key);
  if (predicate === undefined) {
    predicate = compileNode(normalized, coerce);
    if (adHoc.size > 1000) adHoc.clear();
    adHoc.set(key, predicate);
  }
  return predicate(data, opts.now ?? systemClock.now());
}
