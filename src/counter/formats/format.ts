/**
 * `Format`: how one `EventSnapshot` becomes bytes in a `Storage` and back.
 *
 * Contract:
 * - `decode(encode(s))` equals `s` up to trailing zeros of count rows (writers may drop them,
 *   readers treat missing buckets as 0).
 * - `decode` throws `TallyError("CORRUPT_DATA")` for anything it cannot read whole: wrong magic,
 *   unknown version, truncation, rows longer than their bucketCount, unknown units. It never returns
 *   a half-read snapshot.
 * - Both built-in formats are self-describing, so `decodeSnapshot` reads either whatever format a
 *   store is configured with (a store can switch formats and still load old values); a custom
 *   format is asked only for bytes that are neither.
 */

import { TallyError } from "../../errors.ts";
import type { EventSnapshot } from "../snapshot.ts";
import { validateSnapshot } from "../snapshot-validate.ts";
import { BinaryFormat, isBinarySnapshot } from "./binary-format.ts";
import { isJsonSnapshot, JsonFormat } from "./json-format.ts";

export interface Format {
  /** Short name for messages, e.g. "binary". */
  readonly name: string;
  /** File extension with its dot, e.g. ".bin" (what `FilePerEvent` could use). */
  readonly extension: string;
  encode(snapshot: EventSnapshot): Uint8Array;
  decode(bytes: Uint8Array): EventSnapshot;
}

/** The built-in format that wrote these bytes, judged by their first bytes; undefined for anything else. */
export function detectFormat(bytes: Uint8Array): Format | undefined {
  if (isBinarySnapshot(bytes)) return BinaryFormat;
  if (isJsonSnapshot(bytes)) return JsonFormat;
  return undefined;
}

/**
 * Decodes stored bytes: a built-in format recognised by its first bytes, else `configured` (a
 * custom format; a built-in one is not asked to read what it did not write). The result is checked
 * whatever decoded it; every failure is `CORRUPT_DATA` with the reason and the cause.
 */
export function decodeSnapshot(bytes: Uint8Array, configured: Format = BinaryFormat): EventSnapshot {
  const format = detectFormat(bytes) ?? (isBuiltIn(configured) ? undefined : configured);
  if (format === undefined) {
    throw new TallyError(
      "CORRUPT_DATA",
      `unrecognised event snapshot: ${bytes.length} bytes starting ${preview(bytes)} are neither tally binary ("TLYC") nor tally JSON`,
      { details: { length: bytes.length } },
    );
  }
  let snapshot: unknown;
  try {
    snapshot = format.decode(bytes);
  } catch (error) {
    if (error instanceof TallyError && error.code === "CORRUPT_DATA") throw error;
    throw new TallyError(
      "CORRUPT_DATA",
      `format ${JSON.stringify(format.name)} could not decode ${bytes.length} bytes`,
      {
        cause: error,
      },
    );
  }
  return isBuiltIn(format) ? (snapshot as EventSnapshot) : validateSnapshot(snapshot);
}

function isBuiltIn(format: Format): boolean {
  return format === BinaryFormat || format === JsonFormat;
}

function preview(bytes: Uint8Array): string {
  return JSON.stringify(Buffer.from(bytes.subarray(0, 8)).toString("latin1"));
}
