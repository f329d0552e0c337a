import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ConditionNode,
  CountTracker,
  defineCondition,
  evaluateCondition,
  KeyExists,
  KeyNotExists,
  KeyValueContained,
  KeyValueEQ,
  KeyValueGE,
  KeyValueGT,
  KeyValueInList,
  KeyValueLE,
  KeyValueListHasItem,
  KeyValueListIntersectList,
  KeyValueListNotHasItem,
  KeyValueListNotIntersectList,
  KeyValueLT,
  KeyValueNE,
  KeyValueNotContained,
  KeyValueNotInList,
  MemoryTrackerStore,
  TrackingManager,
} from "../../src/tracker.ts";

type Row = [data: Record<string, unknown>, expected: boolean];

/** Checks a class and the JSON node it compiles to give the same answers. */
function table(
  name: string,
  cond: { check(d: object, o?: { coerceNumbers?: boolean }): boolean; toJSON(): ConditionNode },
  rows: Row[],
) {
  it(name, () => {
    for (const [data, expected] of rows) {
      assert.equal(cond.check(data), expected, `${String(cond)} on ${JSON.stringify(data)}`);
      assert.equal(
        evaluateCondition(cond.toJSON(), data),
        expected,
        `JSON of ${String(cond)} on ${JSON.stringify(data)}`,
      );
    }
  });
}

const MISSING = {};
const NULL = { k: null };

