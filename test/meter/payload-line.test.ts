import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { buildPayload, type EventPayload, flatLineBound, isoOfMs, payloadJson } from "../../src/meter/payload.ts";
import { flatParamsBound, writeParams, writePayloadLine } from "../../src/meter/payload-line.ts";

/** The line the byte encoder writes for the payload built last, as a Buffer. */
function encoded(payload: EventPayload): Buffer {
  const bound = flatLineBound(payload);
  assert.ok(bound >= 0, "expected flat params");
  const buffer = Buffer.alloc(bound + 16, 0xaa);
  const end = writePayloadLine(payload, buffer, 8);
  assert.ok(end - 8 <= bound, `line of ${end - 8} bytes over its bound ${bound}`);
  assert.equal(buffer[end], 0xaa, "wrote past the end it returned");
  return buffer.subarray(8, end);
}

const expected = (payload: EventPayload): Buffer => Buffer.from(`${JSON.stringify(payload)}\n`, "utf8");

const HOSTILE = [
  "",
  'quote " and backslash \\ and slash /',
  "\u0000\u0001\u0007\b\t\n\u000b\f\r\u000e\u001f\u007f",
  "lone high \ud800 end",
  "lone low \udc00 x",
  "\udbff",
  "\udfff\ud800",
  "pair \ud83d\ude00 and reversed \ude00\ud83d",
  "non-ASCII é ß ü € 中文 \u2028 \u2029 \ufeff \uffff",
  "</script><!--",
  "x".repeat(5000),
  "\\".repeat(300),
  "\u0000".repeat(300),
];

const NUMBERS = [
  0,
  -0,
  1,
  -1,
  9,
  10,
  99,
  100,
  42,
  123456789,
  -987654321,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31),
  -(2 ** 31) + 1,
  -(2 ** 31) - 1,
  2 ** 32,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
  2 ** 53,
  -(2 ** 53),
  1e21,
  1e-7,
  0.1,
  -12.75,
  5e-324,
  Number.MAX_VALUE,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
];

describe("payload lines written as bytes", () => {
  it("match JSON.stringify for hostile strings in names, keys and values", () => {
    for (const text of HOSTILE) {
      const payload = buildPayload(text === "" ? "n" : text, "success", Date.UTC(2026, 4, 6), 5, {
        [text]: text,
        plain: text,
      });
      assert.deepEqual(encoded(payload), expected(payload), JSON.stringify(text));
    }
  });

  it("match JSON.stringify for numbers, booleans, null, and leave out undefined and symbols", () => {
    for (const n of NUMBERS) {
      const payload = buildPayload("job", "failure", 0, n, {
        n,
        t: true,
        f: false,
        z: null,
        u: undefined,
        s: Symbol("x"),
        last: n,
      });
      assert.deepEqual(encoded(payload), expected(payload), String(n));
    }
    const onlyLeftOut = buildPayload("job", "skipped", 0, 0, { u: undefined, s: Symbol("y") });
    assert.deepEqual(encoded(onlyLeftOut), expected(onlyLeftOut));
    const empty = buildPayload("job", "success", 0, 0, {});
    assert.equal(encoded(empty).toString(), `${JSON.stringify(empty)}\n`);
  });

  it("leave out inherited enumerable keys, as JSON.stringify does", () => {
    const proto = { inherited: "no" };
    const params = Object.assign(Object.create(proto) as Record<string, unknown>, { own: "yes", n: 1 });
    const payload = buildPayload("job", "success", 0, 1, params);
    assert.deepEqual(encoded(payload), expected(payload));
    const buffer = Buffer.alloc(64);
    const end = writeParams(params, buffer, 0);
    assert.equal(buffer.toString("utf8", 0, end), '{"own":"yes","n":1}', "also when written without a bound pass");
  });

  it("keep JSON.stringify's key order (integer keys first)", () => {
    const payload = buildPayload("job", "success", 0, 1, { b: 1, 10: "ten", a: 2, 2: "two", "-1": 3 });
    assert.deepEqual(encoded(payload), expected(payload));
  });

  it("match JSON.stringify for random flat params (property)", () => {
    const value = fc.oneof(
      fc.string({ unit: "binary" }),
      fc.string({ unit: "grapheme" }),
      fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }),
      fc.double(),
      fc.integer(),
      fc.maxSafeInteger(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
    );
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", minLength: 1 }),
        fc.constantFrom("success", "failure", "skipped"),
        fc.integer({ min: -8.64e15, max: 8.64e15 }),
        fc.maxSafeNat(),
        fc.dictionary(
          fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }),
          value,
        ),
        (name, status, startedAt, duration, params) => {
          const payload = buildPayload(name, status, startedAt, duration, params);
          assert.deepEqual(encoded(payload), expected(payload));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("leaves non-flat params to JSON.stringify, which still rejects BigInt and cycles", () => {
    for (const params of [{ nested: { a: 1 } }, { list: [1, 2] }, { date: new Date(0) }, { fn: () => 1 }]) {
      assert.equal(flatParamsBound(params), -1);
      const payload = buildPayload("job", "success", 0, 1, params);
      assert.equal(flatLineBound(payload), -1);
      assert.equal(payloadJson(payload), JSON.stringify(payload));
    }
    const custom = { a: 1, toJSON: () => ({ replaced: true }) };
    assert.equal(flatParamsBound(custom), -1);
    assert.equal(
      payloadJson(buildPayload("job", "success", 0, 1, custom)).includes('"params":{"replaced":true}'),
      true,
    );
    class Instance {
      own = "x";
      toJSON() {
        return "instance";
      }
    }
    assert.equal(flatParamsBound(new Instance() as unknown as Record<string, unknown>), -1);
    assert.throws(() => buildPayload("job", "success", 0, 1, { big: 1n }), TypeError);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    assert.throws(() => buildPayload("job", "success", 0, 1, { cycle }), TypeError);
  });

  it("only the payload built last is written as bytes; others take the JSON path", () => {
    const first = buildPayload("job", "success", 0, 1, { i: 1 });
    const second = buildPayload("job", "success", 0, 2, { i: 2 });
    assert.equal(flatLineBound(first), -1);
    assert.equal(payloadJson(first), JSON.stringify(first));
    assert.ok(flatLineBound(second) >= 0);
    assert.equal(payloadJson(second), JSON.stringify(second));
  });
});

describe("isoOfMs", () => {
  it("equals toISOString, also for repeated ms, second changes and far dates", () => {
    const base = Date.UTC(2026, 4, 6, 10, 15, 20, 122);
    for (const ms of [
      base,
      base,
      base + 1,
      base + 1,
      base + 878,
      base + 999,
      base + 1000,
      base - 1,
      0,
      -1,
      253402300799999,
      8.64e15,
      -8.64e15,
      base,
      12.5,
    ]) {
      assert.equal(isoOfMs(ms), new Date(ms).toISOString(), String(ms));
    }
  });
});
