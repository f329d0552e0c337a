import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { aggregate } from "../../src/meter/aggregate.ts";
import { DefinitionBuilder } from "../../src/meter/definition.ts";
import { addToHistogram } from "../../src/meter/histogram.ts";
import { canonicalValue, indexKeyOf } from "../../src/meter/index-key.ts";
import { compileDefinition, InternedBatch } from "../../src/meter/interned-batch.ts";
import type { ParsedEvent } from "../../src/meter/parse-row.ts";
import { emptyRecord } from "../../src/meter/rollup-record.ts";
import { type RollupRecord, type StoredDefinition, stateKey, TIER_MS, TIERS } from "../../src/meter/rollups.ts";

/**
 * The spec's aggregation written the slow, obvious way: every event touches its minute, hour and
 * day bucket of every index it can fill; interval rules walk a stable sort by (identity, start).
 */
function oracle(def: StoredDefinition, events: readonly ParsedEvent[], state: ReadonlyMap<string, number>) {
  const records = new Map<string, RollupRecord>();
  const keyOf = (params: readonly string[], event: ParsedEvent): string | null => {
    const values: string[] = [];
    for (const p of params) {
      const v = canonicalValue(event.params[p]);
      if (v === null) return null;
      values.push(v);
    }
    return indexKeyOf(params, values);
  };
  const each = (params: string[], key: string, t: number, fn: (r: RollupRecord) => void) => {
    for (const tier of TIERS) {
      const start = t - (t % TIER_MS[tier]);
      const id = `${tier}|${start}|${key}`;
      let r = records.get(id);
      if (r === undefined) {
        r = emptyRecord(tier, start, params.join(","), key);
        records.set(id, r);
      }
      fn(r);
    }
  };
  for (const event of events) {
    for (const params of def.indexes) {
      const key = keyOf(params, event);
      if (key === null) continue;
      each(params, key, event.startedAt, (r) => {
        r.count++;
        if (event.status === "success") r.successCount++;
        else if (event.status === "failure") r.failureCount++;
        else r.skippedCount++;
        r.startedAtMin = Math.min(r.startedAtMin ?? Number.POSITIVE_INFINITY, event.startedAt);
        r.startedAtMax = Math.max(r.startedAtMax ?? Number.NEGATIVE_INFINITY, event.startedAt);
        if (event.durationMs >= 0) {
          r.durationMsCount++;
          r.durationMsSum += event.durationMs;
          r.durationMsMin = Math.min(r.durationMsMin ?? Number.POSITIVE_INFINITY, event.durationMs);
          r.durationMsMax = Math.max(r.durationMsMax ?? Number.NEGATIVE_INFINITY, event.durationMs);
          addToHistogram(r.durationMsHist, event.durationMs);
        }
      });
    }
  }
  const intervalState: { param: string; value: string; lastMs: number }[] = [];
  for (const param of [...new Set(def.intervals.map((i) => i.param))]) {
    const rules = def.intervals.filter((i) => i.param === param);
    const items = events
      .map((event) => ({ value: canonicalValue(event.params[param]), event }))
      .filter((x): x is { value: string; event: ParsedEvent } => x.value !== null)
      .sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : a.event.startedAt - b.event.startedAt));
    const last = new Map<string, number>();
    for (const { value, event } of items) {
      const previous = last.has(value) ? last.get(value) : state.get(stateKey(param, value));
      if (previous !== undefined && event.startedAt <= previous) continue;
      let accepted = false;
      for (const rule of rules) {
        const key = keyOf(rule.groupBy, event);
        if (key === null) continue;
        accepted = true;
        if (previous === undefined) continue;
        const gap = event.startedAt - previous;
        each(rule.groupBy, key, event.startedAt, (r) => {
          r.intervalMsCount++;
          r.intervalMsSum += gap;
          r.intervalMsMin = Math.min(r.intervalMsMin ?? Number.POSITIVE_INFINITY, gap);
          r.intervalMsMax = Math.max(r.intervalMsMax ?? Number.NEGATIVE_INFINITY, gap);
          addToHistogram(r.intervalMsHist, gap);
        });
      }
      if (accepted) last.set(value, event.startedAt);
    }
    for (const [value, lastMs] of last) intervalState.push({ param, value, lastMs });
  }
  return { records, intervalState };
}

