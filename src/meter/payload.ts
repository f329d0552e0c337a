/**
 * The recorded payload. EventMeter owns the top level (`name`, `status`, `startedAt`,
 * `durationMs`) and application data lives only under `params`, so a param named `status` never
 * collides. Keys are written in this order; `startedAt` is `toISOString()` of integer ms.
 */

export type Params = Record<string, unknown>;

export type EventStatus = "success" | "failure" | "skipped";

export interface EventPayload {
  readonly name: string;
  readonly status: EventStatus;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly params: Params;
}

export function isPlainObject(value: unknown): value is Params {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// The event serialises once (to reject BigInt and cycles before anything is written); streams that
// write JSON reuse that text instead of serialising twice on the hot path. The text rides on the
// payload as a non-enumerable symbol property: a WeakMap of millions of payloads made GC dominate.
const JSON_TEXT = Symbol("tally.payloadJson");

/** Builds a payload and its JSON; throws what `JSON.stringify` throws for the params. */
export function buildPayload(
  name: string,
  status: EventStatus,
  startedAtMs: number,
  durationMs: number,
  params: Params,
): EventPayload {
  const startedAt = new Date(startedAtMs).toISOString();
  const paramsJson = JSON.stringify(params);
  const payload: EventPayload = { name, status, startedAt, durationMs, params };
  Object.defineProperty(payload, JSON_TEXT, {
    value: `{"name":${JSON.stringify(name)},"status":"${status}","startedAt":"${startedAt}","durationMs":${durationMs},"params":${paramsJson}}`,
  });
  return payload;
}

/** The payload as one line of compact JSON (cached when the payload came from `buildPayload`). */
export function payloadJson(payload: EventPayload): string {
  return (payload as unknown as Record<symbol, string | undefined>)[JSON_TEXT] ?? JSON.stringify(payload);
}
