/**
 * Index values and keys. A value's canonical string: strings as they are, finite numbers as
 * `String(n)` (so `42` and `"42"` share a key, gem parity), booleans as "true"/"false". `null`,
 * `undefined`, objects, arrays and non-finite numbers are never indexed (`null` is never `""`).
 *
 * `indexName` = sorted params joined by ","; `indexKey` = "all" for the all-events index, else
 * `encodeURIComponent(param)=encodeURIComponent(value)` pairs in param order joined by "&", so the
 * key alone names its index.
 */

export type IndexValue = string | number | boolean;

export const ALL_KEY = "all";

/** The canonical string of an indexable value, or null when the value is not indexable. */
export function canonicalValue(value: unknown): string | null {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
      return Number.isFinite(value) ? String(value) : null;
    case "boolean":
      return value ? "true" : "false";
    default:
      return null;
  }
}

export function indexNameOf(params: readonly string[]): string {
  return params.join(",");
}

/** The key for canonical values given in the index's (sorted) param order. */
export function indexKeyOf(params: readonly string[], values: readonly string[]): string {
  if (params.length === 0) return ALL_KEY;
  let key = "";
  for (let i = 0; i < params.length; i++) {
    if (i > 0) key += "&";
    key += `${encodeURIComponent(params[i] as string)}=${encodeURIComponent(values[i] as string)}`;
  }
  return key;
}

/** The params and canonical values a key holds, in key order. */
export function decodeIndexKey(indexKey: string): { params: string[]; values: string[] } {
  if (indexKey === ALL_KEY) return { params: [], values: [] };
  const params: string[] = [];
  const values: string[] = [];
  for (const pair of indexKey.split("&")) {
    const eq = pair.indexOf("=");
    params.push(decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq)));
    values.push(eq < 0 ? "" : decodeURIComponent(pair.slice(eq + 1)));
  }
  return { params, values };
}

/** The index name a key belongs to. */
export function indexNameOfKey(indexKey: string): string {
  return indexNameOf(decodeIndexKey(indexKey).params);
}
