/**
 * The rows of one group as a batch of manager calls changes them inside one `transact` plan.
 * Copy-on-write over the store's view, so a plan that runs twice (optimistic retry) starts from
 * the view again; at the end it turns into the store's `{ upsert, remove, record }`.
 */

import type { StoredTracker } from "./stored-tracker.ts";

export interface GroupView {
  rows: readonly StoredTracker[];
  applied: ReadonlySet<string>;
  version: number;
}

export class WorkingGroup {
  readonly groupId: string;
  #rows: readonly StoredTracker[];
  #owned = false;
  readonly #view: readonly StoredTracker[];
  // Created on first use: most transacts of a busy group change a few rows and record one id.
  #upserts: Map<string, StoredTracker> | undefined;
  #removed: Set<string> | undefined;
  readonly #applied: ReadonlySet<string>;
  #recorded: Set<string> | undefined;

  constructor(groupId: string, view: GroupView) {
    this.groupId = groupId;
    this.#rows = view.rows;
    this.#applied = view.applied;
    this.#view = view.rows;
  }

  get rows(): readonly StoredTracker[] {
    return this.#rows;
  }

  find(name: string): StoredTracker | undefined {
    for (const row of this.#rows) if (row.name === name) return row;
    return undefined;
  }

  nextSeq(): number {
    let max = 0;
    for (const row of this.#rows) if (row.seq > max) max = row.seq;
    return max + 1;
  }

  /** Replaces the row of the same name, or appends a new one (new rows carry the highest seq). */
  put(row: StoredTracker): void {
    const rows = this.#own();
    const i = rows.findIndex((r) => r.name === row.name);
    if (i >= 0) rows[i] = row;
    else rows.push(row);
    this.#upserts ??= new Map();
    this.#upserts.set(row.name, row);
    this.#removed?.delete(row.name);
  }

  delete(name: string): void {
    const rows = this.#own();
    const i = rows.findIndex((r) => r.name === name);
    if (i >= 0) rows.splice(i, 1);
    this.#upserts?.delete(name);
    if (this.#view.some((r) => r.name === name)) {
      this.#removed ??= new Set();
      this.#removed.add(name);
    }
  }

  isApplied(eventId: string): boolean {
    return this.#applied.has(eventId) || this.#recorded?.has(eventId) === true;
  }

  recordId(eventId: string): void {
    this.#recorded ??= new Set();
    this.#recorded.add(eventId);
  }

  get dirty(): boolean {
    return (this.#upserts?.size ?? 0) > 0 || (this.#removed?.size ?? 0) > 0 || (this.#recorded?.size ?? 0) > 0;
  }

  changes(): { upsert: StoredTracker[]; remove: string[]; record: string[] } {
    return {
      upsert: this.#upserts === undefined ? [] : [...this.#upserts.values()],
      remove: this.#removed === undefined ? [] : [...this.#removed],
      record: this.#recorded === undefined ? [] : [...this.#recorded],
    };
  }

  #own(): StoredTracker[] {
    if (!this.#owned) {
      this.#rows = [...this.#rows];
      this.#owned = true;
    }
    return this.#rows as StoredTracker[];
  }
}
