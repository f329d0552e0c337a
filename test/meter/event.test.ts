import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AlreadyRecordedError } from "../../src/errors.ts";
import { EventMeter } from "../../src/meter/event-meter.ts";
import type { EventPayload } from "../../src/meter/payload.ts";
import type { MeterStream } from "../../src/meter/stream.ts";
import { MemoryRollups } from "../../src/storage/memory/meter-rollups.ts";
import { MemoryStream } from "../../src/storage/memory/meter-stream.ts";
import { TestClock } from "../../src/time/clock.ts";
import { memoryMeter } from "./meter-setup.ts";

describe("recording a lifecycle", () => {
  it("writes the payload with owned top-level keys in order and params underneath", async () => {
    const { meter, clock, stream } = memoryMeter();
    clock.set(Date.UTC(2026, 4, 6, 10, 15, 20, 122));
    const event = meter.start("invoice_delivery", { customer_id: 42, status: "mine", durationMs: "also mine" });
    clock.advance(734.4);
    const result = await event.success({ message_id: "msg_123" });
    assert.equal(result.recorded, true);
    assert.equal(result.error, null);
    assert.deepEqual(Object.keys(result.payload ?? {}), ["name", "status", "startedAt", "durationMs", "params"]);
    assert.deepEqual(result.payload, {
      name: "invoice_delivery",
      status: "success",
      startedAt: "2026-05-06T10:15:20.122Z",
      durationMs: 734,
      params: { customer_id: 42, status: "mine", durationMs: "also mine", message_id: "msg_123" },
    });
    assert.equal(await stream.pendingCount({ namespace: "tally", name: "invoice_delivery" }), 1);
  });

  it("skip and failure add their reason and error fields; later keys win", async () => {
    const { meter } = memoryMeter();
    assert.deepEqual((await meter.start("j", { a: 1 }).skip("disabled")).payload?.params, {
      a: 1,
      skipReason: "disabled",
    });
    assert.deepEqual((await meter.start("j", { a: 1 }).skip({ a: 2, why: "x" }, { a: 3 })).payload?.params, {
      a: 3,
      why: "x",
    });
    assert.deepEqual((await meter.start("j").failure(new TypeError("bad"))).payload?.params, {
      errorClass: "TypeError",
      errorMessage: "bad",
    });
    class Custom {
      message = "custom";
    }
    assert.deepEqual((await meter.start("j").failure(new Custom())).payload?.params, {
      errorClass: "Custom",
      errorMessage: "custom",
    });
    assert.deepEqual((await meter.start("j").failure("plain")).payload?.params, {
      errorClass: "String",
      errorMessage: "plain",
    });
    assert.deepEqual((await meter.start("j").failure(7)).payload?.params, { errorClass: "Number", errorMessage: "7" });
    assert.deepEqual((await meter.start("j").failure({ code: 1 })).payload?.params, { code: 1 });
    assert.equal((await meter.start("j").failure()).payload?.status, "failure");
  });

  it("clamps a negative duration (the clock stepped back) to 0", async () => {
    const { meter, clock } = memoryMeter();
    const event = meter.start("j");
    clock.set(clock.now() - 5000);
    assert.equal((await event.success()).payload?.durationMs, 0);
  });
});

