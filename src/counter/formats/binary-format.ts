/**
 * `BinaryFormat` (the default): the snapshot's fields in a compact little-endian layout, documented
 * byte by byte in `binary-format.md` with a checked-in golden file
 * (`test/counter/persistence/fixtures/golden-v1.tlyc`). Each count row is written dense or sparse,
 * whichever is smaller, so a mostly idle event of the default config takes tens of bytes, not 1 KB.
 * Decoding checks every length against the bytes left and every row against its bucketCount, so a
 * truncated or inconsistent value is `CORRUPT_DATA`, never a partly read snapshot.
 */

import { TallyError } from "../../errors.ts";
import { TIME_UNITS } from "../../time/units.ts";
import type { EventSnapshot } from "../snapshot.ts";
import { validateSnapshot } from "../snapshot-validate.ts";
import type { Format } from "./format.ts";

export const BINARY_MAGIC = Uint8Array.of(0x54, 0x4c, 0x59, 0x43); // "TLYC"
export const BINARY_VERSION = 1;
const FLAG_UNIFORM = 1;
const TAG_DENSE = 0;
const TAG_SPARSE = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export const BinaryFormat: Format = Object.freeze({
  name: "binary",
  extension: ".bin",
  encode: encodeBinary,
  decode: decodeBinary,
});

export function isBinarySnapshot(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x54 && bytes[1] === 0x4c && bytes[2] === 0x59 && bytes[3] === 0x43;
}

/** One row, trimmed of trailing zeros, with the encoding the writer chose for it. */
interface RowPlan {
  row: readonly number[];
  length: number;
  nonzero: number;
  sparse: boolean;
}

function planRow(row: readonly number[]): RowPlan {
  let length = row.length;
  while (length > 0 && row[length - 1] === 0) length--;
  let nonzero = 0;
  for (let i = 0; i < length; i++) if (row[i] !== 0) nonzero++;
  // dense: u32 n + 4n bytes; sparse: u32 n + 8n bytes. Ties go to dense.
  return { row, length, nonzero, sparse: 8 * nonzero < 4 * length };
}

function encodeBinary(snapshot: EventSnapshot): Uint8Array {
  const s = validateSnapshot(snapshot);
  const zone = utf8(s.timeZone);
  if (zone.length > 255) throw tooLong(`time zone ${JSON.stringify(s.timeZone)}`);
  if (s.replicas.length > 0xffff) throw tooLong(`${s.replicas.length} replicas (at most 65535)`);
  const units = s.units.length;
  const ids: Array<string | Uint8Array> = [];
  const plans: RowPlan[] = [];
  let size = 4 + 1 + 1 + 1 + zone.length + 24 + 1 + units * 13 + 2;
  for (const replica of s.replicas) {
    const id = utf8(replica.replicaId);
    ids.push(id);
    size += 1 + id.length;
    for (let u = 0; u < units; u++) {
      const plan = planRow(replica.counts[u] ?? []);
      plans.push(plan);
      size += 1 + 4 + (plan.sparse ? 8 * plan.nonzero : 4 * plan.length);
    }
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  out.set(BINARY_MAGIC, at);
  at += 4;
  out[at++] = BINARY_VERSION;
  out[at++] = s.alignment === "uniform" ? FLAG_UNIFORM : 0;
  out[at++] = zone.length;
  at = put(out, at, zone);
  view.setFloat64(at, s.savedAt, true);
  view.setFloat64(at + 8, s.firstSeenAt ?? Number.NaN, true);
  view.setFloat64(at + 16, s.lastSeenAt ?? Number.NaN, true);
  at += 24;
  out[at++] = units;
  for (const unit of s.units) {
    out[at++] = TIME_UNITS.indexOf(unit.unit);
    view.setUint32(at, unit.bucketCount, true);
    view.setFloat64(at + 4, unit.start, true);
    at += 12;
  }
  view.setUint16(at, s.replicas.length, true);
  at += 2;
  let p = 0;
  for (const id of ids) {
    out[at++] = id.length;
    at = put(out, at, id);
    for (let u = 0; u < units; u++) {
      const plan = plans[p++] as RowPlan;
      out[at++] = plan.sparse ? TAG_SPARSE : TAG_DENSE;
      if (plan.sparse) {
        view.setUint32(at, plan.nonzero, true);
        at += 4;
        for (let i = 0; i < plan.length; i++) {
          const count = plan.row[i] ?? 0;
          if (count === 0) continue;
          view.setUint32(at, i, true);
          view.setUint32(at + 4, count, true);
          at += 8;
        }
      } else {
        view.setUint32(at, plan.length, true);
        at += 4;
        for (let i = 0; i < plan.length; i++, at += 4) view.setUint32(at, plan.row[i] ?? 0, true);
      }
    }
  }
  return out;
}

/** An ASCII string as itself (its length is its byte length), anything else as UTF-8 bytes. */
function utf8(text: string): string | Uint8Array {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return encoder.encode(text);
  return text;
}

function put(out: Uint8Array, at: number, value: string | Uint8Array): number {
  if (typeof value !== "string") {
    out.set(value, at);
    return at + value.length;
  }
  for (let i = 0; i < value.length; i++) out[at + i] = value.charCodeAt(i);
  return at + value.length;
}

/** A bounds-checked cursor: every read past the end is `CORRUPT_DATA` naming the offset. */
class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  at = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #need(n: number, what: string): void {
    if (this.at + n > this.#bytes.length) {
      throw corrupt(`truncated: ${what} needs ${n} bytes at offset ${this.at}, ${this.#bytes.length - this.at} left`);
    }
  }
  u8(what: string): number {
    this.#need(1, what);
    return this.#bytes[this.at++] ?? 0;
  }
  u16(what: string): number {
    this.#need(2, what);
    const value = this.#view.getUint16(this.at, true);
    this.at += 2;
    return value;
  }
  u32(what: string): number {
    this.#need(4, what);
    const value = this.#view.getUint32(this.at, true);
    this.at += 4;
    return value;
  }
  f64(what: string): number {
    this.#need(8, what);
    const value = this.#view.getFloat64(this.at, true);
    this.at += 8;
    return value;
  }
  utf8(length: number, what: string): string {
    this.#need(length, what);
    const bytes = this.#bytes.subarray(this.at, this.at + length);
    this.at += length;
    try {
      return decoder.decode(bytes);
    } catch (error) {
      throw corrupt(`${what} is not UTF-8`, error);
    }
  }
  get left(): number {
    return this.#bytes.length - this.at;
  }
}

