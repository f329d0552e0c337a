import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { buildPayload } from "../../../src/meter/payload.ts";
import { PostgresStream } from "../../../src/storage/postgres/meter-stream.ts";
import { type MeterStreamHarness, meterStreamContract } from "../../../src/testing/meter-stream-contract.ts";
import { TestClock } from "../../../src/time/clock.ts";
import { usePostgres } from "../../support/services.ts";
import { requireService, scratchPostgres } from "./scale-services.ts";

const CLAIM_MS = 600;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

if (await requireService("postgres", "PostgresStream contract (PostgreSQL)")) {
  const db = await scratchPostgres();
  after(() => db.close());
  const pool = db.pool();
  const peerPool = db.pool();
  await new PostgresStream({ pool }).install();
  let n = 0;
  meterStreamContract("PostgresStream", async (): Promise<MeterStreamHarness> => {
    // Every harness gets its own namespace through a table prefix of its own would cost an install
    // each; the contract's event names differ per test, so one table serves them all.
    n++;
    const stream = new PostgresStream({ pool, claimTimeout: CLAIM_MS });
    return {
      stream,
      clock: new TestClock("2026-05-06T10:00:00Z"),
      peer: () => new PostgresStream({ pool: peerPool, claimTimeout: CLAIM_MS }),
      // Claims expire by the database clock: the only way to let one pass is to wait.
      expireClaims: () => sleep(CLAIM_MS + 50),
      settle: () => {},
      multiEntryUnits: false,
      appendUnparsable: async (ref, text) => {
        await pool.query("INSERT INTO tally_meter_stream (namespace, name, payload) VALUES ($1, $2, $3)", [
          ref.namespace,
          ref.name,
          text,
        ]);
      },
      close: () => stream.close(),
    };
  });
  after(() => assert.ok(n > 0));
}

describe("PostgresStream", () => {
  it("a reader whose claim was taken over cannot ack; concurrent readers never share a row", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    const ref = { namespace: "ns", name: "job" };
    const a = new PostgresStream({ pool: pg.pool, claimTimeout: 1500 });
    await a.append(
      "ns",
      Array.from({ length: 300 }, (_, i) => buildPayload("job", "success", 0, i, { i })),
    );
    const reads = await Promise.all(["r1", "r2", "r3"].map((reader) => a.read(ref, { maxRows: 120, reader })));
    const ids = reads.flatMap((b) => b.entries.map((e) => e.id));
    assert.equal(ids.length, 300);
    assert.equal(new Set(ids).size, 300, "no row went to two readers");
    const stale = reads[0];
    assert.ok(stale);
    await sleep(1600);
    const fresh = await a.read(ref, { maxRows: 1000, reader: "r4" });
    assert.equal(fresh.entries.length, 300, "every timed-out claim comes back");
    assert.deepEqual(await a.ack(stale), { ok: false, removedUnits: [] });
    assert.equal((await a.ack(fresh)).ok, true);
    assert.equal(await a.pendingCount(ref), 0);
  });
});
