import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DefinitionNotFoundError, UnsupportedQueryError } from "../../src/errors.ts";
import { NUMERIC_FIELDS } from "../../src/meter/summary.ts";
import { memoryMeter, T } from "./meter-setup.ts";

const SUMMARY_KEYS = [
  "count",
  "successCount",
  "failureCount",
  "skippedCount",
  "startedAtMin",
  "startedAtMax",
  "rateWindowSeconds",
  "perSecond",
  "perMinute",
  "durationMsCount",
  "durationMsSum",
  "durationMsAvg",
  "durationMsMin",
  "durationMsMax",
  "durationMsP50",
  "durationMsP90",
  "durationMsP95",
  "durationMsP99",
  "intervalMsCount",
  "intervalMsSum",
  "intervalMsAvg",
  "intervalMsMin",
  "intervalMsMax",
  "intervalMsP50",
  "intervalMsP90",
  "intervalMsP95",
  "intervalMsP99",
];

describe("summary", () => {
  it("a windowed summary covers exactly the minute buckets overlapping [from, to)", async () => {
    const { meter, record } = memoryMeter({}, "2026-05-06T12:00:00Z");
    await record("j", "2026-05-06T10:14:59Z");
    await record("j", "2026-05-06T10:15:00Z", {}, "success", 100);
    await record("j", "2026-05-06T10:16:30Z", {}, "failure", 300);
    await record("j", "2026-05-06T10:17:59Z", {}, "success", 200);
    await record("j", "2026-05-06T10:18:00Z");
    await meter.processPending("j", { version: 1 });
    const s = await meter.summary("j", { version: 1, from: "2026-05-06T10:15:20Z", to: "2026-05-06T10:17:05Z" });
    assert.deepEqual(Object.keys(s), SUMMARY_KEYS);
    assert.equal(s.count, 3, "10:15, 10:16 and 10:17 minutes, whole");
    assert.equal(s.rateWindowSeconds, 180);
    assert.equal(s.perSecond, 3 / 180);
    assert.equal(s.perMinute, 1);
    assert.equal(s.startedAtMin, "2026-05-06T10:15:00.000Z");
    assert.equal(s.startedAtMax, "2026-05-06T10:17:59.000Z");
    assert.equal(s.durationMsAvg, 200);
    assert.equal(s.durationMsMin, 100);
    assert.equal(s.durationMsMax, 300);
    assert.equal(s.durationMsP50, 203.5, "the midpoint of the bucket 200..207");
    assert.equal(s.durationMsP99, 295.5, "the midpoint of 288..303");
    assert.equal(s.intervalMsCount, 0);
    assert.equal(s.intervalMsAvg, null);
    assert.equal(s.intervalMsP50, null);
    const hours = await meter.summary("j", {
      version: 1,
      from: Date.UTC(2026, 4, 6, 10),
      to: new Date(Date.UTC(2026, 4, 6, 12)),
    });
    assert.equal(hours.rateWindowSeconds, 7200);
    assert.equal(hours.count, 5);
  });

  it("an empty window has zero counts, null values and rates over the span", async () => {
    const { meter } = memoryMeter();
    await meter.processPending("j", { version: 1 });
    const s = await meter.summary("j", { version: 1, from: "2026-05-06T10:00:00Z", to: "2026-05-06T10:01:00Z" });
    assert.equal(s.count, 0);
    assert.equal(s.perSecond, 0);
    assert.equal(s.startedAtMin, null);
    assert.equal(s.durationMsAvg, null);
  });

  it("without a window: combines hour buckets; rate over the observed span, null rates below two starts", async () => {
    const { meter, record } = memoryMeter({ summaryKeyLimit: 3 });
    await record("j", "2026-05-06T10:00:00Z");
    await meter.processPending("j", { version: 1 });
    const one = await meter.summary("j", { version: 1 });
    assert.equal(one.rateWindowSeconds, 0);
    assert.equal(one.perSecond, null);
    assert.equal(one.perMinute, null);
    await record("j", "2026-05-06T12:30:00Z");
    await meter.processPending("j", { version: 1 });
    const two = await meter.summary("j", { version: 1, by: {} });
    assert.equal(two.count, 2);
    assert.equal(two.rateWindowSeconds, 9000);
    assert.equal(two.perMinute, (2 * 60) / 9000);
    await record("j", "2026-05-06T13:30:00Z");
    await record("j", "2026-05-06T14:30:00Z");
    await meter.processPending("j", { version: 1 });
    await assert.rejects(meter.summary("j", { version: 1 }), {
      code: "TOO_MANY_BUCKETS",
      message: "summary without a window matched more than 3 hour buckets; pass from and to",
    });
  });

  it("validates windows, by and versions", async () => {
    const { meter } = memoryMeter();
    await meter.processPending("j", { version: 1 }, (r) => r.indexBy("provider").indexBy("provider", "queue"));
    const bad = async (query: Record<string, unknown>, code: string) =>
      assert.rejects(meter.summary("j", { version: 1, ...query } as never), { code }, JSON.stringify(query));
    await bad({ from: "2026-05-06T10:00:00Z" }, "INVALID_WINDOW");
    await bad({ to: "2026-05-06T10:00:00Z" }, "INVALID_WINDOW");
    await bad({ from: "2026-05-06T10:00:00Z", to: "2026-05-06T10:00:00Z" }, "INVALID_WINDOW");
    await bad({ from: "2026-05-06T10:00:00", to: "2026-05-06T11:00:00Z" }, "INVALID_WINDOW");
    await bad({ from: Number.NaN, to: 5 }, "INVALID_WINDOW");
    await bad({ by: { provider: null } }, "INVALID_QUERY");
    await bad({ by: "provider" }, "INVALID_QUERY");
    await bad({ by: { provider: Number.POSITIVE_INFINITY } }, "INVALID_QUERY");
    await bad({ version: 0 }, "INVALID_OPTION");
    await assert.rejects(
      meter.summary("j", { version: 1, by: { queue: "mailers" } }),
      (error: unknown) =>
        error instanceof UnsupportedQueryError &&
        error.message === "no index on [queue] for j v1; add indexBy('queue') and bump the version",
    );
    await assert.rejects(meter.summary("j", { version: 1, by: { provider: "a", queue: "b", x: 1 } }), {
      code: "UNSUPPORTED_QUERY",
    });
    assert.equal((await meter.summary("j", { version: 1, by: { queue: "b", provider: "a" } })).count, 0);
    await assert.rejects(meter.summary("j", { version: 9 }), (e: unknown) => e instanceof DefinitionNotFoundError);
    await assert.rejects(meter.summary("", { version: 1 }), { code: "INVALID_NAME" });
  });

  it("reads parts older than the minute retention from their hours, widening the span", async () => {
    const { meter, record, clock } = memoryMeter(
      { cleanupHistoryRetention: { minute: "1h", hour: "2d" } },
      "2026-05-06T10:00:00Z",
    );
    await record("j", "2026-05-06T08:10:00Z");
    await record("j", "2026-05-06T08:50:00Z");
    await meter.processPending("j", { version: 1 });
    clock.set("2026-05-06T12:00:00Z");
    const s = await meter.summary("j", { version: 1, from: "2026-05-06T08:30:00Z", to: "2026-05-06T09:00:00Z" });
    assert.equal(s.count, 2, "the 08:00 hour is read whole");
    assert.equal(s.rateWindowSeconds, 3600);
  });
});

