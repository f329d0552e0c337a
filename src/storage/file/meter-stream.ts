/**
 * `FileStream`: the embedded default `MeterStream` (guarantees in `src/meter/stream.ts`).
 *
 * Writers append JSON lines to per-writer, per-minute files under `logs/` (see
 * `meter-file-writer.ts` for durability and group commit). A reader claims a file by creating its
 * lease (exclusively, `meter-file-leases.ts`) and renaming it `logs/x -> processing/x`; both steps
 * are atomic, so exactly one reader wins. Files are only claimed once their minute ended
 * `claimGrace` ago and they have been quiet as long, so writers are done with them. A file is one *unit*: line n is `seq` n. A
 * large file is delivered in chunks to the same reader while the claim is held; the consumed line
 * count is kept beside the lease (`.progress`), so after a release or crash the next claimer skips
 * those lines unparsed (and the rollup markers skip anything else already applied). A claim keeps
 * the file's bytes; every line is checked to be JSON when the file is claimed, and parsed only when
 * its entry's payload is read (`meter-file-entry.ts`).
 *
 * Crash behaviour: a claimer that dies stops touching its lease; after `leaseTtl` the lease is
 * stale and the next reader takes the file over from `processing/`, before newer files (or from
 * `logs/`, when it died between taking the lease and renaming the file). `ack`
 * deletes a file only at its last line and only when its size did not change since it was read (a
 * stalled writer may have appended); otherwise it releases it and the markers skip what was applied.
 */

import { randomBytes } from "node:crypto";
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  stat,
  truncate,
  unlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { TallyError } from "../../errors.ts";
import { type EventPayload, flatLineBound, payloadJson, payloadLine } from "../../meter/payload.ts";
import { writePayloadLine } from "../../meter/payload-line.ts";
import type { AckResult, MeterStream, StreamBatch, StreamEntry, StreamRef } from "../../meter/stream.ts";
import { type Clock, systemClock } from "../../time/clock.ts";
import { type Duration, toMs } from "../../time/duration.ts";
import { FileEntry } from "./meter-file-entry.ts";
import { isJsonText } from "./meter-file-json-check.ts";
import { fileMinute, type StreamDirs, streamDirs } from "./meter-file-layout.ts";
import {
  createLease,
  dropLease,
  type LeaseFile,
  leaseAge,
  leasePath,
  progressPath,
  stillHeld,
  takeOverLease,
  touchLease,
} from "./meter-file-leases.ts";
import { countLines, encodingOf, type LineEncoding, lineOffset, parseLine } from "./meter-file-lines.ts";
import { expireQuarantine, quarantineBytes, quarantineFile, sampleOf } from "./meter-file-quarantine.ts";
import { type Durability, LogWriter } from "./meter-file-writer.ts";

export type { Durability } from "./meter-file-writer.ts";

export interface FileStreamOptions {
  /** The stream's root folder. */
  path: string;
  /** When `success()` resolves: "none" buffered, "flush" written, "batch" group-committed fdatasync, "fsync" one sync per event. @default "batch" */
  durability?: Durability;
  /** @default systemClock */
  clock?: Clock;
  /** How long after its minute ends (and after its last write) a log file may be claimed. @default "10s" */
  claimGrace?: Duration;
  /** A claim whose lease was not touched for this long is taken over. @default "30s" */
  leaseTtl?: Duration;
  /** A file ending in a partial line waits this long after its minute before it is read. @default "10m" */
  stalePartialAfter?: Duration;
  /** How long quarantined files are kept; null keeps them. @default "7d" */
  quarantineRetention?: Duration | null;
  /** A non-JSON line quarantines its whole file, or is delivered as a malformed row. @default "quarantine" */
  malformedLines?: "quarantine" | "skip";
  /** Lines per group commit at most. @default 1024 */
  batchEvents?: number;
  /** How long a group commit waits for more lines after its first. @default "2ms" */
  batchDelay?: Duration;
  /** Test hook: replaces `handle.datasync()`. */
  fdatasync?: (handle: FileHandle) => Promise<void>;
}

