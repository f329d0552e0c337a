import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { withFingerprint } from "../../../src/meter/definition.ts";
import { emptyRecord } from "../../../src/meter/rollup-record.ts";
import { addHistogram } from "../../../src/storage/postgres/meter-commit-rows.ts";
import { meterSchemaSql, PostgresRollups } from "../../../src/storage/postgres/meter-rollups.ts";
import { type MeterRollupsHarness, meterRollupsContract } from "../../../src/testing/meter-rollups-contract.ts";
import { usePostgres } from "../../support/services.ts";
import { requireService, scratchPostgres } from "./scale-services.ts";

const COLUMNS: Record<string, string> = {
  count: "count",
  successCount: "success_count",
  durationMsMin: "duration_ms_min",
  durationMsHist: "duration_ms_hist",
};

if (await requireService("postgres", "PostgresRollups contract (PostgreSQL)")) {
  // One schema for the file: every contract test uses its own namespace, and installing per test
  // would dominate the runtime.
  const db = await scratchPostgres();
  after(() => db.close());
  const pool = db.pool();
  const peerPool = db.pool();
  meterRollupsContract("PostgresRollups", async (): Promise<MeterRollupsHarness> => {
    const rollups = new PostgresRollups({ pool });
    return {
      rollups,
      peer: () => new PostgresRollups({ pool: peerPool }),
      leaseClock: "server",
      // bigint columns cannot hold text: a non-numeric value is stored as NULL, the closest damage.
      corrupt: async (ref, tier, start, key, field, value) => {
        const column = COLUMNS[field];
        assert.ok(column !== undefined, `no column mapping for ${field}`);
        const cast = column.endsWith("_hist") ? "jsonb" : "bigint";
        const raw = column.endsWith("_hist")
          ? String(value)
          : typeof value === "number" && Number.isFinite(value)
            ? BigInt(value).toString()
            : null;
        await pool.query(
          `UPDATE tally_meter_rollups SET ${column} = $1::${cast} WHERE namespace = $2 AND event = $3 AND version = $4 AND tier = $5 AND bucket_start = $6 AND index_key = $7`,
          [raw, ref.namespace, ref.name, ref.version, tier, start, key],
        );
      },
      close: () => rollups.close(),
    };
  });
}

