import assert from "node:assert/strict";
import { it } from "node:test";
import pg from "pg";
import { PostgresTrackerStore } from "../../../src/postgres.ts";
import { runTrackerStoreContract } from "../../../src/testing.ts";
import type { StoredTracker } from "../../../src/tracker/stored-tracker.ts";
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

const NOW = Date.UTC(2025, 0, 6, 12);
const TTL = 3_600_000;

function doc(groupId: string, name: string, progress: number): StoredTracker {
  return {
    schemaVersion: 1,
    type: "count",
    groupId,
    name,
    seq: 1,
    version: 1,
    definition: {
      conditions: [{ path: "kind", op: "eq", value: name }],
      targets: [100],
      limiters: [],
      resetPolicy: 2,
      progressMode: "cumulative",
      overflow: "carry",
      catchUp: false,
      loopForever: false,
      coerceNumbers: false,
      initProgress: 0,
    },
    state: { progress, stageIndex: 0, stagesCompleted: 0, limited: false, limiters: [], completedAt: null },
    expiresAt: null,
    createdAt: NOW,
    updatedAt: NOW,
  };
}

function look(store: PostgresTrackerStore, groupId: string, eventIds: string[] = []) {
  return store.transact(groupId, { now: NOW, eventIds, eventIdTtlMs: TTL }, (v) => ({
    upsert: [],
    remove: [],
    record: [],
    result: { applied: [...v.applied].sort(), version: v.version, rows: v.rows },
  }));
}

it("PostgresTrackerStore: values sent as SQL literals round-trip exactly (quotes, backslashes, $n, unicode)", async (t) => {
  const db = await usePostgres(t);
  if (db === undefined) return;
  const store = new PostgresTrackerStore({ client: db.pool });
  await store.migrate();
  const nasty = ["it's", "back\\slash", "E'\\x41'", "$1 $2::text", "');DROP TABLE trackers;--", "ünï ☃ 𝄞", "\\'"];
  for (const groupId of nasty) {
    const rows = nasty.map((name, i) => ({ ...doc(groupId, name, i), seq: i + 1 }));
    await store.transact(groupId, { now: NOW, eventIds: nasty, eventIdTtlMs: TTL }, () => ({
      upsert: rows,
      remove: [],
      record: nasty,
      result: undefined,
    }));
    const seen = await look(store, groupId, [...nasty, "absent"]);
    assert.deepEqual(seen.applied, [...nasty].sort());
    assert.deepEqual(seen.rows, rows);
    assert.deepEqual(await new PostgresTrackerStore({ client: db.pool }).read(groupId), rows, "read back cold");
    await store.transact(groupId, { now: NOW, eventIdTtlMs: TTL }, () => ({
      upsert: [],
      remove: [nasty[0] as string, nasty[4] as string],
      record: [],
      result: undefined,
    }));
    assert.equal((await store.read(groupId)).length, nasty.length - 2);
  }
});

it("PostgresTrackerStore: a transact that waited for the group lock sees the ids and rows the holder committed", async (t) => {
  const db = await usePostgres(t);
  if (db === undefined) return;
  const store = new PostgresTrackerStore({ client: db.pool, schema: db.schema });
  await store.migrate();
  await store.transact("g", { now: NOW, eventIdTtlMs: TTL }, () => ({
    upsert: [doc("g", "a", 1)],
    remove: [],
    record: ["e0"],
    result: undefined,
  }));
  assert.equal((await look(store, "g", ["e0"])).version, 1, "rows cached at version 1");
  // Another writer holds the group lock and commits an id and a changed row while we wait for it.
  // (released here, not in t.after: the pool's own after hook waits for every client)
  const holder = await db.pool.connect();
  let seen: ReturnType<typeof look>;
  try {
    await holder.query("BEGIN");
    await holder.query("SELECT 1 FROM tracker_groups WHERE group_id = 'g' FOR UPDATE");
    await holder.query("INSERT INTO tracker_event_ids (group_id, event_id, applied_at) VALUES ('g', 'e1', $1)", [NOW]);
    await holder.query(`UPDATE trackers SET state = jsonb_set(state, '{progress}', '7') WHERE group_id = 'g'`);
    await holder.query("UPDATE tracker_groups SET version = version + 1 WHERE group_id = 'g'");
    seen = look(store, "g", ["e0", "e1", "e2"]);
    for (;;) {
      const waiting = await db.pool.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND position($1 in query) > 0",
        [`"${db.schema}".tracker_groups`],
      );
      if (waiting.rows[0].n > 0) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    await holder.query("COMMIT");
  } finally {
    holder.release(true);
  }
  const after = await seen;
  assert.deepEqual(after.applied, ["e0", "e1"], "the id committed while we waited is applied");
  assert.equal(after.version, 2);
  assert.equal(after.rows[0]?.state.progress, 7, "the cached rows were not reused");
});

it("PostgresTrackerStore: a group flushed and rebuilt elsewhere to the same version is re-read, not served from cache", async (t) => {
  const db = await usePostgres(t);
  if (db === undefined) return;
  const mine = new PostgresTrackerStore({ client: db.pool });
  await mine.migrate();
  const other = new PostgresTrackerStore({ client: db.pool });
  const put = (store: PostgresTrackerStore, progress: number) =>
    store.transact("g", { now: NOW, eventIdTtlMs: TTL }, () => ({
      upsert: [doc("g", "a", progress)],
      remove: [],
      record: [],
      result: undefined,
    }));
  await put(mine, 1);
  assert.equal((await look(mine, "g")).rows[0]?.state.progress, 1);
  await other.flush();
  await put(other, 99);
  const seen = await look(mine, "g");
  assert.deepEqual([seen.version, seen.rows[0]?.state.progress], [1, 99]);
});
