/**
 * Field checks for request bodies and query strings. Each throws a 400 naming the field (`count`,
 * `events[2].durationMs`, `version`), so a client sees exactly which value to fix.
 */

import { badField } from "./http-io.ts";

export type Body = Record<string, unknown>;

/** The body as an object; an empty body is `{}` when `optional`. */
export function objectBody(value: unknown, optional = false): Body {
  if (value === undefined && optional) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badField("body", "must be a JSON object");
  }
  return value as Body;
}

export function requiredString(body: Body, key: string, field = key): string {
  const value = body[key];
  if (typeof value !== "string" || value.trim() === "") throw badField(field, "must be a non-empty string");
  return value;
}

export function optionalString(body: Body, key: string, field = key): string | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "") throw badField(field, "must be a non-empty string");
  return value;
}

export function optionalInt(
  body: Body,
  key: string,
  options: { min?: number; max?: number; field?: string } = {},
): number | undefined {
  const value = body[key];
  const field = options.field ?? key;
  if (value === undefined) return undefined;
  const min = options.min ?? 0;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw badField(field, `must be an integer ${min}..${max}`);
  }
  return value;
}

export function optionalBoolean(body: Body, key: string, field = key): boolean | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (typeof value !== "boolean") throw badField(field, "must be true or false");
  return value;
}

export function optionalObject(body: Body, key: string, field = key): Body | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) throw badField(field, "must be a JSON object");
  return value as Body;
}

/** A positive integer from the query string. */
export function queryInt(query: URLSearchParams, key: string): number | undefined {
  const text = query.get(key);
  if (text === null || text === "") return undefined;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw badField(key, `must be a positive integer, got "${text}"`);
  return n;
}

/** `by.<key>=value` query parameters as a `by` object, or null when there are none. */
export function queryBy(query: URLSearchParams): Record<string, string> | null {
  let by: Record<string, string> | null = null;
  for (const [key, value] of query) {
    if (!key.startsWith("by.")) continue;
    const name = key.slice(3);
    if (name === "") throw badField(key, "name the index param: by.<param>=<value>");
    by ??= {};
    by[name] = value;
  }
  return by;
}