const normal = (r: RollupRecord) => ({
  ...r,
  durationMsHist: [...r.durationMsHist].sort((a, b) => a[0] - b[0]),
  intervalMsHist: [...r.intervalMsHist].sort((a, b) => a[0] - b[0]),
});

const value = fc.oneof(
  fc.constantFrom("a", "b", "42", "", "x y&z=é", "true"),
  fc.constantFrom(42, 0, -0, 1.5, Number.NaN, Number.POSITIVE_INFINITY),
  fc.boolean(),
  fc.constantFrom(null, undefined, { o: 1 }, [1]),
);
const T0 = Date.UTC(2026, 4, 6, 23, 0);
const event = fc.record({
  status: fc.constantFrom("success" as const, "failure" as const, "skipped" as const),
  // A coarse grid (with some odd ms) makes equal starts, and starts equal to stored state, common.
  startedAt: fc.oneof(
    fc.integer({ min: 0, max: 20 }).map((k) => T0 + k * 540_000),
    fc.integer({ min: T0, max: T0 + 3 * 3_600_000 }),
  ),
  durationMs: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 100_000 })),
  params: fc.record({ customer: value, provider: value, queue: value }, { requiredKeys: [] }),
});

describe("aggregate", () => {
  it("matches the obvious per-event, per-tier aggregation (records and interval state)", () => {
    const b = new DefinitionBuilder()
      .indexBy("customer")
      .indexBy("provider", "queue")
      .measureIntervalBy("customer", { groupBy: "provider" })
      .measureIntervalBy("customer", { groupBy: ["provider", "queue"] })
      .measureIntervalBy("provider");
    const def = b.build("job", 1);
    const compiled = compileDefinition(def);
    fc.assert(
      fc.property(
        fc.array(event, { minLength: 1, maxLength: 80 }),
        fc.array(
          fc.tuple(
            fc.constantFrom("customer", "provider"),
            value,
            fc.integer({ min: -1, max: 20 }).map((k) => T0 + k * 540_000),
          ),
        ),
        (events, stored) => {
          const state = new Map<string, number>();
          for (const [param, v, ms] of stored) {
            const c = canonicalValue(v);
            if (c !== null) state.set(stateKey(param, c), ms);
          }
          const batch = new InternedBatch(compiled, 2);
          for (const e of events) batch.add(e as ParsedEvent);
          const got = aggregate(batch, state);
          const want = oracle(def, events as ParsedEvent[], state);
          const byId = new Map(got.rollups.map((r) => [`${r.tier}|${r.bucketStart}|${r.indexKey}`, r]));
          assert.equal(byId.size, got.rollups.length, "one delta per (tier, bucket, index key)");
          const tierRank = { minute: 0, hour: 1, day: 2 };
          const sortKey = (r: RollupRecord) => [tierRank[r.tier], r.indexName, r.bucketStart, r.indexKey] as const;
          for (let i = 1; i < got.rollups.length; i++) {
            const [a, b] = [sortKey(got.rollups[i - 1] as RollupRecord), sortKey(got.rollups[i] as RollupRecord)];
            const cmp =
              a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) || a[2] - b[2] || (a[3] < b[3] ? -1 : 1);
            assert.ok(cmp < 0, "deltas come in key order (tier, index name, bucket start, index key)");
          }
          assert.equal(got.columns.order.length, got.rollups.length);
          assert.deepEqual(
            new Map([...byId].map(([k, r]) => [k, normal(r)])),
            new Map([...want.records].map(([k, r]) => [k, normal(r)])),
          );
          const order = (a: { param: string; value: string }, b: { param: string; value: string }) =>
            a.param === b.param ? (a.value < b.value ? -1 : 1) : a.param < b.param ? -1 : 1;
          assert.deepEqual([...got.intervalState].sort(order), [...want.intervalState].sort(order));
        },
      ),
      { numRuns: 300 },
    );
  });
});
