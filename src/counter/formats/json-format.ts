/**
 * `JsonFormat`: the snapshot as the JSON document it already is (UTF-8, no indentation), fields in
 * a fixed order starting with `"format":"tally.counter"`, which is how loaders recognise it. Count
 * rows drop trailing zeros. Human-readable, larger and slower than `BinaryFormat`.
 */

import { TallyError } from "../../errors.ts";
import type { EventSnapshot } from "../snapshot.ts";
import { validateSnapshot } from "../snapshot-validate.ts";
import type { Format } from "./format.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const SIGNATURE = ['"format"', ":", '"tally.counter"'];

export const JsonFormat: Format = Object.freeze({
  name: "json",
  extension: ".json",
  encode(snapshot: EventSnapshot): Uint8Array {
    const s = validateSnapshot(snapshot);
    const document = {
      format: s.format,
      version: s.version,
      alignment: s.alignment,
      timeZone: s.timeZone,
      savedAt: s.savedAt,
      firstSeenAt: s.firstSeenAt,
      lastSeenAt: s.lastSeenAt,
      units: s.units.map((u) => ({ unit: u.unit, bucketCount: u.bucketCount, start: u.start })),
      replicas: s.replicas.map((r) => ({ replicaId: r.replicaId, counts: r.counts.map(trimZeros) })),
    };
    return encoder.encode(JSON.stringify(document));
  },
  decode(bytes: Uint8Array): EventSnapshot {
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(bytes));
    } catch (error) {
      throw new TallyError(
        "CORRUPT_DATA",
        `invalid event snapshot: not a whole JSON document (${bytes.length} bytes)`,
        {
          cause: error,
        },
      );
    }
    return validateSnapshot(value);
  },
});

/** True when the bytes open with `{"format":"tally.counter"` (whitespace and a BOM allowed). */
export function isJsonSnapshot(bytes: Uint8Array): boolean {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const skip = (): void => {
    while (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d) i++;
  };
  skip();
  if (bytes[i] !== 0x7b) return false;
  i++;
  for (const token of SIGNATURE) {
    skip();
    for (let k = 0; k < token.length; k++, i++) if (bytes[i] !== token.charCodeAt(k)) return false;
  }
  return true;
}

function trimZeros(row: readonly number[]): number[] {
  let end = row.length;
  while (end > 0 && row[end - 1] === 0) end--;
  return row.slice(0, end);
}
