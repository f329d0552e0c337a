/**
 * A payload's JSON line written straight into a byte buffer, for the recording hot path.
 *
 * Contract: for params whose values are all JSON primitives (strings, numbers, booleans, `null`;
 * `undefined` and symbols are left out as `JSON.stringify` leaves them out), the bytes written are
 * exactly the UTF-8 of `JSON.stringify(payload) + "\n"`: same key order, same number text, and
 * strings escaped as `JSON.stringify` escapes them (`\"`, `\\`, `\b \t \n \f \r`, other control
 * characters and lone surrogates as lowercase `\u00xx`/`\udxxx`, everything else raw UTF-8).
 * Anything else (nested objects, arrays, functions, BigInt) is not *flat*: callers serialise those
 * with `JSON.stringify`, which also throws for BigInt and cycles.
 *
 * Why: building the line as a string cost a `JSON.stringify` of the params, ~10 string
 * concatenations and a flattening UTF-8 write per event, and the garbage made the scavenger run
 * more often while thousands of events were in flight (~0.8 KB allocated per event).
 */

import type { EventPayload, Params } from "./payload.ts";

// `for … in` walks the object's enum cache: about 3x faster than `Object.keys` and no array per
// event, own enumerable string keys in the same order. It also lists inherited enumerable keys,
// which JSON.stringify leaves out: the bound pass checks each key (~70 instructions a key) and
// remembers for which object none was inherited, so the write pass skips the check for it.
const hasOwn = Object.prototype.hasOwnProperty;
let ownOnly: object | null = null;

/**
 * An upper bound of the UTF-8 bytes `writeParams` writes for `params`, or -1 when a value is not
 * flat. A code unit takes at most 6 bytes (`\u001f`); a number at most 25 characters.
 */
export function flatParamsBound(params: Params): number {
  // Each `typeof` is compared at once: TurboFan folds that into a type check, while a `typeof`
  // kept in a variable or a `switch` calls a builtin.
  // A `toJSON` (own or inherited, as JSON.stringify looks it up) replaces the whole object.
  if ((params as { toJSON?: unknown }).toJSON !== undefined) return -1;
  let bound = 2;
  let inherited = false;
  for (const key in params) {
    if (!hasOwn.call(params, key)) {
      inherited = true;
      continue;
    }
    const value = params[key];
    if (typeof value === "string") bound += key.length * 6 + value.length * 6 + 6;
    else if (typeof value === "number") bound += key.length * 6 + 29;
    else if (typeof value === "boolean") bound += key.length * 6 + 9;
    else if (value === null) bound += key.length * 6 + 8;
    // BigInt throws in JSON.stringify and objects and functions may carry toJSON: leave them to it.
    else if (typeof value !== "undefined" && typeof value !== "symbol") return -1;
  }
  ownOnly = inherited ? null : params;
  return bound;
}

/** Writes the flat `params` as a JSON object at `at`; returns the end offset. */
export function writeParams(params: Params, buf: Uint8Array, at: number): number {
  buf[at++] = 0x7b; // {
  let first = true;
  const checkOwn = params !== ownOnly;
  for (const key in params) {
    if (checkOwn && !hasOwn.call(params, key)) continue;
    const value = params[key];
    if (typeof value === "undefined" || typeof value === "symbol") continue;
    if (!first) buf[at++] = 0x2c; // ,
    first = false;
    const name = keyOf(key);
    buf.set(name.bytes, at);
    at += name.length;
    if (typeof value === "string") at = writeString(value, buf, at);
    else if (typeof value === "number") at = writeNumber(value, buf, at);
    else if (value === true) at = writeAscii("true", buf, at);
    else if (value === false) at = writeAscii("false", buf, at);
    else at = writeAscii("null", buf, at);
  }
  buf[at++] = 0x7d; // }
  return at;
}

/** Writes an ASCII string as is (no quotes, no escapes). */
export function writeAscii(text: string, buf: Uint8Array, at: number): number {
  for (let i = 0; i < text.length; i++) buf[at++] = text.charCodeAt(i);
  return at;
}

/** Number text as `JSON.stringify` gives it (`null` when not finite); integers without a string. */
export function writeNumber(value: number, buf: Uint8Array, at: number): number {
  let n = value;
  if (n < 0) {
    if (!(n > -0x80000000 && (n | 0) === n)) return writeAscii(numberText(value), buf, at);
    buf[at++] = 0x2d; // -
    n = -n;
  } else if (!(n <= 0x7fffffff && (n | 0) === n)) {
    return writeAscii(numberText(value), buf, at);
  }
  // Int32 arithmetic from here (`| 0`): a double `%` is a call to fmod. -0 writes "0", as JSON does.
  let digits = 1;
  for (let rest = n; rest >= 10; rest = (rest / 10) | 0) digits++;
  at += digits;
  for (let i = at - 1; i >= at - digits; i--) {
    const next = (n / 10) | 0;
    buf[i] = 0x30 + n - next * 10;
    n = next;
  }
  return at;
}

const numberText = (value: number): string => (Number.isFinite(value) ? String(value) : "null");

const HEX = "0123456789abcdef";

function writeUnicodeEscape(code: number, buf: Uint8Array, at: number): number {
  buf[at++] = 0x5c; // \
  buf[at++] = 0x75; // u
  buf[at++] = HEX.charCodeAt(code >> 12);
  buf[at++] = HEX.charCodeAt((code >> 8) & 15);
  buf[at++] = HEX.charCodeAt((code >> 4) & 15);
  buf[at++] = HEX.charCodeAt(code & 15);
  return at;
}