describe("series", () => {
  it("defaults to the 60 minutes ending at the current minute, zero-filled", async () => {
    const { meter, record, clock } = memoryMeter({}, "2026-05-06T14:07:45Z");
    await record("j", "2026-05-06T13:08:10Z", {}, "success", 50);
    await record("j", "2026-05-06T14:07:00Z");
    await record("j", "2026-05-06T13:07:59Z");
    await meter.processPending("j", { version: 1 });
    const points = await meter.series("j", { version: 1 });
    assert.equal(points.length, 60);
    assert.equal(points[0]?.bucket, "2026-05-06T13:08:00.000Z");
    assert.equal(points[59]?.bucket, "2026-05-06T14:07:00.000Z");
    assert.equal(points[0]?.count, 1);
    assert.equal(points[0]?.durationMsAvg, 50);
    assert.equal(points[0]?.perMinute, 1);
    assert.equal(points[0]?.rateWindowSeconds, 60);
    assert.equal(points[59]?.count, 1);
    const empty = points[1];
    assert.deepEqual(
      [empty?.count, empty?.perSecond, empty?.perMinute, empty?.durationMsAvg, empty?.startedAtMin],
      [0, 0, 0, null, null],
    );
    const hourly = await meter.series("j", { version: 1, every: "hour" });
    assert.equal(hourly.length, 24);
    assert.equal(hourly[23]?.bucket, "2026-05-06T14:00:00.000Z");
    assert.equal(hourly[23]?.rateWindowSeconds, 3600);
    assert.equal(hourly[22]?.count, 2);
    const daily = await meter.series("j", { version: 1, every: "day" });
    assert.equal(daily.length, 30);
    assert.equal(daily[29]?.bucket, "2026-05-06T00:00:00.000Z");
    assert.equal(daily[29]?.count, 3);
    clock.advance("1m");
    assert.equal((await meter.series("j", { version: 1 }))[0]?.bucket, "2026-05-06T13:09:00.000Z");
  });

  it("explicit windows start at floor(from) and stop before to; at most 10,000 points", async () => {
    const { meter } = memoryMeter();
    await meter.processPending("j", { version: 1 });
    const points = await meter.series("j", { version: 1, from: "2026-05-06T10:00:30Z", to: "2026-05-06T10:03:00Z" });
    assert.deepEqual(
      points.map((p) => p.bucket.slice(11, 16)),
      ["10:00", "10:01", "10:02"],
    );
    await assert.rejects(meter.series("j", { version: 1, from: 0, to: 10_001 * 60_000 }), { code: "INVALID_WINDOW" });
    await assert.rejects(meter.series("j", { version: 1, every: "week" as never }), { code: "INVALID_QUERY" });
  });
});

