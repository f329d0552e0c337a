/**
 * Validation of report queries. `by` must name exactly one index of the definition (no subset or
 * superset fallback): the meter never scans raw events to answer a filter it did not roll up.
 */

import { TallyError, UnsupportedQueryError } from "../errors.ts";
import { canonicalValue, indexKeyOf } from "./index-key.ts";
import { isPlainObject } from "./payload.ts";
import type { StoredDefinition } from "./rollups.ts";
import { requireTime } from "./time-input.ts";

export type ByQuery = Record<string, string | number | boolean>;

export function requireVersion(version: unknown): number {
  if (typeof version === "number" && Number.isSafeInteger(version) && version > 0) return version;
  throw new TallyError("INVALID_OPTION", `invalid version ${String(version)}: pass a positive integer like 1`, {
    details: { version },
  });
}

export function requireName(name: unknown): string {
  if (typeof name === "string" && name.trim() !== "" && name.length <= 200 && !/\p{Cc}/u.test(name)) return name;
  throw new TallyError(
    "INVALID_NAME",
    `invalid event name ${JSON.stringify(name) ?? String(name)}: pass a non-blank string of at most 200 characters without control characters`,
    { details: { name } },
  );
}

export function requireQuery(query: unknown, what: string): Record<string, unknown> {
  if (typeof query === "object" && query !== null) return query as Record<string, unknown>;
  throw new TallyError("INVALID_QUERY", `${what} needs a query object like { version: 1 }`);
}

function unsupported(def: StoredDefinition, params: readonly string[]): UnsupportedQueryError {
  const list = params.map((p) => `'${p}'`).join(", ");
  return new UnsupportedQueryError(
    `no index on [${params.join(", ")}] for ${def.name} v${def.version}; add indexBy(${list}) and bump the version`,
    { details: { params, indexes: def.indexes } },
  );
}

/** The index a set of params names exactly, or `UnsupportedQueryError`. */
export function requireIndex(def: StoredDefinition, params: readonly string[]): string[] {
  const sorted = [...new Set(params)].sort();
  const found = def.indexes.find((ix) => ix.length === sorted.length && ix.every((p, i) => p === sorted[i]));
  if (found === undefined) throw unsupported(def, sorted);
  return found;
}

/** The index key a `by` filter selects. `{}` and null mean the all-events index. */
export function indexKeyForBy(def: StoredDefinition, by: unknown): string {
  if (by === undefined || by === null) return "all";
  if (!isPlainObject(by)) {
    throw new TallyError(
      "INVALID_QUERY",
      `invalid by ${String(by)}: pass a plain object like { provider: "postmark" }`,
    );
  }
  const params = Object.keys(by);
  for (const p of params) {
    const v = by[p];
    if (canonicalValue(v) === null) {
      throw new TallyError(
        "INVALID_QUERY",
        `invalid by value for ${p}: ${String(v)}; pass a string, a finite number or a boolean (null is never indexed)`,
        { details: { param: p } },
      );
    }
  }
  const index = requireIndex(def, params);
  return indexKeyOf(
    index,
    index.map((p) => canonicalValue(by[p]) as string),
  );
}

/** `[from, to)` in ms from a query, or null when neither is given. */
export function windowOf(query: Record<string, unknown>, what = ""): [number, number] | null {
  const hasFrom = query.from !== undefined && query.from !== null;
  const hasTo = query.to !== undefined && query.to !== null;
  if (!hasFrom && !hasTo) return null;
  if (hasFrom !== hasTo) {
    throw new TallyError("INVALID_WINDOW", `pass both ${what}from and ${what}to, or neither`);
  }
  const from = requireTime(query.from, `${what}from`);
  const to = requireTime(query.to, `${what}to`);
  if (!(to > from)) {
    throw new TallyError(
      "INVALID_WINDOW",
      `invalid window: ${what}to (${new Date(to).toISOString()}) must be after ${what}from (${new Date(from).toISOString()})`,
    );
  }
  return [from, to];
}
