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

// The event serialises once (to reject BigInt and cycles before anything is written), and a
// stream that writes JSON lines reuses that text instead of serialising twice on the hot path.
// The text is remembered for the most recently built payload only: an event builds its payload
// and hands it to the stream in the same synchronous call, so one slot always hits there, costs
// no allocation and keeps nothing alive. (A symbol property made every payload a slow
// dictionary-mode object and a WeakMap made GC dominate at a few hundred thousand events/s.)
let lastPayload: EventPayload | null = null;
let lastJson = "";

// `toISOString` is ~40% of building a payload; events mostly start within the same second, so
// the "YYYY-MM-DDTHH:MM:SS." prefix of the last second is reused and only the milliseconds vary.
let isoSecond = Number.NaN;
let isoPrefix = "";
let lastName = "";
let lastNameJson = '""';
/** "000Z" … "999Z": the milliseconds part, joined to the prefix in one concatenation. */
const MS_SUFFIX = Array.from({ length: 1000 }, (_, ms) => `${String(ms).padStart(3, "0")}Z`);

/** `new Date(ms).toISOString()` for integer ms, with the second's prefix cached. */
export function isoOfMs(ms: number): string {
  const second = Math.floor(ms / 1000);
  const rest = ms - second * 1000;
  if (second !== isoSecond || !Number.isInteger(rest)) {
    const iso = new Date(ms).toISOString();
    if (!Number.isInteger(rest)) return iso;
    isoSecond = second;
    isoPrefix = iso.slice(0, iso.length - 4);
    return iso;
  }
  return isoPrefix + (MS_SUFFIX[rest] as string);
}

/** Builds a payload and its JSON; throws what `JSON.stringify` throws for the params. */
export function buildPayload(
  name: string,
  status: EventStatus,
  startedAtMs: number,
  durationMs: number,
  params: Params,
): EventPayload {
  const startedAt = isoOfMs(startedAtMs);
  // Only the params go through JSON.stringify: serialising the whole payload took twice as long
  // (it checks every key and string for escapes), and the name's JSON is cached.
  const paramsJson = JSON.stringify(params);
  if (name !== lastName) {
    lastNameJson = JSON.stringify(name);
    lastName = name;
  }
  const payload: EventPayload = { name, status, startedAt, durationMs, params };
  lastJson = `{"name":${lastNameJson},"status":"${status}","startedAt":"${startedAt}","durationMs":${durationMs},"params":${paramsJson}}`;
  lastPayload = payload;
  return payload;
}

/** The payload as one line of compact JSON plus "\n" (cached for the payload built last). */
export function payloadLine(payload: EventPayload): string {
  return `${payloadJson(payload)}\n`;
}

/** The payload as one line of compact JSON (cached for the payload built last). */
export function payloadJson(payload: EventPayload): string {
  return payload === lastPayload ? lastJson : JSON.stringify(payload);
}
