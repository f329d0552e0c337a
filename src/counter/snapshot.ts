/**
 * `EventSnapshot`: one event's full state as plain JSON data. It is what `exportAll` returns, what
 * `JsonFormat` writes and what `BinaryFormat` encodes field for field, so snapshots travel between
 * stores, devices and storage formats unchanged (`JSON.stringify(Object.fromEntries(map))` and back).
 *
 * - `units[u].start` is the start instant of bucket 0 of unit u under `alignment` and `timeZone`;
 *   bucket i holds the period ordinal(start) - i.
 * - `replicas[r].counts[u][i]` is replica r's count in bucket i of `units[u]`, newest first. Writers
 *   may drop trailing zeros from a row; readers treat missing buckets as 0.
 * - `firstSeenAt` / `lastSeenAt` are the exact first and last recorded instants (null: never).
 * - Pending reservations are never part of a snapshot.
 */

import type { Alignment } from "../time/calendar.ts";
import type { TimeUnit } from "../time/units.ts";

export interface EventSnapshot {
  format: "tally.counter";
  version: 1;
  alignment: Alignment;
  timeZone: string;
  /** The clock instant the snapshot was taken. */
  savedAt: number;
  firstSeenAt: number | null;
  lastSeenAt: number | null;
  units: Array<{ unit: TimeUnit; bucketCount: number; start: number }>;
  replicas: Array<{ replicaId: string; counts: number[][] }>;
}

export type SnapshotSet =
  | ReadonlyMap<string, EventSnapshot>
  | Iterable<readonly [string, EventSnapshot]>
  | Record<string, EventSnapshot>;