describe("compare and breakdown", () => {
  it("compare adds delta and ratio, null when a side is null and ratio null when before is 0", async () => {
    const { meter, record } = memoryMeter();
    await record("j", "2026-05-06T11:00:00Z", {}, "success", 100);
    await record("j", "2026-05-06T11:10:00Z", {}, "failure", 300);
    await meter.processPending("j", { version: 1 });
    const c = await meter.compare("j", {
      version: 1,
      before: { from: "2026-05-06T10:00:00Z", to: "2026-05-06T11:00:00Z" },
      after: { from: "2026-05-06T11:00:00Z", to: "2026-05-06T12:00:00Z" },
    });
    assert.equal(c.before.count, 0);
    assert.equal(c.after.count, 2);
    assert.equal(c.delta.count, 2);
    assert.equal(c.ratio.count, null, "before is 0");
    assert.equal(c.delta.durationMsAvg, null, "before is null");
    assert.equal(c.delta.rateWindowSeconds, 0);
    assert.equal(c.ratio.rateWindowSeconds, 1);
    assert.deepEqual(Object.keys(c.delta), [...NUMERIC_FIELDS]);
    await assert.rejects(meter.compare("j", { version: 1, before: { from: 0 }, after: { from: 0, to: 1 } } as never), {
      code: "INVALID_WINDOW",
    });
    const flat = await meter.compare("j", {
      version: 1,
      before: { from: "2026-05-06T11:00:00Z", to: "2026-05-06T12:00:00Z" },
      after: { from: "2026-05-06T11:00:00Z", to: "2026-05-06T12:00:00Z" },
    });
    assert.equal(flat.ratio.durationMsAvg, 1);
    assert.equal(flat.delta.failureCount, 0);
  });

  it("breakdown sorts by a field, breaks ties by value, cuts to limit and counts every value", async () => {
    const { meter, record } = memoryMeter();
    const at = T("2026-05-06T10:00:00Z");
    const counts: Record<string, number> = { b: 3, a: 3, c: 1, d: 5, "10": 2 };
    let i = 0;
    for (const [provider, n] of Object.entries(counts)) {
      for (let k = 0; k < n; k++) await record("j", at + i++ * 1000, { provider, queue: "q" }, "success", n * 10);
    }
    await meter.processPending("j", { version: 1 }, (r) => r.indexBy("provider").indexBy("queue", "provider"));
    const window = { from: "2026-05-06T10:00:00Z", to: "2026-05-06T11:00:00Z" };
    const top = await meter.breakdown("j", { version: 1, by: "provider", ...window, limit: 3 });
    assert.deepEqual(
      top.rows.map((r) => [r.values.provider, r.summary.count]),
      [
        ["d", 5],
        ["a", 3],
        ["b", 3],
      ],
    );
    assert.equal(top.totalValues, 5);
    assert.equal(top.rateWindowSeconds, 3600);
    assert.deepEqual(top.by, ["provider"]);
    const asc = await meter.breakdown("j", {
      version: 1,
      by: ["provider"],
      ...window,
      sort: "durationMsAvg",
      order: "asc",
    });
    assert.deepEqual(
      asc.rows.map((r) => r.values.provider),
      ["c", "10", "a", "b", "d"],
    );
    const compound = await meter.breakdown("j", { version: 1, by: ["provider", "queue"], ...window });
    assert.deepEqual(compound.rows[0]?.values, { provider: "d", queue: "q" });
    await assert.rejects(meter.breakdown("j", { version: 1, by: "queue", ...window }), { code: "UNSUPPORTED_QUERY" });
    await assert.rejects(
      meter.breakdown("j", { version: 1, by: "provider", ...window, sort: "startedAtMin" as never }),
      { code: "INVALID_QUERY" },
    );
    await assert.rejects(meter.breakdown("j", { version: 1, by: "provider", ...window, limit: 1001 }), {
      code: "INVALID_QUERY",
    });
    await assert.rejects(meter.breakdown("j", { version: 1, by: "provider" } as never), { code: "INVALID_WINDOW" });
  });

  it("reportDefinition returns the stored definition after re-validating it", async () => {
    const { meter } = memoryMeter();
    await meter.processPending("j", { version: 3 }, (r) =>
      r.indexBy("b", "a").measureIntervalBy("id", { groupBy: "a" }),
    );
    const def = await meter.reportDefinition("j", { version: 3 });
    assert.deepEqual(
      { ...def, fingerprint: def.fingerprint.length },
      {
        name: "j",
        version: 3,
        indexes: [[], ["a"], ["a", "b"]],
        intervals: [{ param: "id", groupBy: ["a"] }],
        fingerprint: 64,
      },
    );
    await assert.rejects(meter.reportDefinition("j", { version: 4 }), { code: "DEFINITION_NOT_FOUND" });
  });
});
