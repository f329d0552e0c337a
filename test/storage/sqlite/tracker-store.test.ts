import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it, type TestContext } from "node:test";
import Database from "better-sqlite3";
import { SqliteTrackerStore } from "../../../src/sqlite.ts";
import { runTrackerStoreContract } from "../../../src/testing.ts";
import { CountTracker, TrackingManager } from "../../../src/tracker.ts";
import { runChild } from "../../support/child.ts";

const crashWriter = new URL("../../tracker/fixtures/crash-writer.ts", import.meta.url).pathname;

function tempFile(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "tally-trk-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "trackers.db");
}

runTrackerStoreContract(
  async (t) => {
    const path = tempFile(t);
    return {
      store: new SqliteTrackerStore({ path }),
      reopen: () => new SqliteTrackerStore({ path }),
      sibling: () => new SqliteTrackerStore({ path, tablePrefix: "other_" }),
      crashMidTransaction: async (groupId) => {
        const r = await runChild(crashWriter, ["sqlite", groupId], { env: { TRACKER_SQLITE_PATH: path } });
        assert.equal(r.signal, "SIGKILL", r.stderr);
        assert.match(r.stdout, /writes done/);
      },
    };
  },
  { name: "SqliteTrackerStore" },
);

it("SqliteTrackerStore: a user-supplied db stays open after close; eventIds survive a restart", async (t) => {
  const path = tempFile(t);
  const db = new Database(path);
  t.after(() => db.close());
  const first = new TrackingManager({ store: new SqliteTrackerStore({ db }) });
  await first.addTracker("g", new CountTracker({ name: "t", target: 10, conditions: [] }));
  await first.track("g", {}, { eventId: "e1" });
  await first.close();
  assert.equal((db.prepare("select count(*) as n from tally_trackers").get() as { n: number }).n, 1);
  const second = new TrackingManager({ store: new SqliteTrackerStore({ path }) });
  assert.equal((await second.track("g", {}, { eventId: "e1" })).duplicate, true);
  assert.equal((await second.getTrackers("g"))[0]?.progress, 1);
  await second.close();
  assert.throws(() => new SqliteTrackerStore({} as never), { code: "INVALID_ARGUMENT" });
});