interface Claim {
  key: string;
  ref: StreamRef;
  dirs: StreamDirs;
  file: string;
  path: string;
  reader: string;
  lease: LeaseFile;
  /** The file's bytes (off the JS heap); lines are parsed as they are delivered. */
  buffer: Buffer;
  encoding: LineEncoding;
  /** Byte offset of line `next`. */
  offset: number;
  total: number;
  size: number;
  next: number;
  acked: number;
  /** A `.progress` file may exist (read at load, or written since); leftovers are also swept by housekeeping. */
  progress: boolean;
  lost: boolean;
  timer: NodeJS.Timeout;
}

interface Part {
  claim: Claim;
  from: number;
  to: number;
}

/** Log files whose read-only claim checks run ahead of the claim in progress. */
const LOOKAHEAD = 8;
/** Log files claimed concurrently by one read (see `read`). */
const CLAIM_AHEAD = 4;

/**
 * How long (ms, stream clock) the untried rest of a `logs/` listing is reused by the next read
 * instead of listing the folder again. Why: a backlog of thousands of minute files made each read
 * list, sort and filter all of them (~6 ms per 10 000-row batch with 4 000 files) to claim the first
 * few. Reusing the rest is safe: files of past minutes only
 * leave (claimed, by anyone: a claim re-checks the file), new ones belong to the current minute and
 * are found once the rest is used up or this long has passed.
 */
const LISTING_REUSE_MS = 1_000;

/** The log file a lease-folder entry belongs to (`<file>.lease`, `.progress`, `.lease.<hex>.tomb|draft`). */
const leasedFile = (name: string): string => name.replace(/\.(lease|progress)$|\.lease\.[0-9a-f]+\.(tomb|draft)$/, "");

const isCode = (error: unknown, code: string): boolean => (error as NodeJS.ErrnoException | null)?.code === code;

async function list(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    if (isCode(error, "ENOENT")) return [];
    throw error;
  }
}

/** The file's last byte, or -1 when another reader moved it away meanwhile. */
async function lastByte(path: string, size: number): Promise<number> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    if (isCode(error, "ENOENT")) return -1;
    throw error;
  }
  try {
    const buf = Buffer.alloc(1);
    await handle.read(buf, 0, 1, size - 1);
    return buf[0] as number;
  } finally {
    await handle.close();
  }
}

function positive(value: unknown, what: string): number {
  if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) return value;
  throw new TallyError("INVALID_OPTION", `invalid ${what} ${String(value)}: pass a positive integer`);
}

function duration(value: unknown, what: string): number {
  try {
    return toMs(value, what);
  } catch (cause) {
    throw new TallyError("INVALID_OPTION", `invalid ${what} ${String(value)}: pass ms or a string like "10s"`, {
      cause,
    });
  }
}

export class FileStream implements MeterStream {
  readonly #path: string;
  readonly #clock: Clock;
  readonly #durability: Durability;
  readonly #claimGrace: number;
  readonly #leaseTtl: number;
  readonly #stalePartial: number;
  readonly #quarantineRetention: number | null;
  readonly #malformed: "quarantine" | "skip";
  readonly #batchEvents: number;
  readonly #batchDelay: number;
  readonly #fdatasync: (handle: FileHandle) => Promise<void>;
  readonly #writers = new Map<string, LogWriter>();
  readonly #claims = new Map<string, Claim>();
  readonly #batches = new WeakMap<StreamBatch, Part[]>();
  readonly #madeDirs = new Set<string>();
  /** Per stream folder: the claim candidates of the last `logs/` listing not tried yet, and when it was made. */
  readonly #untried = new Map<string, { files: string[]; listedAt: number }>();

