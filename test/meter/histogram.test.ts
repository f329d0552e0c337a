import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  addHistogramJson,
  addToHistogram,
  bucketOf,
  bucketRange,
  FrozenHistogram,
  histogramFrom,
  histogramJson,
  MAX_BUCKET,
  mergeHistogram,
  percentile,
} from "../../src/meter/histogram.ts";
import type { Histogram } from "../../src/meter/rollups.ts";

const histOf = (values: readonly number[]): Histogram => {
  const h: Histogram = new Map();
  for (const v of values) addToHistogram(h, v);
  return h;
};
const sorted = (h: Histogram) => [...h].sort((a, b) => a[0] - b[0]);
const nearestRank = (values: readonly number[], q: number): number => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(1, Math.ceil(q * s.length)) - 1] as number;
};

describe("histogram buckets", () => {
  it("is exact below 32 and follows the spec's index formula", () => {
    for (let v = 0; v < 32; v++) assert.equal(bucketOf(v), v);
    assert.equal(bucketOf(32), 32);
    assert.equal(bucketOf(33), 32 + 0 * 16 + 0); // e=5, width 2: 32..33
    assert.equal(bucketOf(34), 33);
    assert.equal(bucketOf(64), 48);
    assert.deepEqual(bucketRange(48), [64, 67]);
    assert.equal(bucketOf(2 ** 53), MAX_BUCKET - 15);
    assert.equal(bucketOf(Number.MAX_SAFE_INTEGER), MAX_BUCKET - 16);
  });

  it("every value lies in its bucket's range", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (v) => {
        const [lo, hi] = bucketRange(bucketOf(v));
        return lo <= v && v <= hi;
      }),
      { numRuns: 2000 },
    );
  });
});

describe("percentiles", () => {
  const values = fc.array(
    fc.oneof(
      fc.integer({ min: 0, max: 100 }),
      fc.integer({ min: 0, max: 10_000_000 }),
      fc.integer({ min: 0, max: 2 ** 40 }),
    ),
    { minLength: 1, maxLength: 400 },
  );
  it("are within 1/32 of the exact nearest rank and inside [min, max]", () => {
    fc.assert(
      fc.property(values, fc.constantFrom(0.5, 0.9, 0.95, 0.99, 0.01, 1), (vs, q) => {
        const min = Math.min(...vs);
        const max = Math.max(...vs);
        const got = percentile(histOf(vs), q, min, max) as number;
        const exact = nearestRank(vs, q);
        assert.ok(got >= min && got <= max, `${got} outside [${min}, ${max}]`);
        assert.ok(Math.abs(got - exact) <= exact / 32, `p${q * 100} ${got} vs exact ${exact}`);
      }),
      { numRuns: 500 },
    );
  });

  it("is null for an empty histogram", () => assert.equal(percentile(new Map(), 0.5, null, null), null));
});

describe("merge", () => {
  const hist = fc.array(fc.integer({ min: 0, max: 1_000_000 }), { maxLength: 50 }).map(histOf);
  const merged = (...hs: Histogram[]): Histogram => {
    const out: Histogram = new Map();
    for (const h of hs) mergeHistogram(out, h);
    return out;
  };
  it("is commutative and associative, and equals the histogram of the union", () => {
    fc.assert(
      fc.property(hist, hist, hist, (a, b, c) => {
        assert.deepEqual(sorted(merged(a, b)), sorted(merged(b, a)));
        assert.deepEqual(sorted(merged(merged(a, b), c)), sorted(merged(a, merged(b, c))));
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.nat()), fc.array(fc.nat()), (x, y) => {
        assert.deepEqual(sorted(merged(histOf(x), histOf(y))), sorted(histOf([...x, ...y])));
      }),
    );
  });
});

describe("stored histogram text", () => {
  const texts = fc.oneof(
    fc.array(fc.nat({ max: 2_000_000 }), { maxLength: 30 }).map((values) => histogramJson(histOf(values))),
    fc.constantFrom(
      '{"x":1,"-3":2,"40":"7","41":"zz"}',
      '{"01":2,"3":1}',
      "[1,2]",
      "not json",
      '{"5":0,"6":-1}',
      "{}",
      '{"3":1,"3":2}',
      '{ "3": 1 }',
      '{"3":1.5,"4":07}',
      '{"815":1,"816":2}',
      '{"3":1e3}',
    ),
    fc.constant(null),
  );

  it("addHistogramJson equals reading both with histogramFrom's rules and adding them", () => {
    fc.assert(
      fc.property(texts, texts, (a, b) => {
        const want = histogramFrom(a);
        mergeHistogram(want, histogramFrom(b));
        assert.deepEqual(sorted(histogramFrom(addHistogramJson(a, b))), sorted(want));
      }),
      { numRuns: 300 },
    );
  });

  it("a frozen histogram refuses writes and keeps its JSON", () => {
    const frozen = new FrozenHistogram([
      [3, 1],
      [40, 2],
    ]);
    assert.throws(() => frozen.set(1, 1), TypeError);
    assert.equal(histogramJson(frozen), '{"3":1,"40":2}');
    assert.equal(histogramJson(frozen), frozen.json);
  });
});