describe("condition classes: truth tables", () => {
  table("KeyExists", new KeyExists("k"), [
    [MISSING, false],
    [NULL, true],
    [{ k: 0 }, true],
    [{ k: undefined }, false],
  ]);
  table("KeyNotExists", new KeyNotExists("k"), [
    [MISSING, true],
    [NULL, false],
    [{ k: false }, false],
  ]);
  table("KeyValueEQ strict", new KeyValueEQ("k", 10), [
    [MISSING, false],
    [NULL, false],
    [{ k: 10 }, true],
    [{ k: "10" }, false],
    [{ k: 10.0 }, true],
    [{ k: true }, false],
  ]);
  table("KeyValueEQ boolean only equals boolean", new KeyValueEQ("k", true), [
    [{ k: true }, true],
    [{ k: 1 }, false],
    [{ k: "true" }, false],
  ]);
  table("KeyValueEQ null only equals null", new KeyValueEQ("k", null), [
    [NULL, true],
    [MISSING, false],
    [{ k: 0 }, false],
  ]);
  table("KeyValueEQ deep", new KeyValueEQ("k", { a: [1, { b: 2 }] }), [
    [{ k: { a: [1, { b: 2 }] } }, true],
    [{ k: { a: [{ b: 2 }, 1] } }, false],
    [{ k: { a: [1, { b: 2 }], c: 1 } }, false],
    [{ k: new Date(0) }, false],
  ]);
  table("KeyValueEQ 0 equals -0", new KeyValueEQ("k", 0), [
    [{ k: -0 }, true],
    [{ k: Number.NaN }, false],
  ]);
  table("KeyValueNE false on missing, true on another type", new KeyValueNE("k", 10), [
    [MISSING, false],
    [NULL, true],
    [{ k: "10" }, true],
    [{ k: 10 }, false],
  ]);
  table("KeyValueLT numbers", new KeyValueLT("k", 10), [
    [MISSING, false],
    [NULL, false],
    [{ k: 9 }, true],
    [{ k: 10 }, false],
    [{ k: "9" }, false],
    [{ k: Number.NEGATIVE_INFINITY }, false],
    [{ k: [1] }, false],
  ]);
  table("KeyValueLE", new KeyValueLE("k", 10), [
    [{ k: 10 }, true],
    [{ k: 11 }, false],
    [NULL, false],
  ]);
  table("KeyValueGT", new KeyValueGT("k", 10), [
    [{ k: 11 }, true],
    [{ k: 10 }, false],
    [{ k: true }, false],
  ]);
  table("KeyValueGE", new KeyValueGE("k", 10), [
    [{ k: 10 }, true],
    [{ k: 9 }, false],
    [MISSING, false],
  ]);
  table("KeyValueLT strings compare by code units", new KeyValueLT("k", "9"), [
    [{ k: "10" }, true],
    [{ k: "a" }, false],
    [{ k: 1 }, false],
  ]);
  table("KeyValueContained case-sensitive", new KeyValueContained("k", "ell"), [
    [{ k: "hello" }, true],
    [{ k: "HELLO" }, false],
    [{ k: ["x", "ell"] }, true],
    [{ k: ["hello"] }, false],
    [MISSING, false],
    [NULL, false],
    [{ k: 5 }, false],
  ]);
  table("KeyValueContained case-insensitive", new KeyValueContained("k", "ELL", { caseSensitive: false }), [
    [{ k: "hello" }, true],
    [{ k: ["x", "Ell"] }, true],
    [{ k: "hxllo" }, false],
  ]);
  table("KeyValueNotContained", new KeyValueNotContained("k", "ell"), [
    [MISSING, false],
    [NULL, true],
    [{ k: "hello" }, false],
    [{ k: "world" }, true],
    [{ k: 5 }, true],
  ]);
  table("KeyValueNotContained case-insensitive", new KeyValueNotContained("k", "ELL", { caseSensitive: false }), [
    [{ k: "hello" }, false],
    [{ k: "world" }, true],
  ]);
  table("KeyValueInList", new KeyValueInList("k", ["a", 1, null, [2]]), [
    [MISSING, false],
    [NULL, true],
    [{ k: "a" }, true],
    [{ k: "1" }, false],
    [{ k: true }, false],
    [{ k: [2] }, true],
  ]);
  table("KeyValueNotInList", new KeyValueNotInList("k", ["a", 1]), [
    [MISSING, false],
    [NULL, true],
    [{ k: "a" }, false],
    [{ k: "b" }, true],
  ]);
  table("KeyValueListHasItem", new KeyValueListHasItem("k", "a"), [
    [MISSING, false],
    [NULL, false],
    [{ k: ["a", "b"] }, true],
    [{ k: "abc" }, false],
    [{ k: ["A"] }, false],
  ]);
  table("KeyValueListNotHasItem", new KeyValueListNotHasItem("k", 1), [
    [MISSING, false],
    [{ k: [2, 3] }, true],
    [{ k: [1] }, false],
    [{ k: "1" }, true],
  ]);
  table("KeyValueListIntersectList", new KeyValueListIntersectList("k", ["a", { x: 1 }]), [
    [MISSING, false],
    [{ k: ["b", "a"] }, true],
    [{ k: [{ x: 1 }] }, true],
    [{ k: "a" }, false],
    [{ k: [] }, false],
  ]);
  table("KeyValueListNotIntersectList", new KeyValueListNotIntersectList("k", ["a"]), [
    [MISSING, false],
    [NULL, true],
    [{ k: ["b"] }, true],
    [{ k: ["a"] }, false],
    [{ k: "a" }, true],
  ]);

  it("toString follows dictrack's repr", () => {
    assert.equal(String(new KeyValueEQ("age", 10)), "<KeyValueEQ (key=age operator=eq value=10)>");
    assert.equal(String(new KeyExists("age")), "<KeyExists (key=age operator=exists)>");
  });

  it("negated classes compile to present-and-not forms", () => {
    assert.deepEqual(new KeyValueNotContained("k", "x").toJSON(), {
      all: [{ path: "k", op: "exists" }, { not: { path: "k", op: "contains", value: "x", caseSensitive: true } }],
    });
    assert.deepEqual(new KeyValueNotInList("k", [1]).toJSON(), { path: "k", op: "nin", value: [1] });
  });
});