describe("PostgresRollups", () => {
  it("schemaSql uses the prefix everywhere and rejects a bad one", () => {
    const sql = PostgresRollups.schemaSql("acme_meter");
    assert.equal(sql, meterSchemaSql({ tablePrefix: "acme_meter" }));
    assert.ok(sql.includes("CREATE TABLE IF NOT EXISTS acme_meter_rollups"));
    assert.ok(sql.includes("acme_meter_hist_add"));
    assert.ok(!sql.includes("{{p}}"));
    assert.throws(() => PostgresRollups.schemaSql("x; drop table y"), { code: "INVALID_OPTION" });
    assert.throws(() => new PostgresRollups({ pool: {} as never }), { code: "INVALID_OPTION" });
  });

  it("install is idempotent and concurrent installs do not collide", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    const a = new PostgresRollups({ pool: pg.pool, tablePrefix: "m1" });
    const b = new PostgresRollups({ pool: pg.pool, tablePrefix: "m1" });
    await Promise.all([a.install(), b.install(), a.install()]);
    const { rows } = await pg.pool.query("SELECT value FROM m1_meta WHERE key = 'schema_version'");
    assert.deepEqual(rows, [{ value: "2" }]);
  });

  it("refuses tables of another schema version, and missing tables without autoInstall", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    await assert.rejects(new PostgresRollups({ pool: pg.pool, autoInstall: false }).readWatermark("x"), {
      code: "NOT_CONFIGURED",
    });
    await new PostgresRollups({ pool: pg.pool }).install();
    await pg.pool.query("UPDATE tally_meter_meta SET value = '99' WHERE key = 'schema_version'");
    await assert.rejects(new PostgresRollups({ pool: pg.pool }).readWatermark("x"), { code: "SCHEMA_MISMATCH" });
  });

  it("a lease held by one pool blocks another until the database clock passes its ttl", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    const rollups = new PostgresRollups({ pool: pg.pool });
    // The caller's now is ignored: leases follow now() of the database.
    const first = await rollups.acquireLease("k", 60_000, 0);
    assert.ok(first);
    assert.equal(await rollups.acquireLease("k", 60_000, Number.MAX_SAFE_INTEGER), null);
    await pg.pool.query("UPDATE tally_meter_leases SET expires_at = now() - interval '1 second'");
    const second = await rollups.acquireLease("k", 60_000, 0);
    assert.equal(second?.fence, (first?.fence ?? 0) + 1);
  });

  it("interval identities holding U+0000 round-trip", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    const rollups = new PostgresRollups({ pool: pg.pool });
    const ref = { namespace: "n", name: "e", version: 1 };
    const values = ["a\u0000b", "\u0001x", "plain", ""];
    await rollups.commit(ref, {
      rollups: [],
      intervalState: values.map((value, i) => ({ param: "feed", value, lastMs: 100 + i })),
      markers: [],
      fence: null,
      now: 0,
    });
    const state = await rollups.readIntervalState(
      ref,
      values.map((value) => ({ param: "feed", value })),
    );
    assert.equal(state.size, 4);
    assert.equal(state.get("feed\u0000a\u0000b"), 100);
    assert.equal(state.get("feed\u0000\u0001x"), 101);
  });

  it("duplicate deltas for one bucket in a commit are merged, not rejected", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    const rollups = new PostgresRollups({ pool: pg.pool });
    const ref = { namespace: "n", name: "e", version: 1 };
    await rollups.ensureDefinition(ref, withFingerprint({ name: "e", version: 1, indexes: [[]], intervals: [] }));
    const d = emptyRecord("minute", 60_000, "", "all");
    d.count = 2;
    d.startedAtMin = 60_001;
    await rollups.commit(ref, {
      rollups: [d, { ...d, count: 3, startedAtMin: 60_000 }],
      intervalState: [],
      markers: [],
      fence: null,
      now: 0,
    });
    const [r] = await rollups.readBuckets(ref, "minute", [60_000], "all");
    assert.equal(r?.count, 5);
    assert.equal(r?.startedAtMin, 60_000);
  });

  it("histograms merged in JavaScript equal <p>_hist_add, damaged values included", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    await new PostgresRollups({ pool: pg.pool }).install();
    const delta = new Map([
      [40, 3],
      [41, 1],
      [7, 2],
      [815, 5],
    ]);
    const deltaJson = JSON.stringify(Object.fromEntries(delta));
    for (const stored of ['{"40":2,"x":1,"-3":2}', '{"40":"7","41":"zz","7":7.9}', "[1,2]", '"text"', "{}", "null"]) {
      const { rows } = await pg.pool.query("SELECT tally_meter_hist_add($1::jsonb, $2::jsonb)::text AS h", [
        stored,
        deltaJson,
      ]);
      const sql = JSON.parse((rows[0] as { h: string }).h) as unknown;
      assert.deepEqual(JSON.parse(addHistogram(stored, delta)), sql, stored);
    }
  });

  it("a bucket changed between the histogram read and the commit is merged in SQL, not overwritten", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    // A pool that lets a concurrent writer add 10 to the bucket right after the commit read it.
    let raced = false;
    const racing = {
      query: async (text: string, params?: unknown[]) => {
        const result = await pg.pool.query(text, params);
        if (!raced && text.includes("r.xmin::text")) {
          raced = true;
          await pg.pool.query(
            `UPDATE tally_meter_rollups SET count = count + 10, duration_ms_hist = tally_meter_hist_add(duration_ms_hist, '{"40":10}')`,
          );
        }
        return result;
      },
      connect: () => pg.pool.connect(),
    };
    const rollups = new PostgresRollups({ pool: racing });
    const ref = { namespace: "n", name: "e", version: 1 };
    const d = emptyRecord("minute", 60_000, "", "all");
    d.count = 1;
    d.durationMsHist.set(40, 1);
    const commit = (unit: string) =>
      rollups.commit(ref, {
        rollups: [d],
        intervalState: [],
        markers: [{ unit, expected: 0, high: 1 }],
        fence: null,
        now: 0,
      });
    assert.deepEqual(await commit("a"), { ok: true }); // inserts the bucket (nothing to read yet)
    raced = false;
    assert.deepEqual(await commit("b"), { ok: true }); // reads it, loses the race, merges in SQL
    assert.ok(raced);
    const [r] = await rollups.readBuckets(ref, "minute", [60_000], "all");
    assert.equal(r?.count, 12);
    assert.deepEqual([...(r?.durationMsHist ?? [])], [[40, 12]]);
    assert.deepEqual(await commit("c"), { ok: true }); // no race: the JavaScript sum stands
    const [again] = await rollups.readBuckets(ref, "minute", [60_000], "all");
    assert.equal(again?.count, 13);
    assert.deepEqual([...(again?.durationMsHist ?? [])], [[40, 13]]);
  });

  it("installing over schema version 1 upgrades it in place; without autoInstall it names the fix", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    await new PostgresRollups({ pool: pg.pool }).install();
    await pg.pool.query("UPDATE tally_meter_meta SET value = '1' WHERE key = 'schema_version'");
    await assert.rejects(
      new PostgresRollups({ pool: pg.pool, autoInstall: false }).readWatermark("x"),
      (error: unknown) => {
        assert.equal((error as { code?: string }).code, "SCHEMA_MISMATCH");
        assert.match(String((error as Error).message), /tally postgres install/);
        return true;
      },
    );
    assert.equal(await new PostgresRollups({ pool: pg.pool }).readWatermark("x"), null);
    const { rows } = await pg.pool.query("SELECT value FROM tally_meter_meta WHERE key = 'schema_version'");
    assert.deepEqual(rows, [{ value: "2" }]);
  });
});
