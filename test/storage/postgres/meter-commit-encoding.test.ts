import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { withFingerprint } from "../../../src/meter/definition.ts";
import { indexKeyOf } from "../../../src/meter/index-key.ts";
import { emptyRecord } from "../../../src/meter/rollup-record.ts";
import { ArrayLiteral } from "../../../src/storage/postgres/meter-array-literals.ts";
import { DenseCounts, KnownHistograms } from "../../../src/storage/postgres/meter-known-histograms.ts";
import { PostgresRollups } from "../../../src/storage/postgres/meter-rollups.ts";
import { usePostgres } from "../../support/services.ts";

const AWKWARD = ['a"b', "c\\d", "e,f", "{g}", "h i", "NULL", "", "ünï", "\u0001"];

describe("PostgresRollups commit encoding", () => {
  it("array literals round-trip awkward text, numbers and NULL", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    const text = new ArrayLiteral();
    for (const s of AWKWARD) text.text(s);
    text.text(null);
    const numbers = new ArrayLiteral();
    for (const n of [0, -5, 2 ** 53 - 1, null]) numbers.number(n);
    const { rows } = await pg.pool.query("SELECT $1::text[] AS t, $2::bigint[]::text[] AS n", [
      String(text),
      String(numbers),
    ]);
    assert.deepEqual((rows[0] as { t: unknown }).t, [...AWKWARD, null]);
    assert.deepEqual((rows[0] as { n: unknown }).n, ["0", "-5", String(2 ** 53 - 1), null]);
    assert.equal(String(new ArrayLiteral()), "{}");
  });

  it("units, index names and state values of any content commit and read back", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    const rollups = new PostgresRollups({ pool: pg.pool });
    const ref = { namespace: "n", name: "e", version: 1 };
    const params = ['we"ird', "p\\q,r"];
    await rollups.ensureDefinition(
      ref,
      withFingerprint({ name: "e", version: 1, indexes: [[], params], intervals: [] }),
    );
    const key = indexKeyOf(params, ["v{a}l ue", 'x"y']);
    const d = emptyRecord("minute", 60_000, params.join(","), key);
    d.count = 2;
    d.durationMsHist.set(40, 2);
    const units = AWKWARD.filter((u) => u !== "");
    for (let round = 1; round <= 2; round++) {
      const result = await rollups.commit(ref, {
        rollups: [d],
        intervalState: AWKWARD.map((value, i) => ({ param: 'p"', value, lastMs: 10 * round + i })),
        markers: units.map((unit) => ({ unit, expected: round - 1, high: round })),
        fence: null,
        now: 0,
      });
      assert.deepEqual(result, { ok: true });
    }
    const [r] = await rollups.readBuckets(ref, "minute", [60_000], key);
    assert.equal(r?.count, 4);
    assert.equal(r?.indexName, params.join(","));
    assert.deepEqual([...(r?.durationMsHist ?? [])], [[40, 4]]);
    const markers = await rollups.readMarkers(ref, units);
    assert.deepEqual(
      [...markers.values()],
      units.map(() => 2),
    );
    const state = await rollups.readIntervalState(
      ref,
      AWKWARD.map((value) => ({ param: 'p"', value })),
    );
    assert.deepEqual(
      AWKWARD.map((value) => state.get(`p"\u0000${value}`)),
      AWKWARD.map((_, i) => 20 + i),
    );
  });
});

describe("KnownHistograms", () => {
  it("keeps the most recently written rows up to its capacity", () => {
    const known = new KnownHistograms(2);
    const row = (xid: number) => ({ xid, duration: new DenseCounts(), interval: new DenseCounts() });
    known.remember("a", row(1));
    known.remember("b", row(2));
    known.remember("a", row(3));
    known.remember("c", row(4));
    assert.equal(known.size, 2);
    assert.equal(known.get("b"), undefined);
    assert.equal(known.get("a")?.xid, 3);
    known.forget("a");
    assert.equal(known.get("a"), undefined);
  });

  it("dense counts grow both ways and add deltas", () => {
    const counts = DenseCounts.of(
      new Map([
        [50, 1],
        [48, 2],
      ]),
    );
    counts.addAll(
      new Map([
        [40, 3],
        [60, 4],
        [50, 5],
      ]),
    );
    assert.deepEqual(
      [40, 48, 49, 50, 60, 61, 0].map((i) => counts.get(i)),
      [3, 2, 0, 6, 4, 0, 0],
    );
  });
});
