/**
 * The per-`track` condition memo (spec §2.2): within one call, a condition's result (true, false
 * or the error it threw) is computed once and shared by all the group's trackers. Slots are
 * interned ids of the canonical form (node with defaults, keys sorted, plus coerceNumbers), so
 * twins that differ in operator or any flag never share a slot. A generation counter makes
 * `begin()` O(1): no map is cleared or allocated per call.
 */

import { isTallyError, TallyError } from "../errors.ts";
import type { Predicate } from "./condition-compile.ts";

const TRUE = 1;
const FALSE = 2;
const ERROR = 3;

export class ConditionMemo {
  #gen = 0;
  #marks = new Int32Array(64);
  #values = new Uint8Array(64);
  readonly #errors = new Map<number, TallyError>();

  begin(): void {
    this.#gen++;
    if (this.#errors.size > 0) this.#errors.clear();
  }

  check(id: number, test: Predicate, data: object, now: number): boolean | TallyError {
    if (id >= this.#marks.length) this.#grow(id);
    if (this.#marks[id] === this.#gen) {
      const v = this.#values[id];
      return v === TRUE ? true : v === FALSE ? false : (this.#errors.get(id) as TallyError);
    }
    let result: boolean | TallyError;
    try {
      result = test(data, now);
    } catch (error) {
      result = isTallyError(error)
        ? error
        : new TallyError("CONDITION_FAILED", `a condition threw: ${String(error)}`, { cause: error });
    }
    this.#marks[id] = this.#gen;
    if (result === true) this.#values[id] = TRUE;
    else if (result === false) this.#values[id] = FALSE;
    else {
      this.#values[id] = ERROR;
      this.#errors.set(id, result);
    }
    return result;
  }

  #grow(id: number): void {
    let size = this.#marks.length;
    while (size <= id) size *= 2;
    const marks = new Int32Array(size);
    marks.set(this.#marks);
    const values = new Uint8Array(size);
    values.set(this.#values);
    this.#marks = marks;
    this.#values = values;
  }
}
