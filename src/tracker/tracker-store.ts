/**
 * The one storage contract of the tracker (spec §4.1).
 *
 * Guarantees every implementation gives:
 * - **Atomic per group.** `transact` reads the group's rows (all of them, active and completed,
 *   in `seq` order) and the already-applied subset of `eventIds` (ids applied less than
 *   `eventIdTtlMs` before `now`), then calls `plan` **synchronously**, then commits the upserts,
 *   removals and recorded ids atomically against every other `transact` on the same group, in any
 *   process. Otherwise it commits nothing and rejects with `STORE_FAILED` (`cause` attached).
 * - **`plan` may run more than once** (optimistic retry), so it must be free of side effects.
 * - **Nothing to write, nothing written.** A plan with no upserts, removals or ids commits nothing
 *   and does not bump the group version.
 * - **Versions.** Every commit that writes bumps the group `version` by one; the view shows it.
 * - **Ids.** Recorded ids carry `now` as their apply time and are pruned once older than
 *   `eventIdTtlMs` (lazily; an id past its TTL is never reported as applied).
 * - **Connections.** `close()` releases what the store created, never a client the user passed in.
 * - Rows are stored as given (versioned JSON, §4.2): a store never interprets or drops a row it
 *   cannot read; the manager fails loudly instead.
 */

import type { StoredTracker } from "./stored-tracker.ts";

export interface TrackerStoreView {
  rows: readonly StoredTracker[];
  applied: ReadonlySet<string>;
  version: number;
}

export interface TrackerStorePlan<T> {
  upsert: StoredTracker[];
  remove: string[];
  record: string[];
  result: T;
}

export interface TransactOptions {
  now: number;
  eventIds?: readonly string[];
  eventIdTtlMs: number;
}

export interface TrackerStore {
  readonly capabilities: { readonly crossProcess: boolean; readonly durable: boolean };
  transact<T>(
    groupId: string,
    opts: TransactOptions,
    plan: (view: TrackerStoreView) => TrackerStorePlan<T>,
  ): Promise<T>;
  /** The group's rows in seq order (optionally only the named ones); no lock taken. */
  read(groupId: string, names?: readonly string[]): Promise<StoredTracker[]>;
  /** Up to `limit` trackers with `expiresAt <= now`, in any order. */
  listExpired(now: number, limit: number): Promise<{ groupId: string; name: string }[]>;
  /** Deletes every tracker and remembered id in this store's namespace (only there). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The group's rows after a commit: upserts replace by name or append, removals drop, seq order.
 * Stores that cache a group's rows by version use it to keep the cache without re-reading.
 */
export function applyRowChanges(
  rows: readonly StoredTracker[],
  upsert: readonly StoredTracker[],
  remove: readonly string[],
): StoredTracker[] {
  let next = rows.slice();
  let appended = false;
  for (const row of upsert) {
    let i = 0;
    while (i < next.length && (next[i] as StoredTracker).name !== row.name) i++;
    if (i < next.length) next[i] = row;
    else {
      next.push(row);
      appended = true;
    }
  }
  if (remove.length > 0) {
    const gone = new Set(remove);
    next = next.filter((r) => !gone.has(r.name));
  }
  if (appended) next.sort((a, b) => a.seq - b.seq);
  return next;
}
