/**
 * A log line read straight into an `EventSink` (the processor's `InternedBatch`), for the lines
 * `payloadLine` writes: `{"name":…,"status":…,"startedAt":"<toISOString()>","durationMs":<integer>,
 * "params":{…}}` with flat params (strings without escapes, integers, `true`, `false`, `null`) in
 * an all-ASCII file.
 *
 * Contract: for a line it accepts, the sink gets what `parseRow(JSON.parse(line), name)` gives
 * (status, start, clamped duration, then each param pair in order, so a repeated key's last value
 * wins as in JSON.parse); for anything else (another name or key order, an impossible date,
 * escapes, fractions or exponents, nested values, `__proto__`, non-ASCII) it returns false without
 * ending an event and the caller takes the slow path, which also decides what is malformed. It
 * never guesses: every byte it accepts is checked.
 *
 * Why: `JSON.parse` of a line made a string of the line, a string per key and value and two
 * objects, `parseRow` re-read the ISO text and the batch then looked each param up by name:
 * ~1.5 µs per event, the largest part of the processor's main thread. Here keys and string values
 * are the strings the same position held on the last line, or come from a small table of strings
 * already made (either compared byte by byte), numbers and the start time are read from the bytes,
 * and nothing is allocated per line: ~0.5 µs.
 */

import type { EventSink, ParsedEvent } from "../../meter/parse-row.ts";
import { isoDigitsMs } from "../../meter/time-input.ts";
import { isWs } from "./meter-file-json-check.ts";

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const CLOSE = 0x7d;

// `{"name":<name json>,"status":"` for the last name asked for (null: the name is not ASCII).
let headName: string | null = null;
let head: Uint8Array | null = null;
const AFTER_STATUS = ascii('","startedAt":"');
const AFTER_START = ascii('","durationMs":');
const PARAMS = ascii('"params":{');

function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function headOf(name: string): Uint8Array | null {
  if (name !== headName) {
    const text = `{"name":${JSON.stringify(name)},"status":"`;
    headName = name;
    head = /^[\x20-\x7e]*$/.test(text) ? ascii(text) : null;
  }
  return head;
}

function matches(buf: Uint8Array, at: number, end: number, bytes: Uint8Array): boolean {
  if (at + bytes.length > end) return false;
  for (let i = 0; i < bytes.length; i++) if (buf[at + i] !== bytes[i]) return false;
  return true;
}

// Strings seen before, by a hash of their bytes: keys and low-cardinality values repeat on almost
// every line, so most lookups make no string. A slot holds the last string that hashed there.
const SLOTS = 4096;
const table: Array<string | undefined> = new Array(SLOTS);

// The hash of the bytes `stringEnd` scanned last (module state: no object per string).
let scannedHash = 0;

/**
 * End of the string whose opening quote is at `at - 1`, or -1 when it holds an escape, a control
 * or a non-ASCII byte; hashes its bytes on the way for `textOf`.
 */
function stringEnd(buf: Buffer, at: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = at; i < end; i++) {
    const c = buf[i] as number;
    if (c === QUOTE) {
      scannedHash = h;
      return i;
    }
    if (c === BACKSLASH || c < 0x20 || c > 0x7f) return -1;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return -1;
}

/** The string of bytes [from, to) that `stringEnd` just scanned. */
function textOf(buf: Buffer, from: number, to: number): string {
  const slot = scannedHash & (SLOTS - 1);
  const known = table[slot];
  if (known !== undefined && known.length === to - from) {
    let same = true;
    for (let i = 0; i < known.length && same; i++) same = known.charCodeAt(i) === buf[from + i];
    if (same) return known;
  }
  const text = buf.toString("latin1", from, to);
  table[slot] = text;
  return text;
}

// The key and string value last read at each position of the params: lines repeat their keys in
// the same order and often their values, so a guess confirmed byte by byte skips the hashing.
const lastKeys: Array<string | undefined> = [];
const lastValues: Array<string | undefined> = [];
const GUESSED = 64;

/**
 * Position of the closing quote when the string starting at `at` (after its opening quote) is
 * exactly `guess`, else -1.
 */
function guessEnd(buf: Buffer, at: number, end: number, guess: string | undefined): number {
  if (guess === undefined) return -1;
  const to = at + guess.length;
  if (to >= end || buf[to] !== QUOTE) return -1;
  for (let i = 0; i < guess.length; i++) if (buf[at + i] !== guess.charCodeAt(i)) return -1;
  return to;
}

// A parsed number's end, set by `integerAt` (module state: no object per number).
let numberEnd = 0;

/**
 * The JSON integer at `at` (`-?(0|[1-9][0-9]*)`, at most 15 digits, so exact), or NaN when the
 * number has a fraction, an exponent or more digits, or there is none.
 */
function integerAt(buf: Uint8Array, at: number, end: number): number {
  let i = at;
  const negative = buf[i] === 0x2d;
  if (negative) i++;
  const first = i;
  let value = 0;
  while (i < end) {
    const d = (buf[i] as number) - 48;
    if (d < 0 || d > 9) break;
    value = value * 10 + d;
    i++;
  }
  const digits = i - first;
  if (digits === 0 || digits > 15 || (digits > 1 && buf[first] === 48)) return Number.NaN;
  const next = buf[i];
  if (next === 0x2e || next === 0x65 || next === 0x45) return Number.NaN;
  numberEnd = i;
  return negative ? -value : value;
}

