/**
 * dictrack's condition classes. Each is a value that compiles to one JSON node (spec §1.4) and
 * checks its arguments at construction (`INVALID_CONDITION`). Names and `toString()` follow
 * dictrack so its users can read them; semantics are tally's (§2.2, §3).
 */

import { systemClock } from "../time/clock.ts";
import { compileNode, type Predicate } from "./condition-compile.ts";
import { type ConditionNode, type LeafNode, type LeafOp, normalizeCondition } from "./condition-node.ts";
import { isCustomRegistered } from "./custom-conditions.ts";
import type { Json } from "./json-value.ts";
import type { Path } from "./key-path.ts";

export abstract class Condition {
  readonly key: Path;
  readonly value: Json | undefined;
  /** dictrack's operator name, as shown by `toString()`. */
  readonly operator: string;
  readonly #node: ConditionNode;
  #compiled: [Predicate | undefined, Predicate | undefined] = [undefined, undefined];

  protected constructor(key: Path, operator: string, node: ConditionNode, value?: Json) {
    this.#node = normalizeCondition(node, isCustomRegistered);
    this.key = typeof key === "string" ? key : Object.freeze([...key]);
    this.operator = operator;
    this.value = value;
  }

  check(data: object, opts: { coerceNumbers?: boolean } = {}): boolean {
    const slot = opts.coerceNumbers === true ? 1 : 0;
    let predicate = this.#compiled[slot];
    if (predicate === undefined) {
      predicate = compileNode(this.#node, slot === 1);
      this.#compiled[slot] = predicate;
    }
    return predicate(data, systemClock.now());
  }

  /** The JSON node this condition compiles to (what a tracker stores). */
  toJSON(): ConditionNode {
    return structuredClone(this.#node);
  }

  toString(): string {
    const key = typeof this.key === "string" ? this.key : JSON.stringify(this.key);
    const value =
      this.value === undefined
        ? ""
        : ` value=${typeof this.value === "string" ? this.value : JSON.stringify(this.value)}`;
    return `<${this.constructor.name} (key=${key} operator=${this.operator}${value})>`;
  }
}

function leaf(path: Path, op: LeafOp, value?: Json, extra: Partial<LeafNode> = {}): LeafNode {
  return value === undefined ? { path, op, ...extra } : { path, op, value, ...extra };
}

/** "present and not <positive>": false on a missing key (spec §2.2). */
function presentAndNot(path: Path, positive: LeafNode): ConditionNode {
  return { all: [{ path, op: "exists" }, { not: positive }] };
}

export class KeyExists extends Condition {
  constructor(key: Path) {
    super(key, "exists", leaf(key, "exists"));
  }
}
export class KeyNotExists extends Condition {
  constructor(key: Path) {
    super(key, "not_exists", leaf(key, "missing"));
  }
}
export class KeyValueEQ extends Condition {
  constructor(key: Path, value: Json) {
    super(key, "eq", leaf(key, "eq", value), value);
  }
}
export class KeyValueNE extends Condition {
  constructor(key: Path, value: Json) {
    super(key, "ne", leaf(key, "ne", value), value);
  }
}
export class KeyValueLT extends Condition {
  constructor(key: Path, value: number | string) {
    super(key, "lt", leaf(key, "lt", value), value);
  }
}
export class KeyValueLE extends Condition {
  constructor(key: Path, value: number | string) {
    super(key, "le", leaf(key, "lte", value), value);
  }
}
export class KeyValueGT extends Condition {
  constructor(key: Path, value: number | string) {
    super(key, "gt", leaf(key, "gt", value), value);
  }
}
export class KeyValueGE extends Condition {
  constructor(key: Path, value: number | string) {
    super(key, "ge", leaf(key, "gte", value), value);
  }
}
export class KeyValueContained extends Condition {
  constructor(key: Path, value: string, opts: { caseSensitive?: boolean } = {}) {
    super(key, "contained", leaf(key, "contains", value, { caseSensitive: opts.caseSensitive !== false }), value);
  }
}
export class KeyValueNotContained extends Condition {
  constructor(key: Path, value: string, opts: { caseSensitive?: boolean } = {}) {
    const positive = leaf(key, "contains", value, { caseSensitive: opts.caseSensitive !== false });
    super(key, "not_contained", presentAndNot(key, positive), value);
  }
}
export class KeyValueInList extends Condition {
  constructor(key: Path, value: readonly Json[]) {
    super(key, "in_list", leaf(key, "in", [...value]), [...value]);
  }
}
export class KeyValueNotInList extends Condition {
  constructor(key: Path, value: readonly Json[]) {
    super(key, "not_in_list", leaf(key, "nin", [...value]), [...value]);
  }
}
export class KeyValueListHasItem extends Condition {
  constructor(key: Path, value: string | number) {
    super(key, "list_has_item", leaf(key, "hasItem", value), value);
  }
}
export class KeyValueListNotHasItem extends Condition {
  constructor(key: Path, value: string | number) {
    super(key, "list_not_has_item", presentAndNot(key, leaf(key, "hasItem", value)), value);
  }
}
export class KeyValueListIntersectList extends Condition {
  constructor(key: Path, value: readonly Json[]) {
    super(key, "list_intersect_list", leaf(key, "intersects", [...value]), [...value]);
  }
}
export class KeyValueListNotIntersectList extends Condition {
  constructor(key: Path, value: readonly Json[]) {
    super(key, "list_not_intersect_list", leaf(key, "disjoint", [...value]), [...value]);
  }
}
