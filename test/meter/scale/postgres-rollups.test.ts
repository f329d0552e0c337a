import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { withFingerprint } from "../../../src/meter/definition.ts";
import { emptyRecord } from "../../../src/meter/rollup-record.ts";
import { DenseCounts } from "../../../src/storage/postgres/meter-known-histograms.ts";
import { meterSchemaSql, PostgresRollups } from "../../../src/storage/postgres/meter-rollups.ts";
import { type MeterRollupsHarness, meterRollupsContract } from "../../../src/testing/meter-rollups-contract.ts";
import { usePostgres } from "../../support/services.ts";
import { requireService, scratchPostgres } from "./scale-services.ts";

/** The pool, counting the commits the database refused for a stale known histogram (TL410). */
function countingRefusals(pool: import("pg").Pool) {
  const counts = {
    stale: 0,
    pool: {
      query: async (text: string, params?: unknown[]) => {
        try {
          return await pool.query(text, params);
        } catch (error) {
          if ((error as { code?: string }).code === "TL410") counts.stale++;
          throw error;
        }
      },
      connect: () => pool.connect(),
    },
  };
  return counts;
}

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
    assert.deepEqual(rows, [{ value: "3" }]);
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

  it("known histograms read stored values as <p>_hist_add does, damaged values included", async (t) => {
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
      const sql = JSON.parse((rows[0] as { h: string }).h) as Record<string, number>;
      const known = DenseCounts.fromStored(JSON.parse(stored));
      for (const [index, n] of delta) assert.equal(known.get(index) + n, sql[String(index)], `${stored} @${index}`);
    }
  });

  it("a bucket changed by another writer since this store wrote it is merged in SQL, not overwritten", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    const refusals = countingRefusals(pg.pool);
    const rollups = new PostgresRollups({ pool: refusals.pool });
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
    const read = async () => {
      const [r] = await rollups.readBuckets(ref, "minute", [60_000], "all");
      return [r?.count, [...(r?.durationMsHist ?? [])]];
    };
    assert.deepEqual(await commit("a"), { ok: true }); // inserts the bucket; the store knows it
    assert.deepEqual(await commit("b"), { ok: true }); // known: the totals are laid over it
    assert.deepEqual(await read(), [2, [[40, 2]]]);
    assert.equal(refusals.stale, 0);
    // Another writer adds 10 (and a bucket) behind this store's back.
    await pg.pool.query(
      `UPDATE tally_meter_rollups SET count = count + 10, duration_ms_hist = tally_meter_hist_add(duration_ms_hist, '{"40":10,"50":4}')`,
    );
    assert.deepEqual(await commit("c"), { ok: true }); // refused as stale, sent again unknown
    assert.equal(refusals.stale, 1);
    assert.deepEqual(await read(), [
      13,
      [
        [40, 13],
        [50, 4],
      ],
    ]);
    // The bucket is gone (cleanup): the stale known row is refused, then inserted from the delta.
    await pg.pool.query("DELETE FROM tally_meter_rollups");
    assert.deepEqual(await commit("d"), { ok: true });
    assert.deepEqual(await read(), [1, [[40, 1]]]);
    assert.equal(await rollups.countMarkers(ref), 4);
  });

  it("a refused known row leaves no trace: markers, state and rows of the commit apply exactly once", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    const rollups = new PostgresRollups({ pool: pg.pool });
    const ref = { namespace: "n", name: "e", version: 1 };
    const known = emptyRecord("hour", 0, "", "all");
    known.count = 1;
    known.durationMsHist.set(40, 1);
    const fresh = emptyRecord("minute", 60_000, "", "all");
    fresh.count = 1;
    const commit = (unit: string, rollupDeltas = [known, fresh]) =>
      rollups.commit(ref, {
        rollups: rollupDeltas,
        intervalState: [{ param: "p", value: unit, lastMs: 5 }],
        markers: [{ unit, expected: 0, high: 1 }],
        fence: null,
        now: 0,
      });
    assert.deepEqual(await commit("a", [known]), { ok: true });
    await pg.pool.query("UPDATE tally_meter_rollups SET skipped_count = 7");
    assert.deepEqual(await commit("b"), { ok: true });
    const [hour] = await rollups.readBuckets(ref, "hour", [0], "all");
    const [minute] = await rollups.readBuckets(ref, "minute", [60_000], "all");
    assert.equal(hour?.count, 2);
    assert.equal(hour?.skippedCount, 7);
    assert.deepEqual([...(hour?.durationMsHist ?? [])], [[40, 2]]);
    assert.equal(minute?.count, 1);
    assert.deepEqual(
      await rollups.readMarkers(ref, ["a", "b"]),
      new Map([
        ["a", 1],
        ["b", 1],
      ]),
    );
    assert.equal((await rollups.readIntervalState(ref, [{ param: "p", value: "b" }])).get("p\u0000b"), 5);
  });

  it("two stores writing one report stay exact, and back off the known path after refusals", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    const refusals = countingRefusals(pg.pool);
    const stores = [new PostgresRollups({ pool: refusals.pool }), new PostgresRollups({ pool: refusals.pool })];
    const ref = { namespace: "n", name: "e", version: 1 };
    const d = emptyRecord("hour", 0, "", "all");
    d.count = 1;
    d.durationMsHist.set(40, 1);
    const rounds = 40;
    for (let i = 0; i < rounds; i++) {
      const result = await stores[i % 2]?.commit(ref, {
        rollups: [d],
        intervalState: [],
        markers: [{ unit: `u${i}`, expected: 0, high: 1 }],
        fence: null,
        now: 0,
      });
      assert.deepEqual(result, { ok: true });
    }
    const [r] = (await stores[0]?.readBuckets(ref, "hour", [0], "all")) ?? [];
    assert.equal(r?.count, rounds);
    assert.deepEqual([...(r?.durationMsHist ?? [])], [[40, rounds]]);
    // Every commit after the first of each store meets a row the other changed; without the
    // backoff each would be refused once.
    assert.ok(refusals.stale > 0 && refusals.stale <= 12, `refusals: ${refusals.stale}`);
  });

  it("commits of one report issued together from one store run in turn, exact and never refused", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    const refusals = countingRefusals(pg.pool);
    const rollups = new PostgresRollups({ pool: refusals.pool });
    const ref = { namespace: "n", name: "e", version: 1 };
    const d = emptyRecord("day", 0, "", "all");
    d.count = 1;
    d.durationMsHist.set(40, 1);
    const commit = (i: number) =>
      rollups.commit(ref, {
        rollups: [d],
        intervalState: [],
        markers: [{ unit: `u${i}`, expected: 0, high: 1 }],
        fence: null,
        now: 0,
      });
    await commit(0);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => commit(i + 1)));
    assert.ok(results.every((result) => result.ok));
    const [r] = await rollups.readBuckets(ref, "day", [0], "all");
    assert.equal(r?.count, 9);
    assert.deepEqual([...(r?.durationMsHist ?? [])], [[40, 9]]);
    assert.equal(refusals.stale, 0);
  });

  it("installing over schema version 1 or 2 upgrades it in place; without autoInstall it names the fix", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    await new PostgresRollups({ pool: pg.pool }).install();
    // Version 2's commit function (another signature) stays for processes of the previous build.
    const v2 = `text, text, integer, bigint, text, text, bigint, text[], bigint[], bigint[], text[], text[], text[], ${"bigint[], ".repeat(11)}text[], ${"bigint[], ".repeat(4)}text[], text[], text[], text[], text[], text[], bigint[]`;
    await pg.pool.query(
      `CREATE FUNCTION tally_meter_commit(${v2}, OUT status integer, OUT conflicts text[]) LANGUAGE sql AS 'SELECT 1, NULL::text[]'`,
    );
    for (const version of ["1", "2"]) {
      await pg.pool.query("UPDATE tally_meter_meta SET value = $1 WHERE key = 'schema_version'", [version]);
      await assert.rejects(
        new PostgresRollups({ pool: pg.pool, autoInstall: false }).readWatermark("x"),
        (error: unknown) => {
          assert.equal((error as { code?: string }).code, "SCHEMA_MISMATCH");
          assert.match(String((error as Error).message), /tally postgres install/);
          return true;
        },
      );
      assert.equal(await new PostgresRollups({ pool: pg.pool }).readWatermark("x"), null);
      const meta: { rows: unknown[] } = await pg.pool.query(
        "SELECT value FROM tally_meter_meta WHERE key = 'schema_version'",
      );
      assert.deepEqual(meta.rows, [{ value: "3" }]);
    }
    const functions = await pg.pool.query(
      "SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'tally_meter_commit' AND pronamespace = current_schema()::regnamespace",
    );
    assert.deepEqual(functions.rows, [{ n: 2 }]);
    const ref = { namespace: "n", name: "e", version: 1 };
    const d = emptyRecord("minute", 60_000, "", "all");
    d.count = 1;
    const rollups = new PostgresRollups({ pool: pg.pool });
    const batch = { rollups: [d], intervalState: [], markers: [], fence: null, now: 0 };
    assert.deepEqual(await rollups.commit(ref, batch), { ok: true });
  });
});
