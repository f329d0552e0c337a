/**
 * Every case of the cookbook's "Configuration Migration" section (and the reference guide's
 * "Configuration Changes"), as conversions of a stored snapshot to the new config.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { convertSnapshot } from "../../src/counter/conversion.ts";
import {
  type Config,
  DAY,
  HOUR,
  MINUTE,
  type Rec,
  recordedSnapshot,
  rowOf,
  rowsFor,
  total,
} from "./conversion-oracle.ts";

const NOW = Date.UTC(2024, 5, 12, 10, 45, 30); // Wednesday 10:45:30 UTC
const utc = (units: Config["units"]): Config => ({ alignment: "calendar", timeZone: "UTC", units });
const ago = (ms: number, count = 1): Rec => ({ at: NOW - ms, count });

function migrate(records: Rec[], from: Config, to: Config, now = NOW) {
  return convertSnapshot(recordedSnapshot({ device: records }, from, NOW), to, now);
}

describe("Configuration Migration (cookbook)", () => {
  it("Adding More Buckets: 30 -> 60 minutes keeps every event; 25 minutes ago is bucket 25", () => {
    const records = [ago(25 * MINUTE), ago(10 * MINUTE, 2), ago(0, 4)];
    const converted = migrate(
      records,
      utc([{ unit: "minutes", bucketCount: 30 }]),
      utc([{ unit: "minutes", bucketCount: 60 }]),
    );
    const minutes = rowOf(converted, "minutes");
    assert.equal(minutes?.[25], 1);
    assert.equal(minutes?.[10], 2);
    assert.equal(minutes?.[0], 4);
    assert.equal(total(minutes), 7);
    // Loaded five minutes later, the same events sit five buckets further back.
    const later = migrate(
      records,
      utc([{ unit: "minutes", bucketCount: 30 }]),
      utc([{ unit: "minutes", bucketCount: 60 }]),
      NOW + 5 * MINUTE,
    );
    assert.deepEqual(
      [rowOf(later, "minutes")?.[30], rowOf(later, "minutes")?.[15], rowOf(later, "minutes")?.[5]],
      [1, 2, 4],
    );
  });

  it("Adding New Time Units: minutes -> minutes + hours; 30 minutes ago is minute 30 and hour 0", () => {
    const records = [ago(30 * MINUTE), ago(50 * MINUTE, 2), ago(0, 3)];
    const from = utc([{ unit: "minutes", bucketCount: 60 }]);
    const to = utc([
      { unit: "minutes", bucketCount: 60 },
      { unit: "hours", bucketCount: 24 },
    ]);
    const converted = migrate(records, from, to);
    assert.deepEqual(rowOf(converted, "minutes"), rowsFor(records, from, NOW)[0], "all minute buckets transfer");
    const hours = rowOf(converted, "hours");
    assert.equal(hours?.[0], 4, "10:15:30 and 10:45:30 are in this hour");
    assert.equal(hours?.[1], 2, "09:55:30 was last hour");
    assert.equal(total(hours), 6);
  });

  it("Removing Time Units: minutes + hours + days -> hours + days keeps the coarser units exactly", () => {
    const records = [ago(0), ago(20 * MINUTE), ago(3 * HOUR, 5), ago(2 * DAY + HOUR, 7), ago(6 * DAY, 2)];
    const from = utc([
      { unit: "minutes", bucketCount: 60 },
      { unit: "hours", bucketCount: 24 },
      { unit: "days", bucketCount: 7 },
    ]);
    const to = utc([
      { unit: "hours", bucketCount: 24 },
      { unit: "days", bucketCount: 7 },
    ]);
    const converted = migrate(records, from, to);
    const stored = rowsFor(records, from, NOW);
    assert.deepEqual(rowOf(converted, "hours"), stored[1]);
    assert.deepEqual(rowOf(converted, "days"), stored[2]);
    assert.equal(rowOf(converted, "minutes"), undefined);
  });

  it("Reducing Bucket Count: 90 -> 30 days keeps the last 30 days, drops the older ones", () => {
    const records = [ago(5 * DAY, 3), ago(29 * DAY, 1), ago(45 * DAY, 10), ago(80 * DAY, 10)];
    const converted = migrate(
      records,
      utc([{ unit: "days", bucketCount: 90 }]),
      utc([{ unit: "days", bucketCount: 30 }]),
    );
    const days = rowOf(converted, "days");
    assert.equal(days?.[5], 3);
    assert.equal(days?.[29], 1);
    assert.equal(total(days), 4, "events older than the new window disappear");
  });

  it("Precision loss: 120 -> 60 minutes drops events 61-120 minutes ago", () => {
    const records = [ago(10 * MINUTE), ago(90 * MINUTE, 5), ago(119 * MINUTE, 5)];
    const converted = migrate(
      records,
      utc([{ unit: "minutes", bucketCount: 120 }]),
      utc([{ unit: "minutes", bucketCount: 60 }]),
    );
    assert.equal(total(rowOf(converted, "minutes")), 1);
  });

  it("Precision loss: 60 minutes + 24 hours -> 45 minutes + 24 hours keeps the hours, trims the minutes", () => {
    const records = [ago(10 * MINUTE), ago(50 * MINUTE, 2), ago(5 * HOUR, 4)];
    const from = utc([
      { unit: "minutes", bucketCount: 60 },
      { unit: "hours", bucketCount: 24 },
    ]);
    const to = utc([
      { unit: "minutes", bucketCount: 45 },
      { unit: "hours", bucketCount: 24 },
    ]);
    const converted = migrate(records, from, to);
    const stored = rowsFor(records, from, NOW);
    assert.deepEqual(rowOf(converted, "hours"), stored[1]);
    assert.deepEqual(rowOf(converted, "minutes"), stored[0]?.slice(0, 45));
  });

  it("Precision loss: minutes + hours -> hours only keeps every hour bucket", () => {
    const records = [ago(10 * MINUTE), ago(50 * MINUTE, 2), ago(5 * HOUR, 4)];
    const from = utc([
      { unit: "minutes", bucketCount: 60 },
      { unit: "hours", bucketCount: 24 },
    ]);
    const converted = migrate(records, from, utc([{ unit: "hours", bucketCount: 24 }]));
    assert.deepEqual(rowOf(converted, "hours"), rowsFor(records, from, NOW)[1]);
  });

  it("Keep precision: 60 -> 120 minutes transfers every event, older buckets start empty", () => {
    const records = [ago(10 * MINUTE), ago(59 * MINUTE, 2)];
    const converted = migrate(
      records,
      utc([{ unit: "minutes", bucketCount: 60 }]),
      utc([{ unit: "minutes", bucketCount: 120 }]),
    );
    const minutes = rowOf(converted, "minutes");
    assert.deepEqual([minutes?.[10], minutes?.[59]], [1, 2]);
    assert.equal(total(minutes?.slice(60)), 0);
  });

  it("Keep precision: filling a gap (45 -> 60 minutes beside 24 hours) gives gap events minute buckets", () => {
    // 10:00:30 is 45 minutes ago: outside 45 minute buckets (10:01 … 10:45), inside hour 0.
    const records = [ago(0), ago(10 * MINUTE), ago(45 * MINUTE, 3), ago(2 * HOUR, 4)];
    const from = utc([
      { unit: "minutes", bucketCount: 45 },
      { unit: "hours", bucketCount: 24 },
    ]);
    const to = utc([
      { unit: "minutes", bucketCount: 60 },
      { unit: "hours", bucketCount: 24 },
    ]);
    const converted = migrate(records, from, to);
    const minutes = rowOf(converted, "minutes");
    assert.equal(minutes?.[45], 3, "the gap [10:00, 10:01) holds them: exactly minute 45");
    assert.deepEqual(minutes?.slice(0, 45), rowsFor(records, from, NOW)[0], "stored minutes are copied");
    assert.equal(total(minutes), 5, "the 2-hours-ago events lie beyond 60 minutes");
    assert.deepEqual(rowOf(converted, "hours"), rowsFor(records, from, NOW)[1]);
  });

  it("Keep precision: days -> days + weeks; weeks populate from the same data", () => {
    const records = [ago(0), ago(2 * DAY, 2), ago(9 * DAY, 3), ago(20 * DAY, 4), ago(40 * DAY, 8)];
    const from = utc([{ unit: "days", bucketCount: 28 }]);
    const to = utc([
      { unit: "days", bucketCount: 28 },
      { unit: "weeks", bucketCount: 8 },
    ]);
    const converted = migrate(records, from, to);
    assert.deepEqual(rowOf(converted, "days"), rowsFor(records, from, NOW)[0]);
    const held = records.filter((r) => NOW - r.at < 27 * DAY);
    const weeksOracle = rowsFor(held, utc([{ unit: "weeks", bucketCount: 8 }]), NOW)[0];
    assert.deepEqual(rowOf(converted, "weeks"), weeksOracle, "each day lies in one week: exact");
  });

  it("Migration Strategy: 30 -> 60 days, the recorded event transfers (last_days(60) = 1)", () => {
    const converted = migrate(
      [ago(0)],
      utc([{ unit: "days", bucketCount: 30 }]),
      utc([{ unit: "days", bucketCount: 60 }]),
    );
    assert.equal(total(rowOf(converted, "days")), 1);
  });

  it("Reference guide: 7 -> 28 days keeps the 7 and adds empty buckets; 7 -> 3 keeps the recent 3", () => {
    const records = [ago(0), ago(DAY, 2), ago(3 * DAY, 4), ago(6 * DAY, 8)];
    const seven = utc([{ unit: "days", bucketCount: 7 }]);
    const grown = migrate(records, seven, utc([{ unit: "days", bucketCount: 28 }]));
    assert.deepEqual(rowOf(grown, "days"), [...(rowsFor(records, seven, NOW)[0] ?? []), ...new Array(21).fill(0)]);
    const shrunk = migrate(records, seven, utc([{ unit: "days", bucketCount: 3 }]));
    assert.deepEqual(rowOf(shrunk, "days"), [1, 2, 0]);
  });

  it("What Happens During Conversion: a bucket's events are placed at its midpoint", () => {
    // 5 minutes ago lies in minute bucket 5 = [10:40, 10:41); its midpoint is 10:40:29.999.
    const records = [ago(20 * MINUTE), { at: Date.UTC(2024, 5, 12, 10, 40, 3), count: 6 }, ago(0)];
    const converted = migrate(
      records,
      utc([{ unit: "minutes", bucketCount: 60 }]),
      utc([{ unit: "seconds", bucketCount: 3600 }]),
    );
    const seconds = rowOf(converted, "seconds");
    const midpoint = Date.UTC(2024, 5, 12, 10, 40, 29, 999);
    assert.equal(seconds?.[Math.floor(NOW / 1000) - Math.floor(midpoint / 1000)], 6);
    assert.equal(total(seconds), 8);
  });

  it("converts between zones and alignments, keeping every count inside the new coverage", () => {
    const records = [ago(0), ago(2 * DAY + 3 * HOUR, 2), ago(5 * DAY + 20 * HOUR, 3)];
    const berlin: Config = {
      alignment: "calendar",
      timeZone: "Europe/Berlin",
      units: [{ unit: "days", bucketCount: 10 }],
    };
    const stored = recordedSnapshot({ device: records }, berlin, NOW);
    for (const to of [
      utc([{ unit: "days", bucketCount: 10 }]),
      { alignment: "uniform" as const, timeZone: "UTC", units: [{ unit: "days" as const, bucketCount: 10 }] },
      {
        alignment: "calendar" as const,
        timeZone: "Asia/Kathmandu",
        units: [{ unit: "hours" as const, bucketCount: 240 }],
      },
    ]) {
      const converted = convertSnapshot(stored, to, NOW);
      assert.equal(total(converted.replicas[0]?.counts[0]), 6, `${to.timeZone} ${to.alignment}`);
      assert.equal(converted.timeZone, to.timeZone);
      assert.equal(converted.alignment, to.alignment);
    }
  });

  it("after the clock went backwards, counts later than now land in bucket 0", () => {
    const records = [ago(0, 2), ago(5 * MINUTE, 3)];
    const converted = migrate(
      records,
      utc([{ unit: "minutes", bucketCount: 10 }]),
      utc([{ unit: "hours", bucketCount: 2 }]),
      NOW - 2 * HOUR,
    );
    assert.deepEqual(rowOf(converted, "hours"), [5, 0]);
  });
});