describe("JSON ops", () => {
  const ev = (node: ConditionNode, data: object, coerceNumbers = false) =>
    evaluateCondition(node, data, { coerceNumbers });
  it("all / any / not, with short circuit and plain negation", () => {
    assert.equal(ev({ all: [] }, {}), true);
    assert.equal(ev({ any: [] }, {}), false);
    assert.equal(ev({ not: { path: "k", op: "eq", value: 1 } }, {}), true);
    assert.equal(
      ev(
        {
          any: [
            { path: "a", op: "eq", value: 1 },
            { path: "b", op: "exists" },
          ],
        },
        { b: null },
      ),
      true,
    );
    assert.equal(
      ev(
        {
          all: [
            { path: "a", op: "eq", value: 1 },
            { path: "b", op: "exists" },
          ],
        },
        { a: 1 },
      ),
      false,
    );
  });
  it("between (numbers and strings, inclusive)", () => {
    const n: ConditionNode = { path: "k", op: "between", value: [1, 3] };
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((k) => ev(n, { k })),
      [false, true, true, true, false],
    );
    assert.equal(ev(n, { k: "2" }), false);
    assert.equal(ev(n, { k: "2" }, true), true);
    assert.equal(ev(n, {}), false);
    assert.equal(ev(n, { k: null }), false);
    const s: ConditionNode = { path: "k", op: "between", value: ["b", "d"] };
    assert.equal(ev(s, { k: "c" }), true);
    assert.equal(ev(s, { k: "e" }), false);
  });
  it("startsWith, both case modes", () => {
    assert.equal(ev({ path: "k", op: "startsWith", value: "ab" }, { k: "abc" }), true);
    assert.equal(ev({ path: "k", op: "startsWith", value: "AB" }, { k: "abc" }), false);
    assert.equal(ev({ path: "k", op: "startsWith", value: "AB", caseSensitive: false }, { k: "abc" }), true);
    assert.equal(ev({ path: "k", op: "startsWith", value: "a" }, { k: ["abc"] }), false);
    assert.equal(ev({ path: "k", op: "startsWith", value: "a" }, {}), false);
  });
  it("regex on strings only, with flags, and not on huge strings", () => {
    assert.equal(ev({ path: "k", op: "regex", value: "^a\\d+$" }, { k: "a12" }), true);
    assert.equal(ev({ path: "k", op: "regex", value: "^A", flags: "i" }, { k: "abc" }), true);
    assert.equal(ev({ path: "k", op: "regex", value: "1" }, { k: 1 }), false);
    assert.equal(ev({ path: "k", op: "regex", value: "a" }, { k: "a".repeat(10_001) }), false);
  });
  it("exists / missing / hasItem / intersects / disjoint / in / nin / contains nodes", () => {
    assert.equal(ev({ path: "k", op: "missing" }, {}), true);
    assert.equal(ev({ path: "k", op: "missing" }, { k: null }), false);
    assert.equal(ev({ path: "k", op: "hasItem", value: 2 }, { k: [1, 2] }), true);
    assert.equal(ev({ path: "k", op: "hasItem", value: 2 }, { k: ["2"] }), false);
    assert.equal(ev({ path: "k", op: "intersects", value: [1] }, { k: [1] }), true);
    assert.equal(ev({ path: "k", op: "disjoint", value: [1] }, { k: [2] }), true);
    assert.equal(ev({ path: "k", op: "disjoint", value: [1] }, {}), false);
    assert.equal(ev({ path: "k", op: "in", value: [1] }, { k: 1 }), true);
    assert.equal(ev({ path: "k", op: "nin", value: [1] }, {}), false);
    assert.equal(ev({ path: "k", op: "contains", value: "b" }, { k: "abc" }), true);
  });
  it("coerceNumbers reads strict decimal strings where they meet numeric operands", () => {
    assert.equal(ev({ path: "k", op: "eq", value: 10 }, { k: "10" }), false);
    assert.equal(ev({ path: "k", op: "eq", value: 10 }, { k: "10" }, true), true);
    assert.equal(ev({ path: "k", op: "eq", value: 10 }, { k: "1e1" }, true), true);
    assert.equal(ev({ path: "k", op: "gt", value: 5 }, { k: "10" }, true), true);
    assert.equal(ev({ path: "k", op: "gt", value: 5 }, { k: "0x10" }, true), false);
    assert.equal(ev({ path: "k", op: "gt", value: 5 }, { k: " 10" }, true), false);
    assert.equal(ev({ path: "k", op: "in", value: [10] }, { k: "10" }, true), true);
    assert.equal(ev({ path: "k", op: "nin", value: [10] }, { k: "10" }, true), false);
    assert.equal(ev({ path: "k", op: "ne", value: 10 }, { k: "10" }, true), false);
    assert.equal(ev({ path: "k", op: "lt", value: "9" }, { k: "10" }, true), true, "string operands stay strings");
    assert.equal(ev({ path: "k", op: "hasItem", value: 1 }, { k: ["1"] }, true), false, "array elements never coerce");
  });
});