describe("the never-throw matrix", () => {
  const neverThrows = async (what: string, run: () => Promise<unknown> | unknown): Promise<unknown> => {
    try {
      return await run();
    } catch (error) {
      assert.fail(`${what} threw ${String(error)}`);
    }
  };

  for (const [what, name] of [
    ["a number", 42],
    ["blank", "  "],
    ["over 200 characters", "x".repeat(201)],
    ["a control character", "a\nb"],
    ["undefined", undefined],
  ] as const) {
    it(`a bad name (${what}) gives INVALID_NAME and the finish resolves with it`, async () => {
      const { meter, stream } = memoryMeter();
      const event = (await neverThrows("start", () => meter.start(name as unknown as string))) as ReturnType<
        typeof meter.start
      >;
      assert.equal(event.name, "tally.invalid");
      assert.equal(event.error?.code, "INVALID_NAME");
      const result = await event.success();
      assert.deepEqual(result, { recorded: false, error: event.error, payload: null });
      assert.equal(await stream.pendingCount({ namespace: "tally", name: "tally.invalid" }), 0);
    });
  }

  for (const [what, params] of [
    ["an array", [1]],
    ["a string", "x"],
    ["a Map", new Map()],
    ["a class instance", new (class P {})()],
  ] as const) {
    it(`bad params (${what}) give INVALID_PARAMS`, async () => {
      const { meter } = memoryMeter();
      const event = meter.start("j", params as never);
      assert.equal(event.error?.code, "INVALID_PARAMS");
      assert.equal((await event.failure()).error?.code, "INVALID_PARAMS");
    });
  }

  it("null and undefined params are empty params", async () => {
    const { meter } = memoryMeter();
    assert.deepEqual((await meter.start("j", null).success()).payload?.params, {});
    assert.deepEqual((await meter.start("j", undefined).success()).payload?.params, {});
  });

  for (const [what, now] of [
    [
      "throws",
      () => {
        throw new Error("clock down");
      },
    ],
    ["returns NaN", () => Number.NaN],
    ["returns Infinity", () => Number.POSITIVE_INFINITY],
  ] as const) {
    it(`a clock that ${what} gives CLOCK_FAILED`, async () => {
      const meter = new EventMeter({ stream: new MemoryStream(), rollups: new MemoryRollups(), clock: { now } });
      const event = meter.start("j");
      assert.equal(event.startedAt, null);
      assert.equal(event.error?.code, "CLOCK_FAILED");
      const result = await event.success();
      assert.equal(result.recorded, false);
      assert.equal(result.error?.code, "CLOCK_FAILED");
    });
  }

  it("a throwing message getter, BigInt, a cycle and non-plain attrs give INVALID_PARAMS and write nothing", async () => {
    const { meter, stream } = memoryMeter();
    const getter = {
      get message(): string {
        throw new Error("getter");
      },
    };
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const results = [
      await meter.start("j").failure(getter),
      await meter.start("j", { n: 10n }).success(),
      await meter.start("j").success({ cycle }),
      await meter.start("j").success([1] as never),
      await meter.start("j").skip("x", "y" as never),
    ];
    for (const r of results) {
      assert.equal(r.recorded, false);
      assert.equal(r.error?.code, "INVALID_PARAMS");
      assert.equal(r.payload, null);
    }
    assert.equal(await stream.pendingCount({ namespace: "tally", name: "j" }), 0);
  });

  it("a double finish resolves with AlreadyRecordedError, in flight or after", async () => {
    const { meter } = memoryMeter();
    const event = meter.start("j");
    const first = event.success();
    const second = await event.failure();
    assert.ok(second.error instanceof AlreadyRecordedError);
    assert.equal(second.payload, null);
    assert.equal((await first).recorded, true);
    const third = await event.skip();
    assert.equal(third.error?.code, "ALREADY_RECORDED");
  });

  it("a failing stream gives STORE_UNAVAILABLE with the payload, and the event may be retried", async () => {
    const clock = new TestClock("2026-05-06T10:00:00Z");
    const memory = new MemoryStream({ clock });
    let failures = 2;
    const flaky: MeterStream = {
      append: (ns: string, p: readonly EventPayload[]) => {
        if (failures-- === 2) throw new Error("sync throw");
        if (failures >= 0) return Promise.reject(new Error("disk full"));
        return memory.append(ns, p);
      },
      read: (r, o) => memory.read(r, o),
      ack: (b) => memory.ack(b),
      release: (b) => memory.release(b),
      pendingCount: (r) => memory.pendingCount(r),
      close: () => memory.close(),
    };
    const meter = new EventMeter({ stream: flaky, rollups: new MemoryRollups(), clock });
    const event = meter.start("j");
    clock.advance(10);
    const a = await event.success();
    assert.equal(a.recorded, false);
    assert.equal(a.error?.code, "STORE_UNAVAILABLE");
    assert.equal((a.error?.cause as Error | undefined)?.message, "sync throw");
    assert.equal(a.payload?.durationMs, 10);
    clock.advance(5);
    const b = await event.success();
    assert.equal(b.error?.code, "STORE_UNAVAILABLE");
    assert.equal(b.payload?.durationMs, 15, "a retry measures a new duration");
    const c = await event.success();
    assert.equal(c.recorded, true);
    assert.equal((await event.success()).error?.code, "ALREADY_RECORDED");
    assert.equal(await memory.pendingCount({ namespace: "tally", name: "j" }), 1);
  });
});

describe("EventMeter options and module default", () => {
  it("rejects bad options with INVALID_OPTION", () => {
    const bad: unknown[] = [
      { lockTtl: 0 },
      { lockTtl: "soon" },
      { summaryKeyLimit: 0 },
      { summaryKeyLimit: 1.5 },
      { autoCleanupHistory: "yes" },
      { onAutoCleanupError: "log" },
      { namespace: "" },
      { clock: {} },
      { stream: {} },
      { cleanupHistoryRetention: { minute: "forever" } },
      { cleanupHistoryInterval: 0 },
    ];
    for (const options of bad) {
      assert.throws(() => new EventMeter(options as never), { code: "INVALID_OPTION" }, JSON.stringify(options));
    }
    assert.doesNotThrow(
      () => new EventMeter({ summaryKeyLimit: null, stream: new MemoryStream(), rollups: new MemoryRollups() }),
    );
  });

  it("statics answer NOT_CONFIGURED until configure, then delegate", async () => {
    const event = EventMeter.start("j", { a: 1 });
    assert.equal(event.error?.code, "NOT_CONFIGURED");
    assert.equal((await event.success()).error?.code, "NOT_CONFIGURED");
    await assert.rejects(EventMeter.summary("j", { version: 1 }), { code: "NOT_CONFIGURED" });
    await assert.rejects(EventMeter.processPending("j", { version: 1 }), { code: "NOT_CONFIGURED" });
    const clock = new TestClock("2026-05-06T10:00:00Z");
    const configured = EventMeter.configure({
      stream: new MemoryStream({ clock }),
      rollups: new MemoryRollups(),
      clock,
    });
    assert.equal((await EventMeter.start("j").success()).recorded, true);
    assert.equal(await EventMeter.pendingCount("j"), 1);
    const result = await EventMeter.processPending("j", { version: 1 });
    assert.equal(result.processed, 1);
    assert.equal((await configured.summary("j", { version: 1 })).count, 1);
  });
});
