import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { SqliteRollups } from "../../../src/storage/sqlite/meter-rollups.ts";
import { TIER_CODE } from "../../../src/storage/sqlite/meter-statements.ts";
import { meterRollupsContract } from "../../../src/testing/meter-rollups-contract.ts";

const dir = mkdtempSync(join(tmpdir(), "tally-sqlite-meter-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const COLUMNS: Record<string, string> = {
  count: "count",
  successCount: "success_count",
  durationMsMin: "duration_ms_min",
  durationMsHist: "duration_ms_hist",
};

meterRollupsContract("SqliteRollups", async () => {
  const path = join(dir, `contract-${++n}.db`);
  const rollups = new SqliteRollups({ path });
  const peers: SqliteRollups[] = [];
  return {
    rollups,
    peer: () => {
      const peer = new SqliteRollups({ path });
      peers.push(peer);
      return peer;
    },
    leaseClock: "caller",
    corrupt: async (ref, tier, start, key, field, value) => {
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
    },
    close: async () => {
      for (const p of peers) await p.close();
      await rollups.close();
    },
  };
});

describe("SqliteRollups", () => {
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
});
