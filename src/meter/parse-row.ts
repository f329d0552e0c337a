/**
 * Strict parsing of stream rows on read. A row is malformed when it is not a JSON object, its
 * `name` differs from the processed name, `status` is not one of the three, `startedAt` is not
 * strict RFC 3339, `durationMs` is present but not a safe integer (`12.7`, `"12"`), or `params`
 * is present but not an object. A negative duration clamps to 0; an absent one counts the event
 * without a duration sample. Malformed rows add nothing and never block the queue.
 */

import type { EventStatus, Params } from "./payload.ts";
import type { StreamEntry } from "./stream.ts";
import { parseRfc3339 } from "./time-input.ts";

export interface ParsedEvent {
  status: EventStatus;
  startedAt: number;
  /** -1 when the row had no duration. */
  durationMs: number;
  params: Params;
}

const EMPTY: Params = Object.freeze({}) as Params;

export function parseRow(payload: unknown, name: string): ParsedEvent | null {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return null;
  const row = payload as Record<string, unknown>;
  if (row.name !== name) return null;
  const status = row.status;
  if (status !== "success" && status !== "failure" && status !== "skipped") return null;
  const startedAtText = row.startedAt;
  if (typeof startedAtText !== "string") return null;
  const startedAt = parseRfc3339(startedAtText);
  if (startedAt === null) return null;
  let durationMs = -1;
  const duration = row.durationMs;
  if (duration !== undefined) {
    if (typeof duration !== "number" || !Number.isSafeInteger(duration)) return null;
    durationMs = Math.max(duration, 0);
  }
  let params = EMPTY;
  const rawParams = row.params;
  if (rawParams !== undefined) {
    if (typeof rawParams !== "object" || rawParams === null || Array.isArray(rawParams)) return null;
    params = rawParams as Params;
  }
  return { status, startedAt, durationMs, params };
}

/**
 * Where events go as they are read: `add` takes a parsed row; `start`, `param`... `end` take one
 * read piece by piece (an event counts only once `end` is called; a `start` without its `end` is
 * overwritten by the next event). `InternedBatch` is one.
 */
export interface EventSink {
  add(event: ParsedEvent): void;
  start(status: EventStatus, startedAt: number, durationMs: number): void;
  param(key: string, value: string | number | boolean | null): void;
  end(): void;
}

/**
 * A stream entry that reads its own row into a sink, with exactly the result of
 * `parseRow(entry.payload, name)` but cheaper (`FileStream` reads its lines' bytes without
 * building the payload object).
 */
export interface EventSource {
  /** Adds the row to `sink`; false when it is malformed (then nothing was added). */
  addEventTo(sink: EventSink, name: string): boolean;
}

/** Adds the entry's row (parsed for `name`) to `sink`; false when it is malformed. */
export function addEntry(sink: EventSink, entry: StreamEntry, name: string): boolean {
  const source = entry as StreamEntry & Partial<EventSource>;
  if (typeof source.addEventTo === "function") return source.addEventTo(sink, name);
  const event = parseRow(entry.payload, name);
  if (event === null) return false;
  sink.add(event);
  return true;
}
