/**
 * `FilePerEvent(dir, ext)`: one file per key (see `../storage.ts` for the contract).
 *
 * A save writes `<name>.tmp-<pid>-<random>`, fsyncs it, renames it over the target and fsyncs the
 * directory, so a crash at any step leaves the old file or the new one, never a mix, and a resolved
 * save survives power loss (`durable: true`). `saveMany` writes files concurrently and fsyncs the
 * directory once; each file is atomic, the batch is not (`atomicBatch: false`).
 * Names: see `file-names.ts`. The directory is created on first use, and that first use removes
 * temp files left by writers that are no longer running.
 */

import type { Dirent } from "node:fs";
import { mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import { TallyError } from "../../errors.ts";
import { checkKey, checkValue, lastPerKey, type Storage, type StorageCapabilities, storageFailed } from "../storage.ts";
import {
  fileNameFor,
  isHashedName,
  keyOfName,
  normaliseExtension,
  tempNameFor,
  tempWriterPid,
  unescapeKey,
} from "./file-names.ts";

const NAME = "FilePerEvent";
/** Files written at once by `saveMany`: enough to overlap fsyncs, few enough to spare descriptors. */
const WRITE_CONCURRENCY = 16;

export class FilePerEvent implements Storage {
  readonly capabilities: StorageCapabilities = Object.freeze({ atomicBatch: false, durable: true, crossProcess: true });
  /** The absolute directory the files live in. */
  readonly dir: string;
  /** The extension, with its dot. */
  readonly ext: string;
  #ready: Promise<void> | undefined;

  /** @param ext file extension with or without the dot, e.g. ".bin" or "json". */
  constructor(dir: string, ext = ".bin") {
    if (typeof dir !== "string" || dir.trim() === "") {
      throw new TallyError("INVALID_CONFIG", `FilePerEvent needs a directory path, got ${JSON.stringify(dir)}`);
    }
    const normalised = normaliseExtension(ext);
    if (normalised === undefined) {
      throw new TallyError(
        "INVALID_CONFIG",
        `FilePerEvent extension ${JSON.stringify(ext)} is not usable: pass letters, digits, "_" or "-" after an optional dot, e.g. ".bin" or "json"`,
        { details: { ext } },
      );
    }
    this.dir = resolve(dir);
    this.ext = normalised;
  }

  async save(key: string, value: Uint8Array): Promise<void> {
    checkKey(NAME, key);
    checkValue(NAME, key, value);
    await this.#open();
    await this.#write(key, value);
    await this.#syncDir(key);
  }

  async saveMany(entries: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void> {
    const batch = lastPerKey(NAME, entries);
    if (batch.length === 0) return;
    await this.#open();
    let next = 0;
    const failures: Array<{ key: string; error: unknown }> = [];
    const worker = async (): Promise<void> => {
      while (next < batch.length) {
        const entry = batch[next++];
        if (entry === undefined) break;
        try {
          await this.#write(entry[0], entry[1]);
        } catch (error) {
          failures.push({ key: entry[0], error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, batch.length) }, worker));
    await this.#syncDir(batch[0]?.[0] ?? "");
    if (failures.length > 0) {
      const keys = failures.map((f) => f.key);
      throw new TallyError(
        "STORAGE_FAILED",
        `${NAME}: ${failures.length} of ${batch.length} files could not be written in ${this.dir} (the others were): ${keys
          .slice(0, 10)
          .map((k) => JSON.stringify(k))
          .join(", ")}${keys.length > 10 ? ", …" : ""}`,
        { cause: failures[0]?.error, details: { keys } },
      );
    }
  }

  async load(key: string): Promise<Uint8Array | undefined> {
    checkKey(NAME, key);
    await this.#open();
    const { name, header } = fileNameFor(key, this.ext);
    const path = join(this.dir, name);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if (errorCode(error) === "ENOENT") return undefined;
      throw storageFailed(`${NAME}: could not read ${JSON.stringify(key)} from ${path}`, error, { key });
    }
    // A copy: a read buffer may be a view into a shared pool.
    if (header === undefined) return new Uint8Array(bytes);
    const stored = splitHeader(bytes);
    if (stored === undefined) {
      throw storageFailed(`${NAME}: could not read ${JSON.stringify(key)} from ${path}`, new Error("no key header"), {
        key,
      });
    }
    // Another key with the same 128-bit hash prefix: practically impossible, and then not ours.
    if (stored.header !== header) return undefined;
    return stored.value;
  }

  async delete(key: string): Promise<void> {
    checkKey(NAME, key);
    await this.#open();
    const path = join(this.dir, fileNameFor(key, this.ext).name);
    try {
      await unlink(path);
    } catch (error) {
      if (errorCode(error) === "ENOENT") return;
      throw storageFailed(`${NAME}: could not delete ${JSON.stringify(key)} (${path})`, error, { key });
    }
    await this.#syncDir(key);
  }

  async listKeys(): Promise<string[]> {
    await this.#open();
    let entries: Dirent[];
    try {
      entries = await readdir(this.dir, { withFileTypes: true });
    } catch (error) {
      throw storageFailed(`${NAME}: could not list ${this.dir}`, error);
    }
    const keys: string[] = [];
    const hashed: string[] = [];
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const key = keyOfName(entry.name, this.ext);
      if (key !== undefined) keys.push(key);
      else if (isHashedName(entry.name, this.ext)) hashed.push(entry.name);
    }
    for (const name of hashed) {
      const key = await this.#hashedKey(name);
      if (key !== undefined) keys.push(key);
    }
    return keys;
  }

  /** The key a hashed file holds, or undefined if it vanished or is not one of ours. */
  async #hashedKey(name: string): Promise<string | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.dir, name));
    } catch (error) {
      if (errorCode(error) === "ENOENT") return undefined;
      throw storageFailed(`${NAME}: could not read ${join(this.dir, name)}`, error);
    }
    const stored = splitHeader(bytes);
    const key = stored === undefined ? undefined : unescapeKey(stored.header.slice(0, -1));
    return key !== undefined && fileNameFor(key, this.ext).name === name ? key : undefined;
  }

  #open(): Promise<void> {
    this.#ready ??= this.#prepare().catch((error: unknown) => {
      this.#ready = undefined;
      throw storageFailed(`${NAME}: could not open directory ${this.dir}`, error);
    });
    return this.#ready;
  }

  async #prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const pid = tempWriterPid(entry.name);
      if (pid === undefined || pid === process.pid || isRunning(pid)) continue;
      await unlink(join(this.dir, entry.name)).catch((error: unknown) => {
        if (errorCode(error) !== "ENOENT") throw error;
      });
    }
  }

  async #write(key: string, value: Uint8Array): Promise<void> {
    const { name, header } = fileNameFor(key, this.ext);
    const target = join(this.dir, name);
    const data = header === undefined ? value : Buffer.concat([Buffer.from(header, "utf8"), value]);
    let temp = join(this.dir, tempNameFor(name, process.pid));
    try {
      const handle = await open(temp, "wx", 0o644).catch((error: unknown) => {
        // A dead writer with our pid left this exact name behind: pick another.
        if (errorCode(error) !== "EEXIST") throw error;
        temp = join(this.dir, tempNameFor(name, process.pid));
        return open(temp, "wx", 0o644);
      });
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, target);
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw storageFailed(`${NAME}: could not save ${JSON.stringify(key)} to ${target}`, error, { key });
    }
  }

  /** Makes the renames durable: a file's new name lives in the directory, not in the file. */
  async #syncDir(key: string): Promise<void> {
    let handle: Awaited<ReturnType<typeof open>> | undefined;
    try {
      handle = await open(this.dir, "r");
      await handle.sync();
    } catch (error) {
      // Some platforms (Windows) cannot open or fsync a directory; the rename is all they offer.
      const code = errorCode(error);
      if (code !== "EISDIR" && code !== "EPERM" && code !== "EINVAL" && code !== "EACCES") {
        throw storageFailed(
          `${NAME}: could not sync directory ${this.dir} after writing ${JSON.stringify(key)}`,
          error,
          {
            key,
          },
        );
      }
    } finally {
      await handle?.close().catch(() => {});
    }
  }
}

function splitHeader(bytes: Buffer): { header: string; value: Uint8Array } | undefined {
  const end = bytes.indexOf(10);
  if (end === -1) return undefined;
  return { header: bytes.toString("latin1", 0, end + 1), value: new Uint8Array(bytes.subarray(end + 1)) };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === "EPERM";
  }
}

function errorCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null ? (error as { code?: string }).code : undefined;
}
