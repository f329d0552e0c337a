/**
 * JSON values as the condition language sees them: strict deep equality (no `true == 1`, `0`
 * equals `-0`, arrays in order, objects by the same keys), and the check that an operand is JSON.
 */

import { isPlainObject } from "./key-path.ts";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Whether `value` is a JSON value (finite numbers, plain objects and arrays all the way down). */
export function isJson(value: unknown, depth = 0): value is Json {
  if (depth > 64) return false;
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1));
  if (isPlainObject(value)) return Object.values(value).every((v) => isJson(v, depth + 1));
  return false;
}

/**
 * Strict deep equality of a field value with a JSON operand. A non-JSON field (a Date, NaN,
 * a class instance) is present but equals nothing.
 */
export function jsonEqual(field: unknown, operand: unknown): boolean {
  if (field === operand) return typeof field !== "number" || Number.isFinite(field);
  if (typeof field !== "object" || typeof operand !== "object" || field === null || operand === null) return false;
  if (Array.isArray(field)) {
    if (!Array.isArray(operand) || field.length !== operand.length) return false;
    for (let i = 0; i < field.length; i++) if (!jsonEqual(field[i], operand[i])) return false;
    return true;
  }
  if (Array.isArray(operand) || !isPlainObject(field) || !isPlainObject(operand)) return false;
  const keys = Object.keys(field);
  if (keys.length !== Object.keys(operand).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(operand, key)) return false;
    if (!jsonEqual(field[key], operand[key])) return false;
  }
  return true;
}

/** JSON with object keys sorted: the canonical text used for memo keys. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
