/**
 * `SqliteRollups`' commit thread: a worker with its own connection to the same file runs the
 * commits (`meter-sqlite-commit.ts`), so the processor parses and aggregates the next batch on the
 * main thread while one commits. better-sqlite3 is synchronous: on one thread a commit (the
 * upserts, the WAL write, the fsync) stopped everything else for about 40% of processing time.
 *
 * Commits run one at a time in the order posted, each in its own transaction; a reply comes only
 * after its transaction committed (durable) or rolled back. Reads stay on the store's connection:
 * WAL lets them run beside a commit and they see it once it returned. If the thread fails, pending
 * commits reject (a commit that committed before the failure is safe: its rows come back and its
 * markers skip them) and the store commits on its own connection from then on.
 *
 * A thread idle for `idleMs` (no request in flight) calls `onIdle` once, and the store closes it: a
 * thread and a connection cost memory only while a processor is busy (the next commit boots a new
 * one, which takes tens of milliseconds).
 */

import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { LockLostError, TallyError, type TallyErrorCode } from "../../errors.ts";
import type { CommitResult } from "../../meter/rollups.ts";
import { rowBuffers } from "./meter-rollup-rows.ts";
import type { CommitWork, RenewWork } from "./meter-sqlite-commit.ts";
import type { ThreadReply, ThreadRequest } from "./meter-sqlite-commit-worker.ts";

// The worker module has this file's extension: .js when built, .ts when run from source. tsx does
// not register its loader in worker threads, so from source the thread registers it first.
const WORKER_URL = new URL(`./meter-sqlite-commit-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)
  .href;
const BOOT = `(async () => {
  if (${JSON.stringify(WORKER_URL)}.endsWith(".ts")) (await import("tsx/esm/api")).register();
  await import(${JSON.stringify(WORKER_URL)});
})().catch((error) => setImmediate(() => { throw error; }));`;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

function errorFrom(reply: { name: string; code: string | null; message: string }): Error {
  if (reply.name === "LockLostError") return new LockLostError(reply.message);
  if (reply.code !== null) return new TallyError(reply.code as TallyErrorCode, reply.message);
  return new TallyError("STORE_UNAVAILABLE", `the SQLite commit failed: ${reply.message}`);
}

export interface CommitThreadOptions {
  path: string;
  prefix: string;
  /** How long the thread may wait for work before `onIdle` is called. */
  idleMs: number;
  onIdle: () => void;
}

export class CommitThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  readonly #idleMs: number;
  readonly #onIdle: () => void;
  #idleTimer: NodeJS.Timeout | undefined;
  #next = 0;
  #failure: Error | null = null;
  #closing = false;

  constructor({ path, prefix, idleMs, onIdle }: CommitThreadOptions) {
    this.#idleMs = idleMs;
    this.#onIdle = onIdle;
    this.#worker = new Worker(BOOT, { eval: true, workerData: { path, prefix } });
    this.#worker.unref();
    this.#worker.on("message", (reply: ThreadReply) => this.#settle(reply));
    this.#worker.on("error", (error) => this.#fail(error));
    this.#worker.on("exit", (code) => this.#fail(new Error(`the SQLite commit thread exited with code ${code}`)));
  }

  /** Set once the thread failed; the caller then commits on its own connection. */
  get failure(): Error | null {
    return this.#failure;
  }

  commit(work: CommitWork): Promise<CommitResult> {
    return this.#request({ id: 0, work }) as Promise<CommitResult>;
  }

  /** Renews a lease on the thread's connection, in order with the commits (see `SqliteRollups.renewLease`). */
  renew(work: RenewWork): Promise<boolean> {
    return this.#request({ id: 0, renew: work }) as Promise<boolean>;
  }

  /** Closes the thread's connection once the commits before this call are done. */
  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#idleTimer);
    if (this.#failure !== null) return;
    await this.#request({ id: 0, close: true }).catch(() => {});
    await this.#worker.terminate();
  }

  #request(request: ThreadRequest): Promise<unknown> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const id = ++this.#next;
    request.id = id;
    clearTimeout(this.#idleTimer);
    return new Promise((resolve, reject) => {
      // A pending commit keeps the process alive; an idle thread does not.
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage(request, "work" in request ? rowBuffers(request.work.rows) : []);
    });
  }

  #settle(reply: ThreadReply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) {
      this.#worker.unref();
      if (!this.#closing) {
        this.#idleTimer = setTimeout(this.#onIdle, this.#idleMs);
        this.#idleTimer.unref();
      }
    }
    if ("error" in reply) pending.reject(errorFrom(reply.error));
    else pending.resolve("result" in reply ? reply.result : "renewed" in reply ? reply.renewed : undefined);
  }

  #fail(cause: unknown): void {
    if (this.#failure !== null) return;
    this.#failure = new TallyError("STORE_UNAVAILABLE", "the SQLite commit thread failed; see cause", { cause });
    for (const pending of this.#pending.values()) pending.reject(this.#failure);
    this.#pending.clear();
  }
}