/** The short escapes JSON.stringify uses for control characters (0 = use `\u00xx`). */
const SHORT_ESCAPE = new Uint8Array(32);
SHORT_ESCAPE[8] = 0x62; // \b
SHORT_ESCAPE[9] = 0x74; // \t
SHORT_ESCAPE[10] = 0x6e; // \n
SHORT_ESCAPE[12] = 0x66; // \f
SHORT_ESCAPE[13] = 0x72; // \r

/** A JSON string literal, escaped as `JSON.stringify` escapes it, as UTF-8. */
export function writeString(text: string, buf: Uint8Array, at: number): number {
  buf[at++] = 0x22; // "
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) {
      if (code >= 0x20 && code !== 0x22 && code !== 0x5c) {
        buf[at++] = code;
      } else if (code === 0x22 || code === 0x5c) {
        buf[at++] = 0x5c;
        buf[at++] = code;
      } else {
        const short = SHORT_ESCAPE[code] as number;
        if (short !== 0) {
          buf[at++] = 0x5c;
          buf[at++] = short;
        } else {
          at = writeUnicodeEscape(code, buf, at);
        }
      }
    } else if (code < 0x800) {
      buf[at++] = 0xc0 | (code >> 6);
      buf[at++] = 0x80 | (code & 0x3f);
    } else if (code < 0xd800 || code > 0xdfff) {
      buf[at++] = 0xe0 | (code >> 12);
      buf[at++] = 0x80 | ((code >> 6) & 0x3f);
      buf[at++] = 0x80 | (code & 0x3f);
    } else {
      const next = i + 1 < length ? text.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const point = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        buf[at++] = 0xf0 | (point >> 18);
        buf[at++] = 0x80 | ((point >> 12) & 0x3f);
        buf[at++] = 0x80 | ((point >> 6) & 0x3f);
        buf[at++] = 0x80 | (point & 0x3f);
        i++;
      } else {
        // A lone surrogate: well-formed JSON.stringify escapes it rather than writing invalid UTF-8.
        at = writeUnicodeEscape(code, buf, at);
      }
    }
  }
  buf[at++] = 0x22;
  return at;
}

// Copying bytes in JS costs ~30 instructions a byte (string and typed-array checks per element),
// `Uint8Array#set` ~160 per call: so the parts that repeat from event to event are kept as bytes
// and copied with one `set` each. The prefix `{"name":…,"status":…,"startedAt":"…","durationMs":`
// changes with the name, status and millisecond: hundreds of events share one at full speed
// (`isoOfMs` hands out the same string for them, so an identity check hits), one slot per status.
// A piece carries its length as a field: `.length` of a typed array fetched from a Map compiled
// to a generic property load.
interface Piece {
  readonly bytes: Uint8Array;
  readonly length: number;
}

const piece = (text: string): Piece => {
  const bytes = new TextEncoder().encode(text);
  return { bytes, length: bytes.length };
};

const PARAMS = piece(',"params":');

interface Prefix {
  name: string;
  startedAt: string;
  piece: Piece;
}

const prefixes: Array<Prefix | null> = [null, null, null];

function prefixOf(payload: EventPayload): Piece {
  const status = payload.status;
  const slot = status === "success" ? 0 : status === "failure" ? 1 : status === "skipped" ? 2 : -1;
  const cached = slot >= 0 ? prefixes[slot] : null;
  if (cached != null && cached.startedAt === payload.startedAt && cached.name === payload.name) return cached.piece;
  const made = piece(
    `{"name":${JSON.stringify(payload.name)},"status":${JSON.stringify(status)},"startedAt":${JSON.stringify(payload.startedAt)},"durationMs":`,
  );
  if (slot >= 0) prefixes[slot] = { name: payload.name, startedAt: payload.startedAt, piece: made };
  return made;
}

// Param names repeat too: `"name":` as bytes per name. Bounded so that a process writing ever new
// names keeps a small table: it is dropped when full and refills with the names in use.
const KEY_CACHE_LIMIT = 256;
const keyPieces = new Map<string, Piece>();

function keyOf(key: string): Piece {
  let cached = keyPieces.get(key);
  if (cached === undefined) {
    cached = piece(`${JSON.stringify(key)}:`);
    if (keyPieces.size >= KEY_CACHE_LIMIT) keyPieces.clear();
    keyPieces.set(key, cached);
  }
  return cached;
}

/** An upper bound of the line's bytes for a payload with flat params of `paramsBound` bytes. */
export function lineBound(payload: EventPayload, paramsBound: number): number {
  return 80 + (payload.name.length + payload.status.length + payload.startedAt.length) * 6 + paramsBound;
}

/**
 * Writes `JSON.stringify(payload) + "\n"` for a payload with flat params; returns the end offset.
 * The buffer must have `lineBound` bytes of room from `at`.
 */
export function writePayloadLine(payload: EventPayload, buf: Uint8Array, at: number): number {
  const prefix = prefixOf(payload);
  buf.set(prefix.bytes, at);
  at = writeNumber(payload.durationMs, buf, at + prefix.length);
  buf.set(PARAMS.bytes, at);
  at = writeParams(payload.params, buf, at + PARAMS.length);
  buf[at++] = 0x7d; // }
  buf[at++] = 0x0a; // \n
  return at;
}