  constructor(options: FileStreamOptions) {
    if (typeof options !== "object" || options === null || typeof options.path !== "string" || options.path === "") {
      throw new TallyError("INVALID_OPTION", 'FileStream needs { path: "./tally-data/meter" }');
    }
    const durability = options.durability ?? "batch";
    if (!["none", "batch", "flush", "fsync"].includes(durability)) {
      throw new TallyError(
        "INVALID_OPTION",
        `invalid durability ${String(durability)}: pass "none", "batch", "flush" or "fsync"`,
      );
    }
    const malformed = options.malformedLines ?? "quarantine";
    if (malformed !== "quarantine" && malformed !== "skip") {
      throw new TallyError(
        "INVALID_OPTION",
        `invalid malformedLines ${String(malformed)}: pass "quarantine" or "skip"`,
      );
    }
    this.#path = options.path;
    this.#clock = options.clock ?? systemClock;
    this.#durability = durability;
    this.#claimGrace = duration(options.claimGrace ?? "10s", "claimGrace");
    this.#leaseTtl = duration(options.leaseTtl ?? "30s", "leaseTtl");
    this.#stalePartial = duration(options.stalePartialAfter ?? "10m", "stalePartialAfter");
    this.#quarantineRetention =
      options.quarantineRetention === null
        ? null
        : duration(options.quarantineRetention ?? "7d", "quarantineRetention");
    this.#malformed = malformed;
    this.#batchEvents = positive(options.batchEvents ?? 1024, "batchEvents");
    this.#batchDelay = duration(options.batchDelay ?? "2ms", "batchDelay");
    this.#fdatasync = options.fdatasync ?? ((handle) => handle.datasync());
  }

  // The writer of the last (namespace, name) appended to: recording usually repeats one stream.
  #lastWriter: { namespace: string; name: string; writer: LogWriter } | null = null;

