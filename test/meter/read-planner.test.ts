import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { EventMeter } from "../../src/meter/event-meter.ts";
import { minuteSpan, planReads, planWindow } from "../../src/meter/read-planner.ts";
import { emptyRecord, mergeRecord } from "../../src/meter/rollup-record.ts";
import type { MeterRollups, ReportRef, Tier } from "../../src/meter/rollups.ts";
import { summaryOf } from "../../src/meter/summary.ts";
import { MemoryRollups } from "../../src/storage/memory/meter-rollups.ts";
import { MemoryStream } from "../../src/storage/memory/meter-stream.ts";
import { TestClock } from "../../src/time/clock.ts";

const DAY = 86_400_000;
const BASE = Date.UTC(2026, 3, 1);

/** Counts bucket reads (one per requested start) through a wrapper around a real store. */
function counting(inner: MeterRollups): { rollups: MeterRollups; reads: { count: number } } {
  const reads = { count: 0 };
  const rollups = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === "readBuckets") {
        return (ref: ReportRef, tier: Tier, starts: readonly number[], key: string) => {
          reads.count += starts.length;
          return target.readBuckets(ref, tier, starts, key);
        };
      }
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { rollups, reads };
}

async function seeded(events: number) {
  const clock = new TestClock(BASE);
  const stream = new MemoryStream({ clock });
  const memory = new MemoryRollups();
  const { rollups, reads } = counting(memory);
  const meter = new EventMeter({ stream, rollups, clock, cleanupHistoryRetention: "100000d" });
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let i = 0; i < events; i++) {
    clock.set(BASE + Math.floor(random() * 45 * DAY));
    const event = meter.start("j", { p: i % 3 });
    clock.advance(Math.floor(random() * 5000));
    await (i % 7 === 0 ? event.failure() : event.success());
  }
  clock.set(BASE + 50 * DAY);
  await meter.processPending("j", { version: 1 }, (r) => r.indexBy("p"));
  return { meter, memory, reads };
}

describe("read planner", () => {
  it("covers [S, E) exactly once with days, hours and minutes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 * DAY }), fc.integer({ min: 1, max: 40 * DAY }), (from, length) => {
        const [S, E] = minuteSpan(BASE + from, BASE + from + length);
        const plan = planWindow(S, E);
        const spans = [
          ...plan.minute.map((t) => [t, t + 60_000]),
          ...plan.hour.map((t) => [t, t + 3_600_000]),
          ...plan.day.map((t) => [t, t + DAY]),
        ].sort((a, b) => (a[0] as number) - (b[0] as number));
        let at = S;
        for (const [a, b] of spans) {
          assert.equal(a, at, "no gap, no overlap");
          at = b as number;
        }
        assert.equal(at, E);
        assert.ok(planReads(plan) <= 30 + 46 + 118 + (length > 30 * DAY ? 10 : 0));
      }),
      { numRuns: 300 },
    );
  });

  it("a 30-day ragged summary touches at most 194 buckets (target <= 800)", async () => {
    const { meter, reads } = await seeded(200);
    reads.count = 0;
    await meter.summary("j", { version: 1, from: "2026-04-01T10:17:23Z", to: "2026-05-01T13:42:10Z" });
    assert.ok(reads.count <= 194, `${reads.count} bucket reads`);
    assert.ok(reads.count <= 800);
    assert.ok(reads.count > 100, "ragged on both edges, so many minutes and hours");
  });

  it("gives the same answer as summing minutes (a minute-only oracle) on random windows", async () => {
    const { meter, memory } = await seeded(3000);
    const ref = { namespace: "tally", name: "j", version: 1 };
    const oracle = async (from: number, to: number, key: string) => {
      const [S, E] = minuteSpan(from, to);
      const starts: number[] = [];
      for (let t = S; t < E; t += 60_000) starts.push(t);
      const total = emptyRecord("minute", S, "", key);
      for (const r of await memory.readBuckets(ref, "minute", starts, key)) mergeRecord(total, r);
      return summaryOf(total, (E - S) / 1000);
    };
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: -DAY, max: 46 * DAY }),
        fc.integer({ min: 1, max: 20 * DAY }),
        fc.constantFrom(null, { p: 0 }, { p: "2" }),
        async (offset, length, by) => {
          const from = BASE + offset;
          const to = from + length;
          const key = by === null ? "all" : `p=${by.p}`;
          const got = await meter.summary("j", { version: 1, from, to, by });
          assert.deepEqual(got, await oracle(from, to, key));
        },
      ),
      { numRuns: 40 },
    );
  });
});
