import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { main } from "../../examples/meter-quick-start.ts";

describe("examples/meter-quick-start.ts", () => {
  it("reproduces the README's numbers", async () => {
    const { processed, summary } = (await main()) as {
      processed: { processed: number; complete: boolean };
      summary: Record<string, unknown>;
    };
    assert.equal(processed.processed, 1560);
    assert.equal(processed.complete, true);
    assert.deepEqual(
      {
        count: summary.count,
        successCount: summary.successCount,
        failureCount: summary.failureCount,
        skippedCount: summary.skippedCount,
        startedAtMin: summary.startedAtMin,
        startedAtMax: summary.startedAtMax,
        rateWindowSeconds: summary.rateWindowSeconds,
        perSecond: summary.perSecond,
        perMinute: summary.perMinute,
        durationMsCount: summary.durationMsCount,
        durationMsSum: summary.durationMsSum,
        durationMsAvg: summary.durationMsAvg,
        durationMsMin: summary.durationMsMin,
        durationMsMax: summary.durationMsMax,
        durationMsP50: summary.durationMsP50,
        intervalMsCount: summary.intervalMsCount,
        intervalMsSum: summary.intervalMsSum,
      },
      {
        count: 1260,
        successCount: 1254,
        failureCount: 6,
        skippedCount: 0,
        startedAtMin: "2026-05-06T10:00:02.000Z",
        startedAtMax: "2026-05-06T10:59:58.000Z",
        rateWindowSeconds: 3600,
        perSecond: 0.35,
        perMinute: 21,
        durationMsCount: 1260,
        durationMsSum: 970_200,
        durationMsAvg: 770,
        durationMsMin: 42,
        durationMsMax: 8910,
        durationMsP50: 751.5,
        intervalMsCount: 0,
        intervalMsSum: 0,
      },
    );
  });
});
