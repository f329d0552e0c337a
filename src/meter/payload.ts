/**
 * The recorded payload. EventMeter owns the top level (`name`, `status`, `startedAt`,
 * `durationMs`) and application data lives only under `params`, so a param named `status` never
 * collides. Keys are written in this order; `startedAt` is `toISOString()` of integer ms.
 */

import { flatParamsBound, lineBound } from "./payload-line.ts";

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

// The event checks its params once (to reject BigInt and cycles before anything is written), and
// a stream that writes JSON lines reuses that work instead of serialising twice on the hot path.
// It is remembered for the most recently built payload only: an event builds its payload and hands
// it to the stream in the same synchronous call, so one slot always hits there, costs no
// allocation and keeps nothing alive. (A symbol property made every payload a slow
// dictionary-mode object and a WeakMap made GC dominate at a few hundred thousand events/s.)
// Flat params (primitive values only, the common case) are not serialised here at all: the file
// stream writes their bytes straight into its batch buffer (`payload-line.ts`).
let lastPayload: EventPayload | null = null;
/** The last payload's JSON when its params are not flat, else null. */
let lastJson: string | null = null;
/** The last payload's line bound in bytes when its params are flat. */
let lastBound = -1;

// `toISOString` is ~40% of building a payload; events mostly start within the same second, so
// the "YYYY-MM-DDTHH:MM:SS." prefix of the last second is reused and only the milliseconds vary.
// Hundreds of events start within one millisecond at full speed: the last string is reused whole.
let isoSecond = Number.NaN;
let isoPrefix = "";
let isoMs = Number.NaN;
let isoLast = "";
let lastName = "";
let lastNameJson = '""';
/** "000Z" … "999Z": the milliseconds part, joined to the prefix in one concatenation. */
const MS_SUFFIX = Array.from({ length: 1000 }, (_, ms) => `${String(ms).padStart(3, "0")}Z`);

/** `new Date(ms).toISOString()` for integer ms, with the second's prefix cached. */
export function isoOfMs(ms: number): string {
  if (ms === isoMs) return isoLast;
  const second = Math.floor(ms / 1000);
  const rest = ms - second * 1000;
  if (!Number.isInteger(rest)) return new Date(ms).toISOString();
  if (second !== isoSecond) {
    const iso = new Date(ms).toISOString();
    isoSecond = second;
    isoPrefix = iso.slice(0, iso.length - 4);
    isoMs = ms;
    isoLast = iso;
    return iso;
  }
  isoMs = ms;
  isoLast = isoPrefix + (MS_SUFFIX[rest] as string);
  return isoLast;
}

/** Builds a payload; throws what `JSON.stringify` throws for the params. */
export function buildPayload(
  name: string,
  status: EventStatus,
  startedAtMs: number,
  durationMs: number,
  params: Params,
): EventPayload {
  const startedAt = isoOfMs(startedAtMs);
  const payload: EventPayload = { name, status, startedAt, durationMs, params };
  const paramsBound = flatParamsBound(params);
  if (paramsBound >= 0) {
    lastJson = null;
    lastBound = lineBound(payload, paramsBound);
  } else {
    // Only the params go through JSON.stringify: serialising the whole payload took twice as long
    // (it checks every key and string for escapes), and the name's JSON is cached.
    const paramsJson = JSON.stringify(params);
    if (name !== lastName) {
      lastNameJson = JSON.stringify(name);
      lastName = name;
    }
    lastJson = `{"name":${lastNameJson},"status":"${status}","startedAt":"${startedAt}","durationMs":${durationMs},"params":${paramsJson}}`;
    lastBound = -1;
  }
  lastPayload = payload;
  return payload;
}

/**
 * When `payload` is the one built last and its params are flat: an upper bound of its line's
 * UTF-8 bytes, to write it with `writePayloadLine`. Otherwise -1 (use `payloadJson`).
 */
export function flatLineBound(payload: EventPayload): number {
  return payload === lastPayload ? lastBound : -1;
}

/** The payload as one line of compact JSON plus "\n". */
export function payloadLine(payload: EventPayload): string {
  return `${payloadJson(payload)}\n`;
}

/** The payload as one line of compact JSON (cached for the payload built last). */
export function payloadJson(payload: EventPayload): string {
  return payload === lastPayload && lastJson !== null ? lastJson : JSON.stringify(payload);
}
