/**
 * Key paths (spec §2.1): how a condition or an accumulation `key` reaches into an event.
 *
 * A dotted string splits at every `.` not preceded by a backslash; `\.` is a literal dot and there
 * are no other escapes. Walking a segment:
 * - an array takes an integer segment (`-?\d+`, negative counts from the end); else missing;
 * - a plain object (prototype `Object.prototype` or null) takes an **own** property, so
 *   `__proto__` and `constructor` never reach inherited members; a property holding `undefined`
 *   is missing, a present `null` is present;
 * - anything else (string, number, null, class instance) is missing.
 * Explicit segment arrays need no escaping: numbers index arrays, strings name object keys.
 */

import { TallyError } from "../errors.ts";

export type Path = string | readonly (string | number)[];

/** What a lookup found. `value` is only meaningful when `found`. */
export interface Lookup {
  found: boolean;
  value?: unknown;
}

/** A parsed path: a segment is a string (object key, or array index if integer-like) or a number (array index only). */
export type Segments = readonly (string | number)[];

const INTEGER = /^-?\d+$/;
const hasOwn = Object.prototype.hasOwnProperty;

/** Splits a dotted path into segments, or throws `code` for an empty path or segment. */
export function parsePath(path: Path, code: "INVALID_CONDITION" | "INVALID_TRACKER" = "INVALID_CONDITION"): Segments {
  if (typeof path === "string") {
    if (path.length === 0) throw badPath(path, "it is empty", code);
    const segments: string[] = [];
    let current = "";
    for (let i = 0; i < path.length; i++) {
      const ch = path[i];
      if (ch === "\\" && path[i + 1] === ".") {
        current += ".";
        i++;
      } else if (ch === ".") {
        segments.push(current);
        current = "";
      } else {
        current += ch;
      }
    }
    segments.push(current);
    if (segments.some((s) => s.length === 0)) throw badPath(path, "it has an empty segment", code);
    return segments;
  }
  if (!Array.isArray(path) || path.length === 0) throw badPath(path, "pass a dotted string or a non-empty array", code);
  for (const segment of path) {
    if (typeof segment === "number") {
      if (!Number.isInteger(segment)) throw badPath(path, `segment ${segment} is not an integer`, code);
    } else if (typeof segment !== "string" || segment.length === 0) {
      throw badPath(path, "every segment must be a non-empty string or an integer", code);
    }
  }
  return [...path];
}

/** Whether `value` is a plain object (the only kind of object a path walks into). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Walks `segments` from `root`. `fromString` says integer-like string segments may index arrays. */
export function lookup(root: unknown, segments: Segments, fromString: boolean): Lookup {
  let current: unknown = root;
  for (const segment of segments) {
    const step = walk(current, segment, fromString);
    if (step === MISSING) return NOT_FOUND;
    current = step;
  }
  return { found: true, value: current };
}

const MISSING: unique symbol = Symbol("missing");
const NOT_FOUND: Lookup = Object.freeze({ found: false });

function walk(current: unknown, segment: string | number, fromString: boolean): unknown {
  if (Array.isArray(current)) {
    let index: number;
    if (typeof segment === "number") index = segment;
    else if (fromString && INTEGER.test(segment)) index = Number(segment);
    else return MISSING;
    if (index < 0) index += current.length;
    if (index < 0 || index >= current.length) return MISSING;
    const value = current[index];
    return value === undefined ? MISSING : value;
  }
  if (typeof segment !== "string" || !isPlainObject(current)) return MISSING;
  if (!hasOwn.call(current, segment)) return MISSING;
  const value = current[segment];
  return value === undefined ? MISSING : value;
}

/**
 * A compiled getter for a path: returns MISSING_VALUE when missing. One-segment paths (the common
 * case) skip the loop.
 */
export const MISSING_VALUE: unique symbol = Symbol("missing value");
export type Getter = (data: unknown) => unknown;

export function compileGetter(path: Path): Getter {
  const fromString = typeof path === "string";
  const segments = parsePath(path);
  if (segments.length === 1) {
    const only = segments[0] as string | number;
    return (data) => {
      const step = walk(data, only, fromString);
      return step === MISSING ? MISSING_VALUE : step;
    };
  }
  return (data) => {
    let current: unknown = data;
    for (const segment of segments) {
      const step = walk(current, segment, fromString);
      if (step === MISSING) return MISSING_VALUE;
      current = step;
    }
    return current;
  };
}

/** `get(path)` as custom conditions see it. */
export function getPath(data: unknown, path: Path): Lookup {
  return lookup(data, parsePath(path), typeof path === "string");
}

function badPath(path: unknown, why: string, code: "INVALID_CONDITION" | "INVALID_TRACKER"): TallyError {
  return new TallyError(code, `invalid key path ${JSON.stringify(path)}: ${why}; use "a.b.0" or ["a", "b", 0]`, {
    details: { path },
  });
}
