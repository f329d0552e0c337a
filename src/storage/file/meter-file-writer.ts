/**
 * One writer per (FileStream instance, event stream): appends lines to this minute's log file with
 * group commit. A batch closes at `batchEvents` lines or `batchDelay` after its first line; it is
 * written with one `write` and (for "batch"/"fsync") one `fdatasync`; at most one write+sync is in
 * flight per file, and lines arriving during a sync form the next batch. Each caller's promise
 * resolves when its own lines reached the durability it asked for, so an event reported recorded
 * under "batch" survives power loss.
 */

import { randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { threadId } from "node:worker_threads";
import type { Clock } from "../../time/clock.ts";
import { HOST, minuteStamp, type StreamDirs } from "./meter-file-layout.ts";

export type Durability = "none" | "batch" | "flush" | "fsync";

export interface WriterOptions {
  clock: Clock;
  durability: Durability;
  batchEvents: number;
  batchDelayMs: number;
  fdatasync: (handle: FileHandle) => Promise<void>;
  onBackgroundError: (error: unknown) => void;
}

/**
 * Lines waiting for one write (+ sync). Every caller whose lines are in the batch shares its one
 * promise: group commit resolves them together, so a batch costs one promise, not one per event.
 */
interface Batch {
  /** The batch's lines, UTF-8 encoded as they arrive (no big joined string for GC to move). */
  buffer: Buffer;
  used: number;
  lines: number;
  promise: Promise<void> | null;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface OpenFile {
  minute: number;
  path: string;
  handle: FileHandle;
  bytes: number;
}

const noop = (): void => {};

// Written batches give their buffers back for reuse, so steady recording allocates no buffers.
const POOL_LIMIT = 4;
const MIN_BUFFER = 256 * 1024;
const MAX_POOLED = 8 * 1024 * 1024;

function newBatch(withPromise: boolean, buffer: Buffer): Batch {
  const batch: Batch = { buffer, used: 0, lines: 0, promise: null, resolve: noop, reject: noop };
  if (withPromise) {
    batch.promise = new Promise<void>((resolve, reject) => {
      batch.resolve = resolve;
      batch.reject = reject;
    });
  }
  return batch;
}

const RESOLVED = Promise.resolve();

export class LogWriter {
  readonly #dirs: StreamDirs;
  readonly #o: WriterOptions;
  readonly #suffix = `${HOST}-${process.pid}-${threadId}-${randomBytes(4).toString("hex")}`;
  // Batches not yet taken by the drain loop, oldest first. In "none", "flush" and "batch" modes
  // new lines join the last (open) batch; in "fsync" mode every write is its own batch.
  #queue: Batch[] = [];
  #timer: NodeJS.Timeout | null = null;
  #busy = false;
  #file: OpenFile | null = null;
  #madeDirs = false;
  #drained: Array<() => void> = [];
  readonly #pool: Buffer[] = [];

  constructor(dirs: StreamDirs, options: WriterOptions) {
    this.#dirs = dirs;
    this.#o = options;
  }

  /** Queues one line given without its "\n"; resolves per the durability mode. */
  writeLine(json: string): Promise<void> {
    // A UTF-16 code unit takes at most 3 UTF-8 bytes, so this much room always fits the text.
    const batch = this.#batchWithRoom(json.length * 3 + 1);
    batch.used += batch.buffer.write(json, batch.used);
    batch.buffer[batch.used++] = 10;
    return this.#added(batch, 1);
  }

  /** Queues lines (each ending in "\n"); resolves per the durability mode. */
  write(text: string, lines: number): Promise<void> {
    const batch = this.#batchWithRoom(text.length * 3);
    batch.used += batch.buffer.write(text, batch.used);
    return this.#added(batch, lines);
  }

  /**
   * Queues one line that `encode(value, buffer, at)` writes as bytes (its "\n" included) at `at`,
   * within `bound` bytes, returning the end offset; resolves per the durability mode. Encoding
   * straight into the batch buffer makes no string (and no closure) per event.
   */
  writeEncoded<T>(bound: number, encode: (value: T, buffer: Buffer, at: number) => number, value: T): Promise<void> {
    const batch = this.#batchWithRoom(bound);
    batch.used = encode(value, batch.buffer, batch.used);
    return this.#added(batch, 1);
  }

  /** The batch new lines join, with at least `bytes` bytes of room. */
  #batchWithRoom(bytes: number): Batch {
    const mode = this.#o.durability;
    let batch = this.#queue[this.#queue.length - 1];
    if (batch === undefined || mode === "fsync") {
      // "fsync" queues one small batch per write; the others fill one pooled buffer per batch.
      const buffer =
        mode === "fsync" ? Buffer.allocUnsafe(bytes) : (this.#pool.pop() ?? Buffer.allocUnsafe(MIN_BUFFER));
      batch = newBatch(mode !== "none", buffer);
      this.#queue.push(batch);
    }
    const room = batch.used + bytes;
    if (room > batch.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(room, batch.buffer.length * 2));
      batch.buffer.copy(grown, 0, 0, batch.used);
      batch.buffer = grown;
    }
    return batch;
  }

  #added(batch: Batch, lines: number): Promise<void> {
    batch.lines += lines;
    if (this.#o.durability === "fsync" || batch.lines >= this.#o.batchEvents) this.#kick();
    else if (this.#timer === null && !this.#busy) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#kick();
      }, this.#o.batchDelayMs);
    }
    return batch.promise ?? RESOLVED;
  }

  #kick(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (!this.#busy) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    const sync = this.#o.durability === "batch" || this.#o.durability === "fsync";
    for (let batch = this.#queue.shift(); batch !== undefined; batch = this.#queue.shift()) {
      try {
        const file = await this.#fileFor(this.#o.clock.now());
        const { buffer, used } = batch;
        for (let at = 0; at < used; ) at += (await file.handle.write(buffer, at, used - at)).bytesWritten;
        file.bytes += used;
        if (sync) await this.#o.fdatasync(file.handle);
        batch.resolve();
      } catch (error) {
        if (batch.promise === null) this.#o.onBackgroundError(error);
        batch.reject(error);
      }
      const { buffer } = batch;
      if (this.#pool.length < POOL_LIMIT && buffer.length >= MIN_BUFFER && buffer.length <= MAX_POOLED) {
        this.#pool.push(buffer);
      }
    }
    this.#busy = false;
    const drained = this.#drained;
    this.#drained = [];
    for (const wake of drained) wake();
  }

  async #fileFor(now: number): Promise<OpenFile> {
    const minute = now - (now % 60_000);
    const current = this.#file;
    if (current !== null && current.minute === minute) return current;
    if (current !== null) await this.#closeFile(current);
    if (!this.#madeDirs) {
      await mkdir(this.#dirs.logs, { recursive: true });
      this.#madeDirs = true;
    }
    const path = join(this.#dirs.logs, `${minuteStamp(minute)}-${this.#suffix}.jsonl`);
    const handle = await open(path, "a");
    const bytes = (await handle.stat()).size;
    this.#file = { minute, path, handle, bytes };
    return this.#file;
  }

  async #closeFile(file: OpenFile): Promise<void> {
    this.#file = null;
    await file.handle.close();
    if (file.bytes === 0) {
      // Only remove a file that is still empty and still ours to remove.
      const size = await stat(file.path).then(
        (s) => s.size,
        () => -1,
      );
      if (size === 0) await unlink(file.path).catch(() => {});
    }
  }

  /** Writes and syncs everything queued, then closes the file (removing it when empty). */
  async close(): Promise<void> {
    if (this.#queue.length > 0) this.#kick();
    if (this.#busy) await new Promise<void>((resolve) => this.#drained.push(resolve));
    const file = this.#file;
    if (file !== null) {
      await this.#o.fdatasync(file.handle).catch(() => {});
      await this.#closeFile(file);
    }
  }
}
