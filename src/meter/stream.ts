/**
 * The stream contract: where recorded meter events wait until a processor rolls them up.
 *
 * Guarantees every `MeterStream` gives (checked by `meterStreamContract` in `tally/testing`):
 *
 * - **append** resolves once the payloads are durable at the store's durability level, in the
 *   order given. It rejects (never resolves) when they were not accepted.
 * - **Claims.** `read` claims the rows it returns for `reader` until `ack`, `release` or the
 *   store's claim timeout, so a crashed reader's rows come back. A claimed row is not returned to
 *   another reader before its claim times out. Rows come oldest first, re-delivered rows (claims
 *   that timed out or were released) before never-delivered ones.
 * - **Units.** A *unit* is a group of entries that is always re-delivered together from its start
 *   (a file in `FileStream`, a single entry elsewhere). `seq` counts 1, 2, … within a unit and
 *   `id = unit + ":" + seq`. A batch holds a contiguous, ascending run of each unit. Processors keep
 *   one high-water marker per unit in the rollup store and skip entries with `seq <= marker`.
 * - **Payloads.** `payload` is the parsed JSON of the row, or `undefined` when the row could not be
 *   parsed; such a row is still delivered (and counted malformed) so it never blocks the queue.
 * - **ack** deletes (acknowledges) the batch. `ok` is true only when every entry of the batch is
 *   gone or consumed; false means the caller must `release` and try later (nothing was lost: the
 *   rollup markers skip what was already applied). `removedUnits` lists units that no longer exist
 *   in the stream: only their markers may be forgotten.
 * - **release** gives the batch's unacknowledged rows back at once. It is idempotent and ignores
 *   acknowledged entries. For a unit delivered in chunks it frees the unit's claim.
 * - **pendingCount** counts rows appended and not yet deleted (claimed rows included).
 * - No stream drops unprocessed rows by size or age.
 * - **close** flushes what the store buffered and releases what it opened; it never closes a
 *   client the caller passed in.
 */

import type { EventPayload } from "./payload.ts";

export interface StreamRef {
  namespace: string;
  name: string;
}

export interface StreamEntry {
  /** `unit + ":" + seq`, unique in the stream. */
  id: string;
  /** The redelivery unit (a file, or the entry itself). */
  unit: string;
  /** 1, 2, … within the unit. */
  seq: number;
  /** The parsed row; `undefined` when it was not valid JSON. */
  payload: unknown;
}

export interface StreamBatch {
  readonly ref: StreamRef;
  readonly entries: readonly StreamEntry[];
}

export interface AckResult {
  ok: boolean;
  removedUnits: string[];
}

export interface MeterStream {
  /** Appends payloads of the namespace (each carries its event name). Durable per the store's mode. */
  append(namespace: string, payloads: readonly EventPayload[]): Promise<void>;
  /** Claims up to `maxRows` rows for `reader`, oldest first, re-delivered rows first. */
  read(ref: StreamRef, options: { maxRows: number; reader: string }): Promise<StreamBatch>;
  /** Deletes the batch's rows; see the header for `ok` and `removedUnits`. */
  ack(batch: StreamBatch): Promise<AckResult>;
  /** Gives unacknowledged rows of the batch back at once; idempotent. */
  release(batch: StreamBatch): Promise<void>;
  /** Rows appended and not yet deleted, claimed ones included. */
  pendingCount(ref: StreamRef): Promise<number>;
  close(): Promise<void>;
}
