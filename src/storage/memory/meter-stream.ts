/**
 * `MemoryStream`: the reference `MeterStream` (see `src/meter/stream.ts` for the guarantees). Rows
 * live per (namespace, name) in append order; each row is its own unit `<8-hex instance id>-<n>`
 * with seq 1, the instance prefix keeping markers of two memory streams apart when the rollups
 * outlive them. Claims time out after `claimTimeout` by the injected clock.
 */

import { randomBytes } from "node:crypto";
import type { EventPayload } from "../../meter/payload.ts";
import type { AckResult, MeterStream, StreamBatch, StreamEntry, StreamRef } from "../../meter/stream.ts";
import { type Clock, systemClock } from "../../time/clock.ts";
import { type Duration, toMs } from "../../time/duration.ts";

export interface MemoryStreamOptions {
  /** @default systemClock */
  clock?: Clock;
  /** How long a read's claim lasts before the rows are re-delivered. @default "30s" */
  claimTimeout?: Duration;
}

interface Row {
  entry: StreamEntry;
  claim: number; // 0 = unclaimed, else the claiming batch's token
  claimedUntil: number;
}

const refKey = (namespace: string, name: string): string => `${namespace}\u0000${name}`;

export class MemoryStream implements MeterStream {
  readonly #clock: Clock;
  readonly #claimTimeout: number;
  readonly #prefix = randomBytes(4).toString("hex");
  readonly #queues = new Map<string, Map<string, Row>>();
  readonly #tokens = new WeakMap<StreamBatch, number>();
  #next = 0;
  #nextToken = 0;

  constructor(options: MemoryStreamOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#claimTimeout = toMs(options.claimTimeout ?? "30s", "MemoryStream claimTimeout");
  }

  async append(namespace: string, payloads: readonly EventPayload[]): Promise<void> {
    for (const payload of payloads) {
      const name = typeof payload?.name === "string" ? payload.name : "";
      const key = refKey(namespace, name);
      let queue = this.#queues.get(key);
      if (queue === undefined) {
        queue = new Map();
        this.#queues.set(key, queue);
      }
      const unit = `${this.#prefix}-${++this.#next}`;
      const id = `${unit}:1`;
      queue.set(id, { entry: { id, unit, seq: 1, payload }, claim: 0, claimedUntil: 0 });
    }
  }

  async read(ref: StreamRef, options: { maxRows: number; reader: string }): Promise<StreamBatch> {
    const queue = this.#queues.get(refKey(ref.namespace, ref.name));
    const entries: StreamEntry[] = [];
    const batch: StreamBatch = { ref: { namespace: ref.namespace, name: ref.name }, entries };
    if (queue === undefined || options.maxRows <= 0) return batch;
    const now = this.#clock.now();
    const token = ++this.#nextToken;
    for (const row of queue.values()) {
      if (entries.length >= options.maxRows) break;
      if (row.claim !== 0 && row.claimedUntil > now) continue;
      row.claim = token;
      row.claimedUntil = now + this.#claimTimeout;
      entries.push(row.entry);
    }
    this.#tokens.set(batch, token);
    return batch;
  }

  async ack(batch: StreamBatch): Promise<AckResult> {
    const queue = this.#queues.get(refKey(batch.ref.namespace, batch.ref.name));
    const removedUnits: string[] = [];
    for (const entry of batch.entries) {
      queue?.delete(entry.id);
      removedUnits.push(entry.unit);
    }
    return { ok: true, removedUnits };
  }

  async release(batch: StreamBatch): Promise<void> {
    const token = this.#tokens.get(batch);
    const queue = this.#queues.get(refKey(batch.ref.namespace, batch.ref.name));
    if (token === undefined || queue === undefined) return;
    for (const entry of batch.entries) {
      const row = queue.get(entry.id);
      if (row !== undefined && row.claim === token) {
        row.claim = 0;
        row.claimedUntil = 0;
      }
    }
  }

  async pendingCount(ref: StreamRef): Promise<number> {
    return this.#queues.get(refKey(ref.namespace, ref.name))?.size ?? 0;
  }

  async close(): Promise<void> {}
}
