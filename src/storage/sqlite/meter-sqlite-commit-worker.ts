/**
 * The commit thread's entry (see `meter-sqlite-commit-thread.ts`): its own connection to the
 * store's file, running each posted commit (or lease renewal) in order and answering with its
 * result or its error.
 * A commit that fails here rolls back like one on the main thread; if the thread dies mid-commit,
 * SQLite discards the open transaction.
 */

import { parentPort, workerData } from "node:worker_threads";
import { isTallyError } from "../../errors.ts";
import { addHistogramJson } from "../../meter/histogram.ts";
import { type CommitWork, type RenewWork, SqliteCommitter } from "./meter-sqlite-commit.ts";
import { openSqlite } from "./meter-sqlite-database.ts";

export type ThreadRequest =
  | { id: number; work: CommitWork }
  | { id: number; renew: RenewWork }
  | { id: number; close: true };
export type ThreadReply =
  | { id: number; result: import("../../meter/rollups.ts").CommitResult }
  | { id: number; renewed: boolean }
  | { id: number; error: { name: string; code: string | null; message: string } }
  | { id: number; closed: true };

const port = parentPort;
if (port === null) throw new Error("meter-sqlite-commit-worker runs as a worker thread");
const { path, prefix } = workerData as { path: string; prefix: string };
const db = await openSqlite(path);
// journal_mode=WAL is a property of the file (the store's connection set it); these are per connection.
db.pragma("synchronous = FULL");
db.pragma("busy_timeout = 5000");
db.function("tally_hist_add", { deterministic: true }, addHistogramJson);
const committer = new SqliteCommitter(db, prefix);

port.on("message", (request: ThreadRequest) => {
  if ("close" in request) {
    db.close();
    port.postMessage({ id: request.id, closed: true } satisfies ThreadReply);
    port.close();
    return;
  }
  let reply: ThreadReply;
  try {
    reply =
      "renew" in request
        ? { id: request.id, renewed: committer.renewLease(request.renew) }
        : { id: request.id, result: committer.commit(request.work) };
  } catch (error) {
    const e = error as Error;
    reply = {
      id: request.id,
      error: {
        name: e?.name ?? "Error",
        code: isTallyError(error) ? error.code : null,
        message: String(e?.message ?? e),
      },
    };
  }
  port.postMessage(reply);
});
