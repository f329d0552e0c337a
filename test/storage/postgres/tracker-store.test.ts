import assert from "node:assert/strict";
import { it } from "node:test";
import pg from "pg";
import { PostgresTrackerStore } from "../../../src/postgres.ts";
import { runTrackerStoreContract } from "../../../src/testing.ts";
import { CountTracker, TrackingManager } from "../../../src/tracker.ts";
import { runChild } from "../../support/child.ts";
import { usePostgres } from "../../support/services.ts";

const crashWriter = new URL("../../tracker/fixtures/crash-writer.ts", import.meta.url).pathname;

runTrackerStoreContract(
  async (t) => {
    const db = await usePostgres(t);
    if (db === undefined) return undefined;
    const store = new PostgresTrackerStore({ client: db.pool });
    await store.migrate();
    return {
      store,
      reopen: () => new PostgresTrackerStore({ client: db.pool }),
      sibling: async () => {
        const other = new PostgresTrackerStore({ client: db.pool, schema: `${db.schema}_sib`.slice(0, 63) });
        await other.migrate();
        t.after(async () => {
          const admin = new pg.Client({ connectionString: db.url });
          await admin.connect();
          await admin.query(`drop schema if exists "${`${db.schema}_sib`.slice(0, 63)}" cascade`);
          await admin.end();
        });
        return other;
      },
      crashMidTransaction: async (groupId) => {
        const r = await runChild(crashWriter, ["postgres", groupId], { env: { TRACKER_PG_URL: db.urlWithSchema } });
        assert.equal(r.signal, "SIGKILL", r.stderr);
        assert.match(r.stdout, /writes done/);
      },
    };
  },
  { name: "PostgresTrackerStore" },
);

it("PostgresTrackerStore: missing tables name the fix; a single pg.Client works and stays open", async (t) => {
  const db = await usePostgres(t);
  if (db === undefined) return;
  const bare = new PostgresTrackerStore({ client: db.pool });
  await assert.rejects(
    bare.read("g"),
    (e: Error & { code?: string }) => e.code === "STORE_FAILED" && /migrate/.test(e.message),
  );
  const client = new pg.Client({ connectionString: db.urlWithSchema });
  await client.connect();
  t.after(() => client.end());
  const store = new PostgresTrackerStore({ client });
  await store.migrate();
  const manager = new TrackingManager({ store });
  await manager.addTracker("g", new CountTracker({ name: "t", target: 100, conditions: [] }));
  await Promise.all(Array.from({ length: 20 }, (_, i) => manager.track("g", {}, { eventId: `e${i % 10}` })));
  assert.equal((await manager.getTrackers("g"))[0]?.progress, 10);
  await manager.close();
  assert.equal((await client.query("select 1 as one")).rows[0].one, 1);
});
