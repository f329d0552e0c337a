import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { EventMeter } from "../../src/meter/event-meter.ts";
import { FileStream } from "../../src/storage/file/meter-stream.ts";
import { SqliteRollups } from "../../src/storage/sqlite/meter-rollups.ts";
import { TestClock } from "../../src/time/clock.ts";
import { runChild } from "../support/child.ts";
import { BASE, defineDelivery, generate } from "./fixtures/delivery.ts";

const dir = mkdtempSync(join(tmpdir(), "tally-meter-crash-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const child = fileURLToPath(new URL("./fixtures/meter-crash-child.ts", import.meta.url));

describe("crash between the rollup commit and the stream delete (FileStream -> SqliteRollups)", () => {
  it("a killed processor and two racing successors: exact summaries, no markers left", async () => {
    const path = join(dir, "stream");
    const db = join(dir, "tally.db");
    const clock = new TestClock(BASE);
    const events = generate();
    const recorder = new EventMeter({
      stream: new FileStream({ path, clock }),
      rollups: new SqliteRollups({ path: db }),
      clock,
    });
    for (const e of events) {
      clock.set(e.at);
      const event = recorder.start("invoice_delivery", e.params);
      clock.advance(100 + (e.i % 7) * 10);
      const result = await (e.status === "success"
        ? event.success()
        : e.status === "failure"
          ? event.failure("x")
          : event.skip("off"));
      assert.equal(result.recorded, true);
    }
    await recorder.close();
    const processAt = BASE + 3 * 3_600_000;

    const crashed = await runChild(child, ["crash", path, db, String(processAt)]);
    assert.equal(crashed.code, 88, crashed.stderr);

    const later = String(processAt + 31_000); // the dead claimer's file lease and report lease are stale
    const [a, b] = await Promise.all([
      runChild(child, ["race", path, db, later]),
      runChild(child, ["race", path, db, later]),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const ta = JSON.parse(a.stdout) as { processed: number; skipped: number };
    const tb = JSON.parse(b.stdout) as { processed: number; skipped: number };
    assert.ok(ta.processed + tb.processed < 240, "the crashed processor's commit was kept");
    assert.ok(ta.skipped + tb.skipped > 0, "its rows came back and their markers skipped them");

    clock.set(processAt + 60_000);
    const rollups = new SqliteRollups({ path: db });
    const stream = new FileStream({ path, clock });
    const meter = new EventMeter({ stream, rollups, clock });
    const final = await meter.processPending("invoice_delivery", { version: 1 }, defineDelivery);
    assert.deepEqual([final.processed, final.complete, final.locked], [0, true, false]);
    assert.equal(await meter.pendingCount("invoice_delivery"), 0);
    assert.equal(await rollups.countMarkers({ namespace: "tally", name: "invoice_delivery", version: 1 }), 0);

    const expect = (filter: (e: (typeof events)[number]) => boolean) => {
      const chosen = events.filter(filter);
      return {
        count: chosen.length,
        successCount: chosen.filter((e) => e.status === "success").length,
        failureCount: chosen.filter((e) => e.status === "failure").length,
        skippedCount: chosen.filter((e) => e.status === "skip").length,
      };
    };
    const pick = (s: { count: number; successCount: number; failureCount: number; skippedCount: number }) => ({
      count: s.count,
      successCount: s.successCount,
      failureCount: s.failureCount,
      skippedCount: s.skippedCount,
    });
    const window = { from: BASE, to: BASE + 2 * 3_600_000 };
    assert.deepEqual(
      pick(await meter.summary("invoice_delivery", { version: 1, ...window })),
      expect(() => true),
    );
    for (const provider of ["postmark", "ses"]) {
      assert.deepEqual(
        pick(await meter.summary("invoice_delivery", { version: 1, ...window, by: { provider } })),
        expect((e) => e.params.provider === provider),
      );
      for (const queue of ["mailers", "default", "bulk"]) {
        const by = { provider, queue, delivery_mode: "single" };
        assert.deepEqual(
          pick(await meter.summary("invoice_delivery", { version: 1, ...window, by })),
          expect(
            (e) => e.params.provider === provider && e.params.queue === queue && e.params.delivery_mode === "single",
          ),
        );
      }
    }
    const perCustomer = await meter.summary("invoice_delivery", { version: 1, ...window, by: { customer_id: 5 } });
    assert.equal(perCustomer.count, 20);
    const series = await meter.series("invoice_delivery", { version: 1, ...window, every: "minute" });
    assert.equal(
      series.reduce((sum, p) => sum + p.count, 0),
      240,
    );
    // Each customer runs every 12 events (3 minutes); its intervals are exact, whatever the crash did.
    const byProvider = await meter.summary("invoice_delivery", { version: 1, ...window, by: { provider: "ses" } });
    assert.equal(byProvider.intervalMsCount, 120 - 6, "6 ses customers, 20 runs each, 19 gaps each");
    assert.equal(byProvider.intervalMsMin, 180_000);
    assert.equal(byProvider.intervalMsMax, 180_000);
    await meter.close();
  });
});
