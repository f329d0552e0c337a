import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { memoryMeter } from "./meter-setup.ts";

describe("cleanupHistory", () => {
  it("deletes buckets whose end is at or before `before`, state and markers, and counts them", async () => {
    const { meter, record, rollups } = memoryMeter({}, "2026-05-06T12:00:00Z");
    await record("j", "2026-05-06T10:00:00Z", { id: 1 });
    await record("j", "2026-05-06T10:59:00Z", { id: 2 });
    await record("k", "2026-05-06T10:00:00Z");
    await meter.processPending("j", { version: 1 }, (r) => r.measureIntervalBy("id"));
    await meter.processPending("k", { version: 1 });
    await rollups.commit(
      { namespace: "tally", name: "j", version: 1 },
      {
        rollups: [],
        intervalState: [],
        fence: null,
        now: Date.parse("2026-05-06T10:30:00Z"),
        markers: [{ unit: "left-over", expected: 0, high: 1 }],
      },
    );
    const only = await meter.cleanupHistory({ before: { minute: "2026-05-06T10:01:00Z" }, events: "j" });
    assert.deepEqual(only, { rollupKeysDeleted: 1, intervalStateKeysDeleted: 0, processedEntriesDeleted: 0 });
    const result = await meter.cleanupHistory({ before: "2026-05-06T11:00:00Z", events: ["j"], intervalState: false });
    assert.deepEqual(result, { rollupKeysDeleted: 2, intervalStateKeysDeleted: 0, processedEntriesDeleted: 1 });
    assert.equal(
      (await meter.summary("j", { version: 1, from: "2026-05-06T10:00:00Z", to: "2026-05-06T11:00:00Z" })).count,
      0,
    );
    assert.equal(
      (await meter.summary("k", { version: 1, from: "2026-05-06T10:00:00Z", to: "2026-05-06T11:00:00Z" })).count,
      1,
    );
    const state = await meter.cleanupHistory({ before: { intervalState: "2026-05-07T00:00:00Z" } });
    assert.equal(state.intervalStateKeysDeleted, 2);
    const everything = await meter.cleanupHistory({ before: "2026-05-08T00:00:00Z" });
    assert.equal(everything.rollupKeysDeleted, 1 + 3, "the day bucket of j and the three tiers of k");
    await assert.rejects(meter.cleanupHistory({ before: "yesterday" }), { code: "INVALID_WINDOW" });
    await assert.rejects(meter.cleanupHistory({} as never), { code: "INVALID_WINDOW" });
  });
});

describe("auto cleanup", () => {
  it("with retention = interval = 1h: due at 12:00, not at 12:20, due again at 13:01", async () => {
    const { meter, record, clock } = memoryMeter(
      { autoCleanupHistory: true, cleanupHistoryRetention: "1h", cleanupHistoryInterval: "1h" },
      "2026-05-06T12:00:00Z",
    );
    const minutes = async () =>
      (await meter.series("j", { version: 1, from: "2026-05-06T10:00:00Z", to: "2026-05-06T12:00:00Z" }))
        .filter((p) => p.count > 0)
        .map((p) => p.bucket.slice(11, 16));
    await record("j", "2026-05-06T10:30:00Z");
    await record("j", "2026-05-06T11:05:00Z");
    await meter.processPending("j", { version: 1 });
    assert.deepEqual(await minutes(), ["11:05"], "12:00 cleaned data older than 11:00");
    clock.set("2026-05-06T12:20:00Z");
    await meter.processPending("j", { version: 1 });
    assert.deepEqual(await minutes(), ["11:05"], "12:20 is not due, so 11:05 survives");
    clock.set("2026-05-06T13:01:00Z");
    await meter.processPending("j", { version: 1 });
    assert.deepEqual(await minutes(), [], "13:01 removes it");
  });

  it("a failing cleanup reaches the handler, a throwing handler is swallowed, processing still succeeds", async () => {
    const errors: unknown[] = [];
    const { meter, record, rollups } = memoryMeter({
      autoCleanupHistory: true,
      onAutoCleanupError: (error) => {
        errors.push(error);
        throw new Error("handler broke too");
      },
    });
    rollups.cleanup = async () => {
      throw new Error("disk gone");
    };
    await record("j", "2026-05-06T10:00:00Z");
    const result = await meter.processPending("j", { version: 1 });
    assert.equal(result.processed, 1);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as Error).message, "disk gone");
    assert.equal(await rollups.readWatermark("tally:cleanup:last"), null, "no watermark after a failure");
  });

  it("skips while another process holds the cleanup lease, and never runs after a locked pass", async () => {
    const { meter, record, rollups, clock } = memoryMeter({ autoCleanupHistory: true });
    const lease = await rollups.acquireLease("tally:cleanup", 30_000, clock.now());
    await record("j", "2026-05-06T10:00:00Z");
    await meter.processPending("j", { version: 1 });
    assert.equal(await rollups.readWatermark("tally:cleanup:last"), null);
    if (lease) await rollups.releaseLease(lease);
    await meter.processPending("j", { version: 1 });
    assert.equal(await rollups.readWatermark("tally:cleanup:last"), clock.now());
  });
});
