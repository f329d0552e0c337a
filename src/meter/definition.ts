/**
 * Report definitions: the indexes and interval rules one version of a report rolls up.
 *
 * `indexBy` adds a sorted, deduplicated param set (the all-events index `[]` always exists);
 * `measureIntervalBy(param, { groupBy })` adds a rule and also `indexBy(...groupBy)`. The canonical
 * form `{"name","version","indexes","intervals"}` sorts every list, so the fingerprint (sha256 of
 * its compact JSON) does not depend on the order calls were made in.
 */

import { createHash } from "node:crypto";
import { DefinitionChangedError, TallyError } from "../errors.ts";
import type { StoredDefinition } from "./rollups.ts";

export interface ReportDefiner {
  indexBy(...params: Array<string | readonly string[]>): this;
  measureIntervalBy(param: string, options?: { groupBy?: string | readonly string[] }): this;
}

export interface IntervalRule {
  param: string;
  groupBy: string[];
}

function paramName(value: unknown, what: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new TallyError(
      "INVALID_OPTION",
      `invalid ${what} ${JSON.stringify(value) ?? String(value)}: param names are non-blank strings`,
      { details: { value } },
    );
  }
  return value;
}

function paramSet(values: Array<string | readonly string[]>, what: string): string[] {
  const flat: string[] = [];
  for (const v of values) {
    if (Array.isArray(v)) for (const p of v) flat.push(paramName(p, what));
    else flat.push(paramName(v, what));
  }
  return [...new Set(flat)].sort(compareStrings);
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareLists(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareStrings(a[i] as string, b[i] as string);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

export class DefinitionBuilder implements ReportDefiner {
  readonly #indexes = new Map<string, string[]>([["[]", []]]);
  readonly #intervals = new Map<string, IntervalRule>();

  indexBy(...params: Array<string | readonly string[]>): this {
    const set = paramSet(params, "indexBy param");
    this.#indexes.set(JSON.stringify(set), set);
    return this;
  }

  measureIntervalBy(param: string, options: { groupBy?: string | readonly string[] } = {}): this {
    const name = paramName(param, "measureIntervalBy param");
    if (typeof options !== "object" || options === null) {
      throw new TallyError(
        "INVALID_OPTION",
        "measureIntervalBy options must be an object like { groupBy: 'provider' }",
      );
    }
    const raw = options.groupBy;
    const groupBy = raw === undefined ? [] : paramSet([raw as string | readonly string[]], "groupBy param");
    this.indexBy(groupBy);
    this.#intervals.set(JSON.stringify([name, groupBy]), { param: name, groupBy });
    return this;
  }

  build(name: string, version: number): StoredDefinition {
    const indexes = [...this.#indexes.values()].sort(compareLists);
    const intervals = [...this.#intervals.values()].sort(
      (a, b) => compareStrings(a.param, b.param) || compareLists(a.groupBy, b.groupBy),
    );
    return withFingerprint({ name, version, indexes, intervals });
  }
}

export function canonicalJson(def: Omit<StoredDefinition, "fingerprint">): string {
  return JSON.stringify({
    name: def.name,
    version: def.version,
    indexes: def.indexes,
    intervals: def.intervals.map((r) => ({ param: r.param, groupBy: r.groupBy })),
  });
}

export function fingerprintOf(def: Omit<StoredDefinition, "fingerprint">): string {
  return createHash("sha256").update(canonicalJson(def)).digest("hex");
}

export function withFingerprint(def: Omit<StoredDefinition, "fingerprint">): StoredDefinition {
  return { ...def, fingerprint: fingerprintOf(def) };
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

function changed(name: string, version: number, why: string): DefinitionChangedError {
  return new DefinitionChangedError(`${name} v${version} changed (${why}); bump the version`, {
    details: { name, version },
  });
}

/**
 * Validates a stored definition (parsed JSON or an object) for `name`/`version`: its content must
 * hash to its fingerprint, and when `given` is passed, the fingerprints must match. Stores call
 * this from `ensureDefinition` and `getDefinition`.
 */
export function checkStoredDefinition(
  stored: unknown,
  name: string,
  version: number,
  given?: StoredDefinition,
): StoredDefinition {
  let value = stored;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      throw changed(name, version, "the stored definition is not valid JSON");
    }
  }
  const def = value as Partial<StoredDefinition> | null;
  if (
    typeof def !== "object" ||
    def === null ||
    typeof def.fingerprint !== "string" ||
    !Array.isArray(def.indexes) ||
    !def.indexes.every(isStringList) ||
    !Array.isArray(def.intervals) ||
    !def.intervals.every(
      (r) => typeof r === "object" && r !== null && typeof r.param === "string" && isStringList(r.groupBy),
    )
  ) {
    throw changed(name, version, "the stored definition is corrupt");
  }
  const clean: StoredDefinition = {
    name,
    version,
    indexes: def.indexes,
    intervals: def.intervals.map((r) => ({ param: r.param, groupBy: r.groupBy })),
    fingerprint: def.fingerprint,
  };
  if (def.name !== name || def.version !== version || fingerprintOf(clean) !== def.fingerprint) {
    throw changed(name, version, "the stored definition does not match its fingerprint");
  }
  if (given !== undefined && given.fingerprint !== clean.fingerprint) {
    throw changed(
      name,
      version,
      `stored fingerprint ${clean.fingerprint.slice(0, 12)}, given ${given.fingerprint.slice(0, 12)}`,
    );
  }
  return clean;
}

export function definitionJson(def: StoredDefinition): string {
  return JSON.stringify({
    name: def.name,
    version: def.version,
    indexes: def.indexes,
    intervals: def.intervals,
    fingerprint: def.fingerprint,
  });
}