  #writer(namespace: string, name: string): LogWriter {
    const last = this.#lastWriter;
    if (last !== null && last.name === name && last.namespace === namespace) return last.writer;
    const key = `${namespace}\u0000${name}`;
    let writer = this.#writers.get(key);
    if (writer === undefined) {
      writer = new LogWriter(streamDirs(this.#path, namespace, name), {
        clock: this.#clock,
        durability: this.#durability,
        batchEvents: this.#batchEvents,
        batchDelayMs: this.#batchDelay,
        fdatasync: this.#fdatasync,
        onBackgroundError: (error) =>
          process.emitWarning(`tally FileStream lost buffered events (durability "none"): ${String(error)}`),
      });
      this.#writers.set(key, writer);
    }
    this.#lastWriter = { namespace, name, writer };
    return writer;
  }

  append(namespace: string, payloads: readonly EventPayload[]): Promise<void> {
    if (payloads.length === 1) {
      const payload = payloads[0] as EventPayload;
      const writer = this.#writer(namespace, payload.name);
      // The payload built last with flat params is encoded straight into the batch buffer.
      const bound = flatLineBound(payload);
      if (bound >= 0) return writer.writeEncoded(bound, writePayloadLine, payload);
      return writer.writeLine(payloadJson(payload));
    }
    const byName = new Map<string, string[]>();
    for (const payload of payloads) {
      const lines = byName.get(payload.name) ?? [];
      lines.push(payloadLine(payload));
      byName.set(payload.name, lines);
    }
    return Promise.all(
      [...byName].map(([name, lines]) => this.#writer(namespace, name).write(lines.join(""), lines.length)),
    ).then(() => {});
  }

  async read(ref: StreamRef, options: { maxRows: number; reader: string }): Promise<StreamBatch> {
    const entries: StreamEntry[] = [];
    const parts: Part[] = [];
    const batch: StreamBatch = { ref: { namespace: ref.namespace, name: ref.name }, entries };
    this.#batches.set(batch, parts);
    const dirs = streamDirs(this.#path, ref.namespace, ref.name);
    const now = this.#clock.now();
    if (!this.#madeDirs.has(dirs.root)) {
      const logs = await list(dirs.logs);
      const processing = await list(dirs.processing);
      if (logs.length === 0 && processing.length === 0) return batch;
      await mkdir(dirs.processing, { recursive: true });
      await mkdir(dirs.leases, { recursive: true });
      this.#madeDirs.add(dirs.root);
    }
    // Each folder is listed once per read: housekeeping and claiming share the listings.
    let processingList: Promise<string[]> | null = null;
    let logsList: Promise<string[]> | null = null;
    const listProcessing = (): Promise<string[]> => (processingList ??= list(dirs.processing));
    const listLogs = (): Promise<string[]> => (logsList ??= list(dirs.logs));
    await this.#housekeep(dirs, now, listProcessing, listLogs);
    const deliver = (claim: Claim): void => {
      const count = Math.min(options.maxRows - entries.length, claim.total - claim.next + 1);
      if (count <= 0) return;
      const from = claim.next;
      const { buffer, encoding, file } = claim;
      let offset = claim.offset;
      for (let seq = from; seq < from + count; seq++) {
        const end = buffer.indexOf(10, offset);
        entries.push(new FileEntry(file, seq, buffer, offset, end, encoding));
        offset = end + 1;
      }
      claim.offset = offset;
      claim.next = from + count;
      parts.push({ claim, from, to: from + count - 1 });
    };
    for (const claim of this.#claims.values()) {
      if (entries.length >= options.maxRows) return batch;
      if (claim.dirs.root === dirs.root && claim.reader === options.reader && !claim.lost) deliver(claim);
    }
    for (const file of await listProcessing()) {
      if (entries.length >= options.maxRows) return batch;
      if (!file.endsWith(".jsonl")) continue;
      const held = this.#claims.get(join(dirs.root, file));
      if (held !== undefined && !held.lost) continue;
      const age = await leaseAge(leasePath(dirs.leases, file), now);
      if (age !== null && age <= this.#leaseTtl) continue;
      const claim = await this.#claimProcessing(ref, dirs, file, options.reader, now, age !== null);
      if (claim !== null) deliver(claim);
    }
    const candidates = await this.#candidates(dirs.root, now, listLogs);
    // The read-only checks (stat, last byte) of the next few candidates run ahead concurrently, and
    // so do the claims (lease, rename, load) of as many of the next files as the rows still wanted
    // need (judged by the size of the last file claimed, at most CLAIM_AHEAD): a claim is a chain of
    // file operations whose latency, one file after another, left the processor idle for half of
    // each read. Claims are delivered in order; one that finishes after the batch is full stays held
    // and is delivered first by the next read (or released by `close`).
    const checks: Array<Promise<boolean>> = [];
    const check = (i: number): Promise<boolean> => {
      let pending = checks[i];
      if (pending === undefined) {
        pending = this.#claimable(dirs, candidates[i] as string, now);
        pending.catch(() => {});
        checks[i] = pending;
      }
      return pending;
    };
    const claims: Array<Promise<Claim | null>> = [];
    const claim = (i: number): Promise<Claim | null> => {
      let pending = claims[i];
      if (pending === undefined) {
        pending = check(i).then((ok) =>
          ok ? this.#claimLog(ref, dirs, candidates[i] as string, options.reader, now) : null,
        );
        pending.catch(() => {});
        claims[i] = pending;
      }
      return pending;
    };
    let rowsPerFile = 0;
    try {
      for (let i = 0; i < candidates.length; i++) {
        if (entries.length >= options.maxRows) {
          this.#untried.set(dirs.root, { files: candidates.slice(claims.length), listedAt: candidates.listedAt });
          return batch;
        }
        for (let k = i; k < Math.min(i + LOOKAHEAD, candidates.length); k++) void check(k);
        const wanted = options.maxRows - entries.length;
        const ahead = rowsPerFile === 0 ? 1 : Math.min(CLAIM_AHEAD, Math.ceil(wanted / rowsPerFile));
        for (let k = i; k < Math.min(i + ahead, candidates.length); k++) void claim(k);
        const claimed = await claim(i);
        if (claimed !== null) {
          rowsPerFile = claimed.total - claimed.next + 1;
          deliver(claimed);
        }
      }
      this.#untried.delete(dirs.root);
      return batch;
    } finally {
      // Claims started ahead are held (or given up) before the read returns, never left running.
      await Promise.allSettled(claims);
    }
  }

  /**
   * The log files a read may claim, oldest first: quiet for `claimGrace` (of a minute before the
   * newest one that may still be written), from a fresh listing or the untried rest of a recent
   * one (`LISTING_REUSE_MS`).
   */
  async #candidates(
    root: string,
    now: number,
    listLogs: () => Promise<string[]>,
  ): Promise<string[] & { listedAt: number }> {
    const untried = this.#untried.get(root);
    this.#untried.delete(root);
    if (untried !== undefined && untried.files.length > 0 && now - untried.listedAt < LISTING_REUSE_MS) {
      return Object.assign(untried.files, { listedAt: untried.listedAt });
    }
    const newest = now - this.#claimGrace;
    const lastMinute = newest - (newest % 60_000);
    const files = (await listLogs()).filter((file) => {
      const minute = fileMinute(file);
      return minute !== null && minute < lastMinute;
    });
    return Object.assign(files, { listedAt: now });
  }

  /** Whether a log file is quiet (claimGrace) and readable (no fresh partial line), by its stat and last byte. */
  async #claimable(dirs: StreamDirs, file: string, now: number): Promise<boolean> {
    const source = join(dirs.logs, file);
    const s = await stat(source).catch(() => null);
    // A writer may still be appending to a file touched within claimGrace. An mtime ahead of the
    // stream clock means the two clocks disagree (a clock set in the past): the name rule decides.
    if (s === null || (now - s.mtimeMs <= this.#claimGrace && s.mtimeMs <= now)) return false;
    return s.size === 0 || this.#readable(source, s.size, file, now);
  }

  async #claimProcessing(
    ref: StreamRef,
    dirs: StreamDirs,
    file: string,
    reader: string,
    now: number,
    stale: boolean,
  ): Promise<Claim | null> {
    const path = join(dirs.processing, file);
    const s = await stat(path).catch(() => null);
    if (s === null) return null;
    if (s.size > 0 && !(await this.#readable(path, s.size, file, now))) return null;
    const lpath = leasePath(dirs.leases, file);
    const lease = stale
      ? await takeOverLease(lpath, reader, now, this.#leaseTtl)
      : await createLease(lpath, reader, now);
    if (lease === null) return null;
    const old = this.#claims.get(join(dirs.root, file));
    if (old !== undefined) this.#forget(old);
    return this.#load(ref, dirs, file, reader, lease, now);
  }

  /** Claims a log file that `#claimable` accepted. */
  async #claimLog(ref: StreamRef, dirs: StreamDirs, file: string, reader: string, now: number): Promise<Claim | null> {
    const source = join(dirs.logs, file);
    const lpath = leasePath(dirs.leases, file);
    let lease = await createLease(lpath, reader, now);
    if (lease === null) {
      // A lease on a file still in logs/ is normally a claimer between its lease and its rename.
      // One that went stale is a claimer that died there: take it over like a stale claim in
      // processing/, or the file would wait forever.
      const age = await leaseAge(lpath, now);
      if (age === null || age <= this.#leaseTtl) return null;
      lease = await takeOverLease(lpath, reader, now, this.#leaseTtl);
      if (lease === null) return null;
    }
    try {
      await rename(source, join(dirs.processing, file));
    } catch (error) {
      if (isCode(error, "ENOENT")) {
        const inProcessing = await stat(join(dirs.processing, file)).catch(() => null);
        if (inProcessing === null) {
          // Another reader claimed and finished it between our listing and our lease.
          await dropLease(lease);
          return null;
        }
        // Another reader renamed it and lost the lease race to us after finishing: keep it (we hold the lease).
      } else {
        await dropLease(lease);
        throw error;
      }
    }
    return this.#load(ref, dirs, file, reader, lease, now);
  }

  /** A file ending in a partial line is left alone until its minute is older than stalePartialAfter. */
  async #readable(path: string, size: number, file: string, now: number): Promise<boolean> {
    const last = await lastByte(path, size);
    if (last === 10) return true;
    if (last === -1) return false;
    const minute = fileMinute(file) ?? 0;
    return now - (minute + 60_000) >= this.#stalePartial;
  }

  async #load(
    ref: StreamRef,
    dirs: StreamDirs,
    file: string,
    reader: string,
    lease: LeaseFile,
    now: number,
  ): Promise<Claim | null> {
    const path = join(dirs.processing, file);
    const giveUp = async (): Promise<null> => {
      await unlink(progressPath(dirs.leases, file)).catch(() => {});
      await dropLease(lease);
      return null;
    };
    // The progress of an earlier claimer is read alongside the file.
    const progress = readFile(progressPath(dirs.leases, file), "utf8").catch(() => null);
    let buffer = await readFile(path);
    if (buffer.length === 0) {
      await quarantineFile(dirs.quarantine, path, file, "empty_file", now);
      return giveUp();
    }
    if (buffer[buffer.length - 1] !== 10) {
      const cut = buffer.lastIndexOf(10) + 1;
      const tail = buffer.subarray(cut);
      if (cut === 0) {
        await quarantineFile(dirs.quarantine, path, file, "partial_trailing_line", now, [sampleOf(1, tail.toString())]);
        return giveUp();
      }
      const line = buffer.subarray(0, cut).toString().split("\n").length;
      await quarantineBytes(dirs.quarantine, Buffer.from(tail), file, "partial_trailing_line", now, [
        sampleOf(line, tail.toString()),
      ]);
      await truncate(path, cut);
      buffer = buffer.subarray(0, cut);
    }
    const encoding = encodingOf(buffer);
    const total = countLines(buffer);
    const stored = await progress;
    const n = stored === null ? 0 : Number(stored);
    const done = Number.isSafeInteger(n) && n > 0 && n <= total ? n : 0;
    const offset = lineOffset(buffer, done);
    // Every line is checked now, so a non-JSON line quarantines the file before any of it is
    // delivered (a byte scan, `meter-file-json-check.ts`; JSON.parse confirms a "no"); entries
    // parse their line when read (see `meter-file-entry.ts`).
    const bad: Array<{ line: number; start: number; end: number }> = [];
    for (let line = done + 1, start = offset; line <= total; line++) {
      const end = buffer.indexOf(10, start);
      if (!isJsonText(buffer, start, end) && parseLine(buffer, start, end, encoding) === undefined) {
        bad.push({ line, start, end });
      }
      start = end + 1;
    }
    if (bad.length > 0 && this.#malformed === "quarantine") {
      const samples = bad.slice(0, 5).map((b) => sampleOf(b.line, buffer.toString(encoding, b.start, b.end)));
      await quarantineFile(dirs.quarantine, path, file, "malformed_jsonl", now, samples);
      return giveUp();
    }
    const claim: Claim = {
      key: join(dirs.root, file),
      ref,
      dirs,
      file,
      path,
      reader,
      lease,
      buffer,
      encoding,
      offset,
      total,
      size: buffer.length,
      next: done + 1,
      acked: done,
      progress: stored !== null,
      lost: false,
      timer: setInterval(
        () => {
          touchLease(lease, this.#clock.now()).then(
            (ok) => {
              if (!ok) claim.lost = true;
            },
            () => {
              claim.lost = true;
            },
          );
        },
        Math.max(1, Math.floor(this.#leaseTtl / 3)),
      ),
    };
    claim.timer.unref();
    if (claim.next > claim.total) {
      // Everything was consumed before a crash: finish the file now.
      await this.#finish(claim);
      return null;
    }
    this.#claims.set(claim.key, claim);
    return claim;
  }

  #forget(claim: Claim): void {
    clearInterval(claim.timer);
    claim.lost = true;
    if (this.#claims.get(claim.key) === claim) this.#claims.delete(claim.key);
  }

  /** Deletes a fully consumed file, then its progress and lease. True when the file is gone. */
  async #finish(claim: Claim): Promise<boolean> {
    const size = await stat(claim.path).then(
      (s) => s.size,
      () => -1,
    );
    if (size !== claim.size && size !== -1) {
      await this.#releaseClaim(claim);
      return false;
    }
    await unlink(claim.path).catch(() => {});
    if (claim.progress) await unlink(progressPath(claim.dirs.leases, claim.file)).catch(() => {});
    clearInterval(claim.timer);
    await dropLease(claim.lease);
    if (this.#claims.get(claim.key) === claim) this.#claims.delete(claim.key);
    return true;
  }

  async #releaseClaim(claim: Claim): Promise<void> {
    this.#forget(claim);
    if (claim.acked > 0 && (await stillHeld(claim.lease))) {
      claim.progress = true;
      await writeFile(progressPath(claim.dirs.leases, claim.file), String(claim.acked));
    }
    await dropLease(claim.lease);
  }

  async ack(batch: StreamBatch): Promise<AckResult> {
    const parts = this.#batches.get(batch) ?? [];
    // A batch holds one part per file and files are independent: settle them concurrently.
    const settled = await Promise.all(
      parts.map(async (part): Promise<"ok" | "removed" | "lost"> => {
        const claim = part.claim;
        if (claim.acked >= part.to) return "ok";
        if (claim.lost || !(await stillHeld(claim.lease))) return "lost";
        claim.acked = part.to;
        if (part.to >= claim.total) return (await this.#finish(claim)) ? "removed" : "ok";
        claim.progress = true;
        await writeFile(progressPath(claim.dirs.leases, claim.file), String(claim.acked));
        return "ok";
      }),
    );
    const removedUnits: string[] = [];
    settled.forEach((outcome, i) => {
      if (outcome === "removed") removedUnits.push((parts[i] as Part).claim.file);
    });
    return { ok: !settled.includes("lost"), removedUnits };
  }

  async release(batch: StreamBatch): Promise<void> {
    for (const part of this.#batches.get(batch) ?? []) {
      const claim = part.claim;
      if (claim.lost || this.#claims.get(claim.key) !== claim) continue;
      await this.#releaseClaim(claim);
    }
  }

  async pendingCount(ref: StreamRef): Promise<number> {
    const dirs = streamDirs(this.#path, ref.namespace, ref.name);
    let count = 0;
    for (const [dir, withProgress] of [
      [dirs.logs, false],
      [dirs.processing, true],
    ] as const) {
      for (const file of await list(dir)) {
        if (!file.endsWith(".jsonl")) continue;
        const buffer = await readFile(join(dir, file)).catch(() => Buffer.alloc(0));
        let lines = 0;
        for (let i = buffer.indexOf(10); i >= 0; i = buffer.indexOf(10, i + 1)) lines++;
        if (withProgress) {
          const done = Number(await readFile(progressPath(dirs.leases, file), "utf8").catch(() => "0"));
          if (Number.isSafeInteger(done) && done > 0) lines = Math.max(0, lines - done);
        }
        count += lines;
      }
    }
    return count;
  }

  /** Deletes expired quarantine and leftovers of leases whose file is gone. */
  async #housekeep(
    dirs: StreamDirs,
    now: number,
    listProcessing: () => Promise<string[]>,
    listLogs: () => Promise<string[]>,
  ): Promise<void> {
    if (this.#quarantineRetention !== null) await expireQuarantine(dirs.quarantine, now, this.#quarantineRetention);
    // Leases of files this stream holds are live; only the others need the folder listings.
    const others = (await list(dirs.leases)).filter((name) => !this.#claims.has(join(dirs.root, leasedFile(name))));
    if (others.length === 0) return;
    const present = new Set([...(await listProcessing()), ...(await listLogs())]);
    for (const name of others) {
      if (present.has(leasedFile(name))) continue;
      const path = join(dirs.leases, name);
      const age = await leaseAge(path, now);
      if (age !== null && age > this.#leaseTtl) await unlink(path).catch(() => {});
    }
  }

  async close(): Promise<void> {
    for (const claim of [...this.#claims.values()]) await this.#releaseClaim(claim);
    const writers = [...this.#writers.values()];
    this.#writers.clear();
    this.#lastWriter = null;
    await Promise.all(writers.map((w) => w.close()));
  }

  /** A fresh id for a reader (host, pid, random), for callers that run several readers. */
  static readerId(): string {
    return `${process.pid}-${randomBytes(4).toString("hex")}`;
  }
}
