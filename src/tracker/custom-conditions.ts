/**
 * The registry of custom conditions (spec §1.4). Only a registered name and JSON params are ever
 * stored, never code; every process that reads such a tracker must register the same name first,
 * otherwise reading it fails loudly with `UNKNOWN_TYPE`.
 */

import { TallyError } from "../errors.ts";
import type { CustomNode } from "./condition-node.ts";
import { isJson, type JsonObject } from "./json-value.ts";
import { isPlainObject, type Lookup, type Path } from "./key-path.ts";

export interface CustomConditionContext {
  /** Looks a path up in the event (the same rules as the built-in ops). */
  get(path: Path): Lookup;
  /** The `now` of the `track` call. */
  now: number;
}
export type CustomConditionFn = (
  // biome-ignore lint/suspicious/noExplicitAny: events are arbitrary JSON; the author narrows them
  data: Record<string, any>,
  // biome-ignore lint/suspicious/noExplicitAny: params are the author's own JSON
  params: Record<string, any>,
  ctx: CustomConditionContext,
) => boolean;

const NAME = /^[a-z][A-Za-z0-9_.-]{0,63}$/;
const registry = new Map<string, CustomConditionFn>();

export function isCustomRegistered(type: string): boolean {
  return registry.has(type);
}

export function customFunction(type: string): CustomConditionFn | undefined {
  return registry.get(type);
}

/**
 * Registers a pure, synchronous predicate under `type` and returns a factory of
 * `{ custom: type, params }` nodes. Re-registering the same function is harmless; another
 * function under a used name is `CONFLICTING_NAME`.
 */
export function defineCondition(type: string, fn: CustomConditionFn): (params?: JsonObject) => CustomNode {
  if (typeof type !== "string" || !NAME.test(type)) {
    throw new TallyError(
      "INVALID_CONDITION",
      `invalid custom condition name ${JSON.stringify(type)}: use a letter then up to 63 of [A-Za-z0-9_.-], starting lower-case`,
      { details: { type } },
    );
  }
  if (typeof fn !== "function") {
    throw new TallyError(
      "INVALID_CONDITION",
      `defineCondition("${type}") needs a function (data, params, ctx) => boolean`,
    );
  }
  const existing = registry.get(type);
  if (existing !== undefined && existing !== fn) {
    throw new TallyError(
      "CONFLICTING_NAME",
      `custom condition "${type}" is already registered with another function: pick another name`,
      { details: { type } },
    );
  }
  registry.set(type, fn);
  return (params = {}) => {
    if (!isPlainObject(params) || !isJson(params)) {
      throw new TallyError("INVALID_CONDITION", `params of custom condition "${type}" must be a JSON object`, {
        details: { params },
      });
    }
    return { custom: type, params: structuredClone(params) };
  };
}
