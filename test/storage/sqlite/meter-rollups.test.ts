import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { aggregate } from "../../../src/meter/aggregate.ts";
import { DefinitionBuilder } from "../../../src/meter/definition.ts";
import { compileDefinition, InternedBatch } from "../../../src/meter/interned-batch.ts";
import { emptyRecord } from "../../../src/meter/rollup-record.ts";
import { SqliteRollups } from "../../../src/storage/sqlite/meter-rollups.ts";
import { CommitThread } from "../../../src/storage/sqlite/meter-sqlite-commit-thread.ts";
import { TIER_CODE } from "../../../src/storage/sqlite/meter-statements.ts";
import { type MeterRollupsHarness, meterRollupsContract } from "../../../src/testing/meter-rollups-contract.ts";

const dir = mkdtempSync(join(tmpdir(), "tally-sqlite-meter-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const COLUMNS: Record<string, string> = {
  count: "count",
  successCount: "success_count",
  durationMsMin: "duration_ms_min",
  durationMsHist: "duration_ms_hist",
};

/** Overwrites one stored field of a rollup row in the file at `path` (the contract's damaged-value cases). */
function corruptor(path: string): NonNullable<MeterRollupsHarness["corrupt"]> {
  return async (ref, tier, start, key, field, value) => {
    const db = new Database(path);
    const column = COLUMNS[field];
    assert.ok(column !== undefined, `no column mapping for ${field}`);
    db.prepare(
      `UPDATE tally_meter_rollups SET ${column} = ?
     WHERE report = (SELECT id FROM tally_meter_reports WHERE namespace = ? AND event = ? AND version = ?)
       AND tier = ? AND bucket_start = ? AND index_key = ?`,
    ).run(
      typeof value === "number" && !Number.isSafeInteger(value) ? BigInt(value) : value,
      ref.namespace,
      ref.name,
      ref.version,
      TIER_CODE[tier],
      start,
      key,
    );
    db.close();
  };
}

// The contract with commits on the commit thread and on the store's own connection (the default,
// and as with a `database` passed in); the damaged-value cases run once, on the thread.
for (const commitThread of [true, false]) {
  meterRollupsContract(`SqliteRollups (commitThread: ${commitThread})`, async () => {
    const path = join(dir, `contract-${++n}.db`);
    const rollups = new SqliteRollups({ path, commitThread });
    const peers: SqliteRollups[] = [];
    return {
      rollups,
      peer: () => {
        const peer = new SqliteRollups({ path, commitThread });
        peers.push(peer);
        return peer;
      },
      leaseClock: "caller",
      ...(commitThread ? { corrupt: corruptor(path) } : {}),
      close: async () => {
        for (const p of peers) await p.close();
        await rollups.close();
      },
    };
  });
}

describe("SqliteRollups", () => {
  it("stores the same rows from a commit's columns (on the commit thread) as from its delta objects", async () => {
    const def = new DefinitionBuilder()
      .indexBy("customer")
      .indexBy("provider", "queue")
      .measureIntervalBy("customer", { groupBy: "provider" })
      .build("job", 1);
    const events = new InternedBatch(compileDefinition(def), 4);
    for (let i = 0; i < 300; i++) {
      events.add({
        status: i % 7 === 0 ? "failure" : i % 11 === 0 ? "skipped" : "success",
        startedAt: Date.UTC(2031, 0, 6) + i * 37_000,
        durationMs: i % 13 === 0 ? -1 : (i * 7919) % 5000,
        params: { customer: i % 9, provider: i % 2 === 0 ? "a" : "b", queue: i % 5 === 0 ? null : "q" },
      });
    }
    const made = aggregate(events, new Map());
    const ref = { namespace: "t", name: "job", version: 1 };
    const viaColumns = new SqliteRollups({ path: join(dir, "columns.db"), commitThread: true });
    const viaObjects = new SqliteRollups({ path: join(dir, "objects.db"), commitThread: false });
    const base = { intervalState: [], markers: [], fence: null, now: 0 };
    for (const store of [viaColumns, viaObjects]) {
      // Twice, so the second commit merges into every stored row.
      for (let k = 0; k < 2; k++) {
        const batch =
          store === viaColumns ? { ...base, rollups: [], columns: made.columns } : { ...base, rollups: made.rollups };
        assert.deepEqual(await store.commit(ref, batch), { ok: true });
      }
    }
    const read = async (store: SqliteRollups) => {
      const out = [];
      for (const tier of ["minute", "hour", "day"] as const) {
        const ofTier = made.rollups.filter((r) => r.tier === tier);
        const starts = [...new Set(ofTier.map((r) => r.bucketStart))];
        for (const key of [...new Set(ofTier.map((r) => r.indexKey))].sort()) {
          out.push(...(await store.readBuckets(ref, tier, starts, key)));
        }
      }
      return out;
    };
    const stored = await read(viaColumns);
    assert.equal(stored.length, made.rollups.length);
    assert.deepEqual(stored, await read(viaObjects));
    await viaColumns.close();
    await viaObjects.close();
  });

  it("commits on its own connection when the commit thread fails", async () => {
    const path = join(dir, "thread-fails.db");
    const rollups = new SqliteRollups({ path, commitThread: true });
    await rollups.open();
    // The thread opens the path anew and finds an empty database without the tables.
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
    const ref = { namespace: "t", name: "job", version: 1 };
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    try {
      const d = { ...emptyRecord("minute", 60_000, "", "all"), count: 2, successCount: 2 };
      const batch = {
        rollups: [d],
        intervalState: [],
        markers: [{ unit: "u", expected: 0, high: 2 }],
        fence: null,
        now: 1,
      };
      assert.deepEqual(await rollups.commit(ref, batch), { ok: true });
      assert.deepEqual(await rollups.readMarkers(ref, ["u"]), new Map([["u", 2]]));
      assert.equal((await rollups.readBuckets(ref, "minute", [60_000], "all"))[0]?.count, 2);
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(warnings.some((w) => w.includes("commit thread failed")));
    } finally {
      process.off("warning", onWarning);
      await rollups.close();
    }
  });

  it("uses a database the caller passes and leaves it open", async () => {
    const db = new Database(join(dir, "given.db"));
    const rollups = new SqliteRollups({ database: db, tablePrefix: "custom_meter" });
    await rollups.writeWatermark("k", 5);
    assert.equal(await rollups.readWatermark("k"), 5);
    await rollups.close();
    assert.equal(db.open, true);
    assert.equal((db.prepare("SELECT ms FROM custom_meter_watermarks").get() as { ms: number }).ms, 5);
    db.close();
  });

  it("refuses tables of another schema version", async () => {
    const path = join(dir, "mismatch.db");
    const first = new SqliteRollups({ path });
    await first.open();
    await first.close();
    const db = new Database(path);
    db.prepare("UPDATE tally_meter_meta SET value = '99' WHERE key = 'schema_version'").run();
    db.close();
    await assert.rejects(new SqliteRollups({ path }).readWatermark("x"), { code: "SCHEMA_MISMATCH" });
  });

  it("rejects a bad table prefix", () => {
    assert.throws(() => new SqliteRollups({ path: ":memory:", tablePrefix: "x; drop" }), { code: "INVALID_OPTION" });
  });

  it("a lease expires by the now it is given", async () => {
    const rollups = new SqliteRollups({ path: join(dir, "lease.db") });
    const a = await rollups.acquireLease("k", 1000, 0);
    assert.ok(a);
    assert.equal(await rollups.acquireLease("k", 1000, 999), null);
    const b = await rollups.acquireLease("k", 1000, 1000);
    assert.equal(b?.fence, (a?.fence ?? 0) + 1);
    await rollups.close();
  });

  it("renews a lease on the commit thread while it runs, in order with the commits", async () => {
    const path = join(dir, "lease-thread.db");
    const rollups = new SqliteRollups({ path, commitThread: true });
    const ref = { namespace: "t", name: "job", version: 1 };
    const def = new DefinitionBuilder().indexBy("customer").build("job", 1);
    // Ensuring a definition starts the thread.
    await rollups.ensureDefinition(ref, def);
    const lease = await rollups.acquireLease("k", 1000, 0);
    assert.ok(lease);
    const d = { ...emptyRecord("minute", 60_000, "", "all"), count: 1, successCount: 1 };
    const commit = rollups.commit(ref, { rollups: [d], intervalState: [], markers: [], fence: lease, now: 10 });
    assert.equal(await rollups.renewLease(lease, 1000, 900), true);
    assert.deepEqual(await commit, { ok: true });
    // Renewed to 1900: still held at 1500, and a peer cannot take it.
    const peer = new SqliteRollups({ path });
    assert.equal(await peer.acquireLease("k", 1000, 1500), null);
    const taken = await peer.acquireLease("k", 1000, 1900);
    assert.ok(taken);
    assert.equal(await rollups.renewLease(lease, 1000, 1950), false);
    await peer.close();
    await rollups.close();
  });

  it("stops a commit thread idle for 30 s and commits on a new one afterwards", async (t) => {
    t.mock.timers.enable({ apis: ["setTimeout"] });
    const path = join(dir, "thread-idle.db");
    const first = new SqliteRollups({ path });
    await first.open();
    const idle: number[] = [];
    const thread = new CommitThread({ path, prefix: "tally_meter", idleMs: 30_000, onIdle: () => idle.push(1) });
    const lease = { key: "none", token: "t", fence: 0, expiresAt: 10, now: 0 };
    assert.equal(await thread.renew(lease), false);
    t.mock.timers.tick(29_999);
    assert.deepEqual(idle, []);
    // Work before the deadline starts the wait again.
    assert.equal(await thread.renew(lease), false);
    t.mock.timers.tick(29_999);
    assert.deepEqual(idle, []);
    t.mock.timers.tick(1);
    assert.deepEqual(idle, [1]);
    await thread.close();

    // The store closes its idle thread; the next commit runs on a new one (the default uses a thread
    // on this machine when it has two cores; forced here).
    const rollups = new SqliteRollups({ path, commitThread: true });
    const ref = { namespace: "t", name: "job", version: 1 };
    const commitOne = (unit: string, now: number) =>
      rollups.commit(ref, {
        rollups: [{ ...emptyRecord("minute", 60_000, "", "all"), count: 1, successCount: 1 }],
        intervalState: [],
        markers: [{ unit, expected: 0, high: 1 }],
        fence: null,
        now,
      });
    assert.deepEqual(await commitOne("a", 1), { ok: true });
    t.mock.timers.tick(30_000);
    assert.deepEqual(await commitOne("b", 2), { ok: true });
    assert.equal((await rollups.readBuckets(ref, "minute", [60_000], "all"))[0]?.count, 2);
    await rollups.close();
    await first.close();
  });
});
