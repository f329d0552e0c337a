/**
 * Strict parsing of stream rows on read. A row is malformed when it is not a JSON object, its
 * `name` differs from the processed name, `status` is not one of the three, `startedAt` is not
 * strict RFC 3339, `durationMs` is present but not a safe integer (`12.7`, `"12"`), or `params`
 * is present but not an object. A negative duration clamps to 0; an absent one counts the event
 * without a duration sample. Malformed rows add nothing and never block the queue.
 */

import type { EventStatus, Params } from "./payload.ts";
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
