/**
 * Quarantine: files (or tails of files) the stream cannot deliver go to
 * `quarantine/<file>.q-<YYYYMMDDHHMMSSmmm>-<8hex>.jsonl` beside a `.meta.json` of
 * `{ reason, originalName, quarantinedAt, pid, host, samples }`, so an operator can inspect them.
 * They are deleted after `quarantineRetention` (by the stamp in the name, which comes from the
 * stream clock).
 */

import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HOST, msStamp, quarantineTime } from "./meter-file-layout.ts";

export type QuarantineReason = "empty_file" | "partial_trailing_line" | "malformed_jsonl";

export interface QuarantineSample {
  line: number;
  text: string;
}

function names(dir: string, file: string, now: number): { data: string; meta: string } {
  const base = join(dir, `${file}.q-${msStamp(now)}-${randomBytes(4).toString("hex")}`);
  return { data: `${base}.jsonl`, meta: `${base}.meta.json` };
}

async function writeMeta(
  path: string,
  reason: QuarantineReason,
  file: string,
  now: number,
  samples: QuarantineSample[],
) {
  const meta = {
    reason,
    originalName: file,
    quarantinedAt: new Date(now).toISOString(),
    pid: process.pid,
    host: HOST,
    samples,
  };
  await writeFile(path, `${JSON.stringify(meta, null, 2)}\n`);
}

/** Moves a whole file into quarantine. */
export async function quarantineFile(
  quarantineDir: string,
  source: string,
  file: string,
  reason: QuarantineReason,
  now: number,
  samples: QuarantineSample[] = [],
): Promise<void> {
  await mkdir(quarantineDir, { recursive: true });
  const target = names(quarantineDir, file, now);
  await writeMeta(target.meta, reason, file, now, samples);
  await rename(source, target.data);
}

/** Writes bytes (a partial trailing line) into quarantine. */
export async function quarantineBytes(
  quarantineDir: string,
  bytes: Buffer,
  file: string,
  reason: QuarantineReason,
  now: number,
  samples: QuarantineSample[] = [],
): Promise<void> {
  await mkdir(quarantineDir, { recursive: true });
  const target = names(quarantineDir, file, now);
  await writeFile(target.data, bytes);
  await writeMeta(target.meta, reason, file, now, samples);
}

/** Deletes quarantine files older than the retention; returns how many files went. */
export async function expireQuarantine(quarantineDir: string, now: number, retentionMs: number): Promise<number> {
  let entries: string[];
  try {
    entries = await readdir(quarantineDir);
  } catch {
    return 0;
  }
  let deleted = 0;
  for (const name of entries) {
    const at = quarantineTime(name);
    if (at !== null && now - at > retentionMs) {
      await unlink(join(quarantineDir, name)).then(
        () => deleted++,
        () => {},
      );
    }
  }
  return deleted;
}

export function sampleOf(line: number, text: string): QuarantineSample {
  const bytes = Buffer.from(text);
  return { line, text: bytes.length <= 200 ? text : bytes.subarray(0, 200).toString() };
}
