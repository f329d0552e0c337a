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

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface OpenFile {
  minute: number;
  path: string;
  handle: FileHandle;
  bytes: number;
}

export class LogWriter {
  readonly #dirs: StreamDirs;
  readonly #o: WriterOptions;
  readonly #suffix = `${HOST}-${process.pid}-${threadId}-${randomBytes(4).toString("hex")}`;
  #chunks: string[] = [];
  #lines = 0;
  #waiters: Waiter[] = [];
  #timer: NodeJS.Timeout | null = null;
  #busy = false;
  #file: OpenFile | null = null;
  #madeDirs = false;
  #drained: Array<() => void> = [];

  constructor(dirs: StreamDirs, options: WriterOptions) {
    this.#dirs = dirs;
    this.#o = options;
  }

  /** Queues lines (each ending in "\n"); resolves per the durability mode. */
  write(text: string, lines: number): Promise<void> {
    this.#chunks.push(text);
    this.#lines += lines;
    const mode = this.#o.durability;
    let done: Promise<void>;
    if (mode === "none") done = Promise.resolve();
    else done = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (mode === "fsync" || this.#lines >= this.#o.batchEvents) this.#kick();
    else if (this.#timer === null && !this.#busy) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#kick();
      }, this.#o.batchDelayMs);
    }
    return done;
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
    while (this.#chunks.length > 0) {
      const fsyncEach = this.#o.durability === "fsync";
      const chunks = fsyncEach ? [this.#chunks.shift() as string] : this.#chunks;
      const waiters = fsyncEach ? [this.#waiters.shift()].filter((w) => w !== undefined) : this.#waiters;
      if (fsyncEach) this.#lines = Math.max(0, this.#lines - 1);
      else {
        this.#chunks = [];
        this.#waiters = [];
        this.#lines = 0;
      }
      try {
        const file = await this.#fileFor(this.#o.clock.now());
        const text = chunks.length === 1 ? (chunks[0] as string) : chunks.join("");
        await file.handle.write(text);
        file.bytes += Buffer.byteLength(text);
        if (this.#o.durability === "batch" || fsyncEach) await this.#o.fdatasync(file.handle);
        for (const w of waiters) w.resolve();
      } catch (error) {
        if (waiters.length === 0) this.#o.onBackgroundError(error);
        for (const w of waiters) w.reject(error);
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
    if (this.#chunks.length > 0) this.#kick();
    if (this.#busy) await new Promise<void>((resolve) => this.#drained.push(resolve));
    const file = this.#file;
    if (file !== null) {
      await this.#o.fdatasync(file.handle).catch(() => {});
      await this.#closeFile(file);
    }
  }
}
