/**
 * MemoryTrackerStore: the reference `TrackerStore` (contract in src/tracker/tracker-store.ts).
 *
 * One process, no durability: `{ crossProcess: false, durable: false }`. A `transact` reads,
 * plans and commits synchronously inside the call, so per-group serialisation comes from
 * JavaScript's single thread and no plan ever runs twice. Rows are kept as frozen objects (no JSON
 * round trip on the hot path); applied eventIds are pruned lazily, when a group's map has grown
 * past twice its size at the last prune.
 */

import { TallyError } from "../../errors.ts";
import type { StoredTracker } from "../../tracker/stored-tracker.ts";
import {
  applyRowChanges,
  type TrackerStore,
  type TrackerStorePlan,
  type TrackerStoreView,
  type TransactOptions,
} from "../../tracker/tracker-store.ts";

interface Group {
  rows: readonly StoredTracker[];
  version: number;
  ids: Map<string, number>;
  pruneAt: number;
}

const EMPTY_SET: ReadonlySet<string> = new Set();
const EMPTY_ROWS: readonly StoredTracker[] = Object.freeze([]);

export class MemoryTrackerStore implements TrackerStore {
  readonly capabilities = Object.freeze({ crossProcess: false, durable: false });
  readonly #groups = new Map<string, Group>();
  #closed = false;

  transact<T>(
    groupId: string,
    opts: TransactOptions,
    plan: (view: TrackerStoreView) => TrackerStorePlan<T>,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(new TallyError("STORE_FAILED", "this MemoryTrackerStore is closed"));
    const group = this.#groups.get(groupId);
    const minApplied = opts.now - opts.eventIdTtlMs;
    let applied = EMPTY_SET;
    if (group !== undefined && opts.eventIds !== undefined && opts.eventIds.length > 0) {
      let found: Set<string> | undefined;
      for (const id of opts.eventIds) {
        const at = group.ids.get(id);
        if (at === undefined || at <= minApplied) continue;
        if (found === undefined) found = new Set();
        found.add(id);
      }
      if (found !== undefined) applied = found;
    }
    let out: TrackerStorePlan<T>;
    try {
      out = plan({ rows: group?.rows ?? EMPTY_ROWS, applied, version: group?.version ?? 0 });
    } catch (error) {
      return Promise.reject(error);
    }
    if (out.upsert.length > 0 || out.remove.length > 0 || out.record.length > 0) {
      const g = group ?? { rows: EMPTY_ROWS, version: 0, ids: new Map(), pruneAt: 64 };
      if (out.upsert.length > 0 || out.remove.length > 0) g.rows = applyRows(g.rows, out.upsert, out.remove);
      for (const id of out.record) g.ids.set(id, opts.now);
      if (g.ids.size >= g.pruneAt) {
        for (const [id, at] of g.ids) if (at <= minApplied) g.ids.delete(id);
        g.pruneAt = Math.max(64, g.ids.size * 2);
      }
      g.version++;
      if (g.rows.length === 0 && g.ids.size === 0) this.#groups.delete(groupId);
      else this.#groups.set(groupId, g);
    }
    return Promise.resolve(out.result);
  }

  read(groupId: string, names?: readonly string[]): Promise<StoredTracker[]> {
    if (this.#closed) return Promise.reject(new TallyError("STORE_FAILED", "this MemoryTrackerStore is closed"));
    const rows = this.#groups.get(groupId)?.rows ?? EMPTY_ROWS;
    if (names === undefined) return Promise.resolve([...rows]);
    const wanted = new Set(names);
    return Promise.resolve(rows.filter((r) => wanted.has(r.name)));
  }

  listExpired(now: number, limit: number): Promise<{ groupId: string; name: string }[]> {
    const found: { groupId: string; name: string }[] = [];
    for (const [groupId, group] of this.#groups) {
      for (const row of group.rows) {
        if (row.expiresAt !== null && row.expiresAt <= now) {
          found.push({ groupId, name: row.name });
          if (found.length >= limit) return Promise.resolve(found);
        }
      }
    }
    return Promise.resolve(found);
  }

  flush(): Promise<void> {
    this.#groups.clear();
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

function applyRows(
  rows: readonly StoredTracker[],
  upsert: readonly StoredTracker[],
  remove: readonly string[],
): readonly StoredTracker[] {
  for (const row of upsert) Object.freeze(row);
  return applyRowChanges(rows, upsert, remove);
}