describe("key paths", () => {
  const ev = (path: ConditionNode extends infer _ ? string | (string | number)[] : never, data: object) =>
    evaluateCondition({ path, op: "exists" }, data);
  const val = (path: string | (string | number)[], data: object, value: unknown) =>
    evaluateCondition({ path, op: "eq", value: value as never }, data);
  it("dots, escaped dots, arrays and negative indexes", () => {
    assert.equal(val("a.b", { a: { b: 1 } }, 1), true);
    assert.equal(val("a\\.b", { "a.b": 1 }, 1), true);
    assert.equal(val("a\\.b", { a: { b: 1 } }, 1), false);
    assert.equal(val("items.0.id", { items: [{ id: 7 }] }, 7), true);
    assert.equal(val("items.-1", { items: [1, 2, 3] }, 3), true);
    assert.equal(ev("items.3", { items: [1, 2, 3] }), false);
    assert.equal(ev("items.-4", { items: [1, 2, 3] }), false);
    assert.equal(ev("items.x", { items: [1] }), false);
    assert.equal(ev("s.0", { s: "abc" }), false);
  });
  it("segment arrays: numbers index arrays, strings name keys", () => {
    assert.equal(val(["a.b", 0], { "a.b": [5] }, 5), true);
    assert.equal(ev(["m", "0"], { m: { "0": 1 } }), true);
    assert.equal(ev(["m", 0], { m: { "0": 1 } }), false);
    assert.equal(ev(["l", "0"], { l: [1] }), false);
  });
  it("own properties only: __proto__ and constructor never reach inherited members", () => {
    assert.equal(ev("__proto__", {}), false);
    assert.equal(ev("constructor", {}), false);
    assert.equal(ev("a.toString", { a: {} }), false);
    const own = JSON.parse('{"__proto__": {"x": 1}}');
    assert.equal(val("__proto__.x", own, 1), true);
    assert.equal(ev("d.getTime", { d: new Date() }), false, "class instances are opaque");
    assert.equal(ev("n.x", { n: null }), false);
  });
});

describe("definition-time checks", () => {
  const bad: unknown[] = [
    { path: "k", op: "lt", value: null },
    { path: "k", op: "lt", value: Number.NaN },
    { path: "k", op: "in", value: "abc" },
    { path: "k", op: "contains", value: 1 },
    { path: "k", op: "hasItem", value: true },
    { path: "k", op: "between", value: [3, 1] },
    { path: "k", op: "between", value: [1, "3"] },
    { path: "k", op: "regex", value: "(" },
    { path: "k", op: "regex", value: "a".repeat(257) },
    { path: "k", op: "regex", value: "a", flags: "g" },
    { path: "k", op: "eq", value: 1, caseSensitve: false },
    { path: "k", op: "eq", value: undefined },
    { path: "k", op: "exists", value: 1 },
    { path: "k", op: "like", value: 1 },
    { path: "", op: "exists" },
    { path: "a..b", op: "exists" },
    { path: [], op: "exists" },
    { path: "k", op: "eq", value: 1, caseSensitive: true },
    { custom: "notRegistered" },
    { all: [], any: [] },
    { path: "k", op: "in", value: Array.from({ length: 10_001 }, (_, i) => i) },
    { nothing: true },
  ];
  for (const node of bad) {
    it(`rejects ${JSON.stringify(node).slice(0, 80)}`, () => {
      assert.throws(() => evaluateCondition(node as ConditionNode, {}), { code: "INVALID_CONDITION" });
    });
  }
  it("rejects depth over 16 and more than 256 nodes per tracker", () => {
    let deep: ConditionNode = { path: "k", op: "exists" };
    for (let i = 0; i < 16; i++) deep = { not: deep };
    assert.throws(() => evaluateCondition(deep, {}), { code: "INVALID_CONDITION" });
    const many = Array.from({ length: 257 }, (): ConditionNode => ({ path: "k", op: "exists" }));
    assert.throws(() => new CountTracker({ name: "t", target: 1, conditions: many }), { code: "INVALID_CONDITION" });
    assert.throws(() => new KeyValueLT("k", null as never), { code: "INVALID_CONDITION" });
    assert.throws(() => new KeyValueListHasItem("k", false as never), { code: "INVALID_CONDITION" });
  });
});

