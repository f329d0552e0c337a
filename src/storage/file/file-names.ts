/**
 * Key <-> file name for `FilePerEvent`, safe on every common file system:
 * - UTF-8 bytes outside `[a-z0-9._-]` become `%XX` (upper-case hex). Upper-case letters are
 *   escaped too, so `Login` and `login` never share a file on a case-insensitive file system.
 * - A leading `.` is escaped (no hidden files, no `.` / `..`).
 * - A stem (the part before the first `.`) equal to a Windows device name (con, prn, aux, nul,
 *   com1-9, lpt1-9) gets its first character escaped.
 * - A name longer than 240 bytes becomes `~<32 hex of sha256(key)><ext>`; that file starts with a
 *   one-line header holding the escaped key, so `listKeys` can still name it. `~` is always escaped
 *   in short names, so the two forms never collide.
 * - Temp files are `<name>.tmp-<pid base 36>-<4 random base-36 chars>`: at most 255 bytes with a
 *   240-byte name, and the pid lets an opener tell a dead writer's leftovers from a live one's.
 * Decoding is strict: a name is a key only if re-encoding the decoded key gives the same name, so
 * foreign files (`README`, `Foo.json`, editor backups) are ignored.
 */

import { createHash } from "node:crypto";

export const MAX_NAME_BYTES = 240;
const SAFE = /^[a-z0-9._-]$/;
const DEVICE = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])$/;
const ESCAPED_STEM = /^(?:[a-z0-9._-]|%[0-9A-F]{2})*$/;
const TEMP = /\.tmp-([0-9a-z]{1,8})-[0-9a-z]{4}$/;
const HEX = "0123456789ABCDEF";
const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** `".json"` or `"json"` -> `".json"`; undefined when unusable as an extension. */
export function normaliseExtension(ext: string): string | undefined {
  if (typeof ext !== "string") return undefined;
  const dotted = ext.startsWith(".") ? ext : `.${ext}`;
  if (!/^\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,31}$/.test(dotted) || TEMP.test(dotted)) return undefined;
  return dotted;
}

export function escapeKey(key: string): string {
  let out = "";
  for (const byte of encoder.encode(key)) {
    const char = String.fromCharCode(byte);
    out += SAFE.test(char) ? char : `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
  }
  if (out.startsWith(".")) out = `%2E${out.slice(1)}`;
  const dot = out.indexOf(".");
  const stem = dot === -1 ? out : out.slice(0, dot);
  if (DEVICE.test(stem)) out = `%${HEX[out.charCodeAt(0) >> 4]}${HEX[out.charCodeAt(0) & 15]}${out.slice(1)}`;
  return out;
}

/** The key of an escaped stem, or undefined when the stem is not one `escapeKey` could produce. */
export function unescapeKey(stem: string): string | undefined {
  if (!ESCAPED_STEM.test(stem)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < stem.length; i++) {
    if (stem[i] === "%") {
      bytes.push(Number.parseInt(stem.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(stem.charCodeAt(i));
  }
  let key: string;
  try {
    key = strictDecoder.decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
  return escapeKey(key) === stem ? key : undefined;
}

export interface FileName {
  name: string;
  /** Set for hashed names: the header line the file starts with (escaped key + "\n"). */
  header: string | undefined;
}

export function fileNameFor(key: string, ext: string): FileName {
  const escaped = escapeKey(key);
  const name = escaped + ext;
  if (Buffer.byteLength(name) <= MAX_NAME_BYTES) return { name, header: undefined };
  const hash = createHash("sha256").update(key, "utf8").digest("hex").slice(0, 32);
  return { name: `~${hash}${ext}`, header: `${escaped}\n` };
}

/** The key a short name stands for; undefined for hashed, temp and foreign names. */
export function keyOfName(name: string, ext: string): string | undefined {
  if (!name.endsWith(ext) || name.startsWith("~")) return undefined;
  const key = unescapeKey(name.slice(0, name.length - ext.length));
  return key !== undefined && fileNameFor(key, ext).name === name ? key : undefined;
}

export function isHashedName(name: string, ext: string): boolean {
  return name.length === 33 + ext.length && name.endsWith(ext) && /^~[0-9a-f]{32}$/.test(name.slice(0, 33));
}

export function tempNameFor(name: string, pid: number): string {
  const random = Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, "0");
  return `${name}.tmp-${pid.toString(36)}-${random}`;
}

/** The writer's pid of a temp file name, or undefined when the name is not a temp file. */
export function tempWriterPid(name: string): number | undefined {
  const match = TEMP.exec(name);
  return match?.[1] === undefined ? undefined : Number.parseInt(match[1], 36);
}