function two(buf: Uint8Array, at: number): number {
  const a = (buf[at] as number) - 48;
  const b = (buf[at + 1] as number) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * Epoch ms of `YYYY-MM-DDTHH:MM:SS.sssZ` at `at`; null for an impossible date or time (as
 * `parseRfc3339` says), undefined when the text has another shape.
 */
function isoAt(buf: Uint8Array, at: number): number | null | undefined {
  if (
    buf[at + 4] !== 0x2d ||
    buf[at + 7] !== 0x2d ||
    buf[at + 10] !== 0x54 ||
    buf[at + 13] !== COLON ||
    buf[at + 16] !== COLON ||
    buf[at + 19] !== 0x2e ||
    buf[at + 23] !== 0x5a
  ) {
    return undefined;
  }
  return isoDigitsMs(
    two(buf, at),
    two(buf, at + 2),
    two(buf, at + 5),
    two(buf, at + 8),
    two(buf, at + 11),
    two(buf, at + 14),
    two(buf, at + 17),
    two(buf, at + 20),
    (buf[at + 22] as number) - 48,
  );
}

/** Status by the first letter of the word at `at` and its closing quote. */
function statusAt(buf: Uint8Array, at: number): ParsedEvent["status"] | null {
  const c = buf[at];
  const word = c === 0x73 ? (buf[at + 1] === 0x75 ? "success" : "skipped") : c === 0x66 ? "failure" : null;
  if (word === null || buf[at + 7] !== QUOTE) return null;
  for (let i = 1; i < 7; i++) if (buf[at + i] !== word.charCodeAt(i)) return null;
  return word;
}

/**
 * Reads the ASCII line in `buf[start, end)` into `sink` as `parseRow` would read it for `name`
 * (`start`, a `param` per pair, `end`); false, with `end` not called, when the line is not in the
 * shape read here (the caller then parses it the slow way).
 */
export function readEventLine(buf: Buffer, start: number, end: number, name: string, sink: EventSink): boolean {
  const prefix = headOf(name);
  if (prefix === null || !matches(buf, start, end, prefix)) return false;
  let at = start + prefix.length;
  const status = statusAt(buf, at);
  if (status === null) return false;
  at += 7;
  if (!matches(buf, at, end, AFTER_STATUS)) return false;
  at += AFTER_STATUS.length;
  if (at + 24 > end) return false;
  const startedAt = isoAt(buf, at);
  // An impossible date is malformed either way; the slow path says so.
  if (startedAt === undefined || startedAt === null) return false;
  at += 24;
  if (!matches(buf, at, end, AFTER_START)) return false;
  at += AFTER_START.length;
  const duration = integerAt(buf, at, end);
  if (Number.isNaN(duration)) return false;
  at = numberEnd;
  if (buf[at] !== COMMA) return false;
  at++;
  if (!matches(buf, at, end, PARAMS)) return false;
  at += PARAMS.length;
  // parseRow clamps a negative duration to 0 (JSON.parse reads "-0" as -0, clamped to 0 too).
  sink.start(status, startedAt, Math.max(duration, 0));
  if (buf[at] === CLOSE) at++;
  else {
    for (let p = 0; ; p++) {
      if (buf[at] !== QUOTE) return false;
      let key = lastKeys[p];
      let keyEnd = guessEnd(buf, at + 1, end, key);
      if (keyEnd < 0 || key === undefined) {
        keyEnd = stringEnd(buf, at + 1, end);
        if (keyEnd < 0) return false;
        key = textOf(buf, at + 1, keyEnd);
        if (p < GUESSED) lastKeys[p] = key;
      }
      // An assignment to "__proto__" would set the prototype; JSON.parse makes an own property.
      if (key === "__proto__" || buf[keyEnd + 1] !== COLON) return false;
      at = keyEnd + 2;
      const c = buf[at] as number;
      if (c === QUOTE) {
        let value = lastValues[p];
        let valueEnd = guessEnd(buf, at + 1, end, value);
        if (valueEnd < 0) {
          valueEnd = stringEnd(buf, at + 1, end);
          if (valueEnd < 0) return false;
          value = textOf(buf, at + 1, valueEnd);
          if (p < GUESSED) lastValues[p] = value;
        }
        sink.param(key, value as string);
        at = valueEnd + 1;
      } else if (c === 0x74 && buf[at + 1] === 0x72 && buf[at + 2] === 0x75 && buf[at + 3] === 0x65) {
        sink.param(key, true);
        at += 4;
      } else if (
        c === 0x66 &&
        buf[at + 1] === 0x61 &&
        buf[at + 2] === 0x6c &&
        buf[at + 3] === 0x73 &&
        buf[at + 4] === 0x65
      ) {
        sink.param(key, false);
        at += 5;
      } else if (c === 0x6e && buf[at + 1] === 0x75 && buf[at + 2] === 0x6c && buf[at + 3] === 0x6c) {
        sink.param(key, null);
        at += 4;
      } else {
        const value = integerAt(buf, at, end);
        if (Number.isNaN(value)) return false;
        sink.param(key, value);
        at = numberEnd;
      }
      if (at >= end) return false;
      const next = buf[at];
      at++;
      if (next === CLOSE) break;
      if (next !== COMMA) return false;
    }
  }
  if (at >= end || buf[at] !== CLOSE) return false;
  for (let i = at + 1; i < end; i++) if (!isWs(buf[i] as number)) return false;
  sink.end();
  return true;
}