describe("custom conditions", () => {
  it("stores only name and params; throws and non-booleans are per-tracker CONDITION_FAILED", async () => {
    const big = defineCondition("testBigAmount", (d, p) => typeof d.amount === "number" && d.amount >= p.min);
    const boom = defineCondition("testBoom", (d) => {
      if (d.boom === true) throw new Error("kaboom");
      return d.boom === "yes" ? (1 as unknown as boolean) : true;
    });
    assert.deepEqual(big({ min: 5 }), { custom: "testBigAmount", params: { min: 5 } });
    assert.equal(evaluateCondition(big({ min: 5 }), { amount: 7 }), true);
    assert.throws(() => defineCondition("testBigAmount", () => true), { code: "CONFLICTING_NAME" });
    assert.throws(() => defineCondition("Bad name", () => true), { code: "INVALID_CONDITION" });
    assert.throws(() => defineCondition("okName", "nope" as never), { code: "INVALID_CONDITION" });
    const m = new TrackingManager({ store: new MemoryTrackerStore(), logger: { warn() {}, error() {} } });
    await m.addTrackers("g", [
      new CountTracker({ name: "boom", target: 10, conditions: [boom()] }),
      new CountTracker({ name: "big", target: 10, conditions: [big({ min: 5 })] }),
    ]);
    const r1 = await m.track("g", { boom: true, amount: 9 });
    assert.equal(r1.ok, false);
    assert.deepEqual(
      r1.errors.map((e) => [e.name, e.error.code]),
      [["boom", "CONDITION_FAILED"]],
    );
    assert.deepEqual(
      r1.dirtied.map((t) => [t.name, t.progress]),
      [["big", 1]],
    );
    const r2 = await m.track("g", { boom: "yes" });
    assert.deepEqual(
      r2.errors.map((e) => e.error.code),
      ["CONDITION_FAILED"],
    );
    const [boomT] = await m.getTrackers("g", "boom");
    assert.equal(boomT?.progress, 0);
  });
});

describe("memo: twin conditions never share results", () => {
  for (const order of [
    ["pos", "neg"],
    ["neg", "pos"],
  ]) {
    it(`contained vs not-contained, inserted ${order.join(" then ")}`, async () => {
      const m = new TrackingManager({ store: new MemoryTrackerStore() });
      const make = (n: string) =>
        new CountTracker({
          name: n,
          target: 100,
          conditions: [n === "pos" ? new KeyValueContained("tags", "vip") : new KeyValueNotContained("tags", "vip")],
        });
      await m.addTrackers("g", order.map(make));
      const r = await m.track("g", { tags: ["vip"] });
      assert.deepEqual(
        r.dirtied.map((t) => t.name),
        ["pos"],
      );
      const r2 = await m.track("g", { tags: ["x"] });
      assert.deepEqual(
        r2.dirtied.map((t) => t.name),
        ["neg"],
      );
    });
  }
  it("the coerceNumbers flag is part of the memo key", async () => {
    const m = new TrackingManager({ store: new MemoryTrackerStore() });
    await m.addTrackers("g", [
      new CountTracker({ name: "strict", target: 100, conditions: [new KeyValueEQ("n", 5)] }),
      new CountTracker({ name: "coerce", target: 100, conditions: [new KeyValueEQ("n", 5)], coerceNumbers: true }),
    ]);
    const r = await m.track("g", { n: "5" });
    assert.deepEqual(
      r.dirtied.map((t) => t.name),
      ["coerce"],
    );
  });
  it("conditions evaluate in array order and short-circuit", async () => {
    const seen: string[] = [];
    const spy = defineCondition("testSpy", (_d, p) => {
      seen.push(String(p.tag));
      return p.result === true;
    });
    const m = new TrackingManager({ store: new MemoryTrackerStore() });
    await m.addTracker(
      "g",
      new CountTracker({
        name: "t",
        target: 9,
        conditions: [spy({ tag: "a", result: false }), spy({ tag: "b", result: true })],
      }),
    );
    await m.track("g", {});
    assert.deepEqual(seen, ["a"]);
  });
});