function decodeBinary(bytes: Uint8Array): EventSnapshot {
  if (!isBinarySnapshot(bytes)) throw corrupt(`bad magic: expected "TLYC"`);
  const read = new Reader(bytes);
  read.at = 4;
  const version = read.u8("version");
  if (version !== BINARY_VERSION) throw corrupt(`unknown version ${version} (this tally reads version 1)`);
  const flags = read.u8("flags");
  if ((flags & ~FLAG_UNIFORM) !== 0) throw corrupt(`unknown flags ${flags}`);
  const timeZone = read.utf8(read.u8("zone length"), "time zone");
  const savedAt = read.f64("savedAt");
  const first = read.f64("firstSeenAt");
  const last = read.f64("lastSeenAt");
  const unitCount = read.u8("unit count");
  const units: EventSnapshot["units"] = [];
  for (let u = 0; u < unitCount; u++) {
    const code = read.u8("unit code");
    const unit = TIME_UNITS[code];
    if (unit === undefined) throw corrupt(`unknown unit code ${code} at offset ${read.at - 1}`);
    const bucketCount = read.u32("bucketCount");
    units.push({ unit, bucketCount, start: read.f64("start") });
  }
  const replicaCount = read.u16("replica count");
  const replicas: EventSnapshot["replicas"] = [];
  for (let r = 0; r < replicaCount; r++) {
    const replicaId = read.utf8(read.u8("replica id length"), "replica id");
    const counts: number[][] = [];
    for (const unit of units) counts.push(readRow(read, unit.unit, unit.bucketCount));
    replicas.push({ replicaId, counts });
  }
  if (read.left !== 0) throw corrupt(`${read.left} unexpected bytes after the last replica`);
  return validateSnapshot({
    format: "tally.counter",
    version: 1,
    alignment: flags & FLAG_UNIFORM ? "uniform" : "calendar",
    timeZone,
    savedAt,
    firstSeenAt: Number.isNaN(first) ? null : first,
    lastSeenAt: Number.isNaN(last) ? null : last,
    units,
    replicas,
  });
}

function readRow(read: Reader, unit: string, bucketCount: number): number[] {
  const tag = read.u8("row tag");
  const n = read.u32("row length");
  if (tag === TAG_DENSE) {
    if (n > bucketCount) throw corrupt(`a ${unit} row holds ${n} counts for ${bucketCount} buckets`);
    if (n * 4 > read.left) throw corrupt(`truncated: a ${unit} row of ${n} counts at offset ${read.at}`);
    const row = new Array<number>(n);
    for (let i = 0; i < n; i++) row[i] = read.u32("count");
    return row;
  }
  if (tag !== TAG_SPARSE) throw corrupt(`unknown row tag ${tag} at offset ${read.at - 5}`);
  if (n > bucketCount) throw corrupt(`a sparse ${unit} row holds ${n} entries for ${bucketCount} buckets`);
  if (n * 8 > read.left) throw corrupt(`truncated: a sparse ${unit} row of ${n} entries at offset ${read.at}`);
  const row: number[] = [];
  let previous = -1;
  for (let k = 0; k < n; k++) {
    const index = read.u32("bucket index");
    const count = read.u32("count");
    if (index >= bucketCount) throw corrupt(`a ${unit} row has bucket ${index} of ${bucketCount}`);
    if (index <= previous) throw corrupt(`a sparse ${unit} row lists bucket ${index} out of order`);
    while (row.length < index) row.push(0);
    row.push(count);
    previous = index;
  }
  return row;
}

function corrupt(what: string, cause?: unknown): TallyError {
  return new TallyError("CORRUPT_DATA", `invalid binary event snapshot: ${what}`, cause === undefined ? {} : { cause });
}

function tooLong(what: string): TallyError {
  return new TallyError("CORRUPT_DATA", `cannot encode the event snapshot: ${what} is too long for the binary format`);
}
