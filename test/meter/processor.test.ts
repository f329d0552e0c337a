import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { DefinitionChangedError, LockLostError } from "../../src/errors.ts";
import { DefinitionBuilder } from "../../src/meter/definition.ts";
import { EventMeter } from "../../src/meter/event-meter.ts";
import type { EventPayload } from "../../src/meter/payload.ts";
import { leaseKeyOf } from "../../src/meter/processor.ts";
import type { CommitBatch, MeterRollups, ReportRef } from "../../src/meter/rollups.ts";
import { FileStream } from "../../src/storage/file/meter-stream.ts";
import { MemoryRollups } from "../../src/storage/memory/meter-rollups.ts";
import { MemoryStream } from "../../src/storage/memory/meter-stream.ts";
import { TestClock } from "../../src/time/clock.ts";
import { memoryMeter, T } from "./meter-setup.ts";

const ref = (name: string, version = 1): ReportRef => ({ namespace: "tally", name, version });

describe("processPending", () => {
  it("moves rows into rollups, counts malformed rows, acks and forgets markers", async () => {
    const { meter, stream, rollups, record } = memoryMeter();
    await record("job", "2026-05-06T10:00:05Z", { q: "a" }, "success", 120);
    await record("job", "2026-05-06T10:00:06Z", { q: "a" }, "failure", 30);
    await record("job", "2026-05-06T10:01:00Z", { q: "b" }, "skip");
    const wrongName = { name: "job", status: "success", startedAt: "2026-05-06T10:00:00Z", params: {} };
    const bad = [{ name: "job", status: "done", startedAt: "2026-05-06T10:00:00Z", params: {} }, wrongName];
    await stream.append("tally", bad as EventPayload[]);
    // Rows keep the name they were appended under; a row whose payload names another event is malformed.
    wrongName.name = "other";
    const notObject = { name: "job" };
    await stream.append("tally", [notObject as EventPayload]);
    const result = await meter.processPending("job", { version: 1 }, (r) => r.indexBy("q"));
    assert.deepEqual(result, {
      eventName: "job",
      version: 1,
      processed: 6,
      skippedAlreadyProcessed: 0,
      malformed: 3,
      complete: true,
      locked: false,
      hasMore: false,
    });
    assert.equal(await meter.pendingCount("job"), 0);
    assert.equal(await rollups.countMarkers(ref("job")), 0);
    const s = await meter.summary("job", { version: 1, by: { q: "a" } });
    assert.equal(s.count, 2);
    assert.equal(s.successCount, 1);
    assert.equal(s.failureCount, 1);
    assert.equal(s.durationMsSum, 150);
    assert.equal((await meter.summary("job", { version: 1 })).skippedCount, 1);
    const again = await meter.processPending("job", { version: 1 }, (r) => r.indexBy("q"));
    assert.equal(again.processed, 0);
    assert.equal(again.complete, true);
  });

  it("fingerprints ignore the order of indexBy calls; a changed definition is refused and the stream untouched", async () => {
    const a = new DefinitionBuilder()
      .indexBy("b", "a")
      .indexBy("c")
      .measureIntervalBy("id", { groupBy: ["c"] })
      .build("j", 1);
    const b = new DefinitionBuilder().measureIntervalBy("id", { groupBy: "c" }).indexBy(["a", "b", "a"]).build("j", 1);
    assert.equal(a.fingerprint, b.fingerprint);
    assert.deepEqual(a.indexes, [[], ["a", "b"], ["c"]]);
    const { meter, record } = memoryMeter();
    await meter.processPending("j", { version: 1 }, (r) => r.indexBy("a"));
    await record("j", "2026-05-06T10:00:00Z");
    await assert.rejects(
      meter.processPending("j", { version: 1 }, (r) => r.indexBy("b")),
      (error: unknown) =>
        error instanceof DefinitionChangedError && /j v1 changed.*bump the version/.test(error.message),
    );
    assert.equal(await meter.pendingCount("j"), 1);
    assert.equal((await meter.processPending("j", { version: 2 }, (r) => r.indexBy("b"))).processed, 1);
    assert.deepEqual((await meter.reportDefinition("j", { version: 2 })).indexes, [[], ["b"]]);
    assert.throws(() => new DefinitionBuilder().indexBy(" "), { code: "INVALID_OPTION" });
    await assert.rejects(meter.processPending("j", { version: 0 }), { code: "INVALID_OPTION" });
    await assert.rejects(meter.processPending("j", { version: 3, maxRows: -1 }), { code: "INVALID_OPTION" });
    await assert.rejects(
      meter.processPending("j", { version: 3 }, (r) => r.measureIntervalBy("")),
      { code: "INVALID_OPTION" },
    );
  });

  it("42 and '42' share a key, null is never indexed, '' is a real value", async () => {
    const { meter, record } = memoryMeter();
    await record("j", "2026-05-06T10:00:00Z", { c: 42 });
    await record("j", "2026-05-06T10:00:01Z", { c: "42" });
    await record("j", "2026-05-06T10:00:02Z", { c: null });
    await record("j", "2026-05-06T10:00:03Z", { c: "" });
    await record("j", "2026-05-06T10:00:04Z", { c: true });
    await record("j", "2026-05-06T10:00:05Z", { c: { nested: 1 } });
    await record("j", "2026-05-06T10:00:06Z", {});
    await meter.processPending("j", { version: 1 }, (r) => r.indexBy("c"));
    const count = async (by: Record<string, string | number | boolean> | null) =>
      (await meter.summary("j", { version: 1, by })).count;
    assert.equal(await count({ c: 42 }), 2);
    assert.equal(await count({ c: "42" }), 2);
    assert.equal(await count({ c: "" }), 1);
    assert.equal(await count({ c: true }), 1);
    assert.equal(await count({ c: "true" }), 1);
    assert.equal(await count({ c: "null" }), 0);
    assert.equal(await count(null), 7, "every event counts in the all-events index");
    const bd = await meter.breakdown("j", {
      version: 1,
      by: "c",
      from: "2026-05-06T10:00:00Z",
      to: "2026-05-06T10:01:00Z",
    });
    assert.equal(bd.totalValues, 3);
    assert.deepEqual(
      bd.rows.map((r) => r.values.c),
      ["42", "", "true"],
    );
  });

  it("stops at maxRows with hasMore, and batches by batchRows", async () => {
    const { meter, record } = memoryMeter();
    for (let i = 0; i < 25; i++) await record("j", T("2026-05-06T10:00:00Z") + i * 1000);
    const progress: number[] = [];
    const first = await meter.processPending("j", {
      version: 1,
      maxRows: 10,
      batchRows: 4,
      onProgress: (p) => progress.push(p.processed),
    });
    assert.equal(first.processed, 10);
    assert.equal(first.hasMore, true);
    assert.deepEqual(progress, [4, 8, 10]);
    const rest = await meter.processPending("j", { version: 1, maxRows: 100 });
    assert.equal(rest.processed, 15);
    assert.equal(rest.hasMore, false);
    const controller = new AbortController();
    controller.abort();
    assert.equal((await meter.processPending("j", { version: 1, signal: controller.signal })).processed, 0);
  });
});

describe("intervals", () => {
  const define = (r: import("../../src/meter/definition.ts").ReportDefiner) =>
    r.measureIntervalBy("feed", {}).measureIntervalBy("feed", { groupBy: "provider" });

  it("sorts a batch by (identity, startedAt), so out-of-order arrival gives the same samples", async () => {
    const { meter, record } = memoryMeter();
    await record("f", "2026-05-06T10:05:00Z", { feed: 77, provider: "shopify" });
    await record("f", "2026-05-06T10:00:00Z", { feed: 77, provider: "shopify" });
    await record("f", "2026-05-06T10:02:00Z", { feed: "78", provider: "shopify" });
    await record("f", "2026-05-06T10:12:00Z", { feed: 78, provider: "shopify" });
    await meter.processPending("f", { version: 1 }, define);
    const s = await meter.summary("f", { version: 1, by: { provider: "shopify" } });
    assert.equal(s.count, 4);
    assert.equal(s.intervalMsCount, 2);
    assert.equal(s.intervalMsSum, 300_000 + 600_000);
    assert.equal(s.intervalMsMin, 300_000);
    assert.equal(s.intervalMsMax, 600_000);
    assert.equal((await meter.summary("f", { version: 1 })).intervalMsCount, 2);
  });

  it("state only moves forward: a late event counts in its bucket but adds no sample", async () => {
    const { meter, record } = memoryMeter();
    await record("f", "2026-05-06T10:10:00Z", { feed: 1, provider: "p" });
    await meter.processPending("f", { version: 1 }, define);
    await record("f", "2026-05-06T10:04:00Z", { feed: 1, provider: "p" });
    await record("f", "2026-05-06T10:10:00Z", { feed: 1, provider: "p" });
    await meter.processPending("f", { version: 1 }, define);
    await record("f", "2026-05-06T10:11:00Z", { feed: 1, provider: "p" });
    await meter.processPending("f", { version: 1 }, define);
    const s = await meter.summary("f", { version: 1 });
    assert.equal(s.count, 4);
    assert.equal(s.intervalMsCount, 1, "only 10:10 -> 10:11");
    assert.equal(s.intervalMsSum, 60_000);
    const late = await meter.summary("f", { version: 1, from: "2026-05-06T10:04:00Z", to: "2026-05-06T10:05:00Z" });
    assert.equal(late.count, 1);
  });

  it("rules sharing a param share state; a rule whose group is missing does not accept; '' is a group, null is not", async () => {
    const { meter, record } = memoryMeter();
    await record("f", "2026-05-06T10:00:00Z", { feed: 1, provider: "" });
    await record("f", "2026-05-06T10:01:00Z", { feed: 1, provider: null });
    await record("f", "2026-05-06T10:03:00Z", { feed: 1, provider: "" });
    await meter.processPending("f", { version: 1 }, define);
    const all = await meter.summary("f", { version: 1 });
    assert.equal(all.intervalMsCount, 2, "the all-events rule accepts every event: 60s then 120s");
    assert.equal(all.intervalMsSum, 180_000);
    const empty = await meter.summary("f", { version: 1, by: { provider: "" } });
    assert.equal(empty.count, 2);
    assert.equal(empty.intervalMsCount, 1);
    assert.equal(empty.intervalMsSum, 120_000, "shared state moved to 10:01 via the all-events rule");
  });

  it("only the grouped rule: events without the group value do not move the state", async () => {
    const { meter, record } = memoryMeter();
    await record("f", "2026-05-06T10:00:00Z", { feed: 1, provider: "a" });
    await record("f", "2026-05-06T10:01:00Z", { feed: 1 });
    await record("f", "2026-05-06T10:03:00Z", { feed: 1, provider: "a" });
    await meter.processPending("f", { version: 1 }, (r) => r.measureIntervalBy("feed", { groupBy: "provider" }));
    const s = await meter.summary("f", { version: 1, by: { provider: "a" } });
    assert.equal(s.intervalMsSum, 180_000);
  });

  it("takes the report lease: a busy lease returns locked without reading", async () => {
    const { meter, rollups, clock, record } = memoryMeter();
    await record("f", "2026-05-06T10:00:00Z", { feed: 1 });
    await meter.processPending("f", { version: 1 }, (r) => r.measureIntervalBy("feed"));
    await record("f", "2026-05-06T10:01:00Z", { feed: 1 });
    const held = await rollups.acquireLease(leaseKeyOf(ref("f")), 30_000, clock.now());
    const locked = await meter.processPending("f", { version: 1 }, (r) => r.measureIntervalBy("feed"));
    assert.deepEqual(
      { locked: locked.locked, processed: locked.processed, complete: locked.complete },
      { locked: true, processed: 0, complete: false },
    );
    assert.equal(await meter.pendingCount("f"), 1);
    clock.advance("31s");
    assert.equal((await meter.processPending("f", { version: 1 }, (r) => r.measureIntervalBy("feed"))).processed, 1);
    assert.ok(held);
  });
});

/**
 * Rollups whose commits apply a macrotask later, like a server round trip: the processor then
 * plans the next batch (markers, interval state, aggregation) before the previous commit landed.
 * `before` runs first inside each commit (a competitor may act there).
 */
function slowCommits(rollups: MemoryRollups, before?: (n: number, r: ReportRef, b: CommitBatch) => Promise<void>) {
  let n = 0;
  const slow = withCommit(rollups, async (r, batch) => {
    const k = ++n;
    slow.commits = k;
    await new Promise((resolve) => setImmediate(resolve));
    await before?.(k, r, batch);
    return rollups.commit(r, batch);
  }) as MeterRollups & { commits: number };
  return slow;
}

/** `rollups` with another `commit`; every other method stays bound to `rollups` (its private fields need it). */
function withCommit(rollups: MemoryRollups, commit: MeterRollups["commit"]): MeterRollups {
  const wrapped = Object.create(rollups) as Record<string, unknown>;
  const own = rollups as unknown as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(rollups))) {
    const value = own[name];
    if (name !== "constructor" && typeof value === "function") wrapped[name] = value.bind(rollups);
  }
  wrapped.commit = commit;
  return wrapped as unknown as MeterRollups;
}

describe("pipelined batches", () => {
  const define = (r: import("../../src/meter/definition.ts").ReportDefiner) =>
    r.indexBy("provider").measureIntervalBy("feed", { groupBy: "provider" });
  const events = Array.from({ length: 40 }, (_, i) => ({
    at: T("2026-05-06T10:00:00Z") + i * 45_000 + (i % 3) * 7_000,
    params: { feed: i % 4, provider: i % 3 === 0 ? "a" : "b" },
  }));

  async function processed(batchRows: number, slow: boolean) {
    const { meter, rollups, record, clock, stream } = memoryMeter();
    for (const e of events) await record("f", e.at, e.params, "success", 10 + (e.at % 97));
    const store = slow ? slowCommits(rollups) : rollups;
    const processor = new EventMeter({ stream, rollups: store, clock });
    const result = await processor.processPending("f", { version: 1, batchRows }, define);
    const summaries = await Promise.all(
      [undefined, { provider: "a" }, { provider: "b" }].map((by) => meter.summary("f", { version: 1, by: by ?? null })),
    );
    return { result, summaries, commits: (store as { commits?: number }).commits };
  }

  it("small batches planned while the previous commit is in flight give the rollups and interval samples of one batch", async () => {
    const whole = await processed(1000, false);
    const pipelined = await processed(3, true);
    assert.equal(pipelined.commits, 14);
    assert.equal(pipelined.result.processed, 40);
    assert.deepEqual(pipelined.summaries, whole.summaries);
    const samples = (whole.summaries[1]?.intervalMsCount ?? 0) + (whole.summaries[2]?.intervalMsCount ?? 0);
    assert.equal(samples, 36, "every event after its feed's first adds a sample to its provider");
  });

  // The timeout guards the gate below: a processor that did not plan ahead would wait forever.
  it("a plan made ahead expects the marker its unit gets from the commit in flight (no conflict per chunk of a file)", {
    timeout: 10_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "tally-pipeline-"));
    try {
      const clock = new TestClock("2026-05-06T10:00:00Z");
      const stream = new FileStream({ path: dir, clock, durability: "none" });
      const rollups = new MemoryRollups();
      const meter = new EventMeter({ stream, rollups, clock });
      for (let i = 0; i < 9; i++) void meter.start("j", { i }).success();
      await stream.close();
      clock.advance("2m");
      // Commits 1 and 2 land only after the processor has read the next chunk and planned it
      // (planning follows the read within the same turn of the event loop: it asks the store nothing).
      let reads = 0;
      const waiting: Array<() => void> = [];
      const slow = slowCommits(rollups, async (n) => {
        if (n < 3 && reads <= n) await new Promise<void>((resolve) => waiting.push(resolve));
      });
      let markerReads = 0;
      const readMarkers = slow.readMarkers;
      slow.readMarkers = (r, units) => {
        markerReads++;
        return readMarkers(r, units);
      };
      const source = new FileStream({ path: dir, clock });
      const read = source.read.bind(source);
      source.read = async (event, options) => {
        const batch = await read(event, options);
        reads++;
        for (const wake of waiting.splice(0)) setImmediate(wake);
        return batch;
      };
      const reader = new EventMeter({ stream: source, rollups: slow, clock });
      const result = await reader.processPending("j", { version: 1, batchRows: 3 });
      assert.equal(result.processed, 9);
      assert.equal(slow.commits, 3, "one commit per chunk of the one file, none redone");
      assert.equal(markerReads, 1, "the later chunks take their unit's marker from the commit in flight");
      assert.equal((await reader.summary("j", { version: 1 })).count, 9);
      await reader.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a commit that conflicts discards the plan made ahead on its assumption; every row counts once", async () => {
    const { meter, rollups, record, clock, stream } = memoryMeter();
    for (let i = 0; i < 9; i++) await record("j", T("2026-05-06T10:00:00Z") + i * 1000, { i });
    // While the first commit is in flight, another processor commits the same rows first.
    const racing = slowCommits(rollups, async (n, r, batch) => {
      if (n === 1) assert.deepEqual(await rollups.commit(r, batch), { ok: true });
    });
    const progress: number[] = [];
    const result = await new EventMeter({ stream, rollups: racing, clock }).processPending("j", {
      version: 1,
      batchRows: 3,
      onProgress: (p) => progress.push(p.processed),
    });
    assert.deepEqual(
      { processed: result.processed, skipped: result.skippedAlreadyProcessed, complete: result.complete },
      { processed: 6, skipped: 3, complete: true },
    );
    assert.deepEqual(progress, [0, 3, 6]);
    assert.equal((await meter.summary("j", { version: 1 })).count, 9, "counted once");
    assert.equal(await meter.pendingCount("j"), 0);
  });
});

describe("the crash table (memory stores)", () => {
  function setup() {
    const clock = new TestClock("2026-05-06T10:00:00Z");
    const stream = new MemoryStream({ clock, claimTimeout: "30s" });
    const rollups = new MemoryRollups();
    const meter = new EventMeter({ stream, rollups, clock });
    return { clock, stream, rollups, meter };
  }
  const recordN = async (meter: EventMeter, n: number) => {
    for (let i = 0; i < n; i++) await meter.start("j", { i }).success();
  };

  it("dies after read: the claim times out and the rows are re-delivered and counted once", async () => {
    const { clock, stream, meter } = setup();
    await recordN(meter, 5);
    await stream.read({ namespace: "tally", name: "j" }, { maxRows: 10, reader: "dead" });
    assert.equal((await meter.processPending("j", { version: 1 })).processed, 0);
    clock.advance("31s");
    assert.equal((await meter.processPending("j", { version: 1 })).processed, 5);
    assert.equal((await meter.summary("j", { version: 1 })).count, 5);
  });

  it("dies after commit, before ack: markers skip the rows, which are then acked and forgotten", async () => {
    const { clock, stream, rollups } = setup();
    const dying = new EventMeter({
      clock,
      rollups,
      stream: Object.assign(Object.create(stream) as MemoryStream, {
        read: stream.read.bind(stream),
        append: stream.append.bind(stream),
        pendingCount: stream.pendingCount.bind(stream),
        release: async () => {},
        ack: async () => {
          throw new Error("died before the delete");
        },
      }),
    });
    await recordN(dying, 4);
    const first = await dying.processPending("j", { version: 1 });
    assert.equal(first.complete, false);
    assert.equal(first.processed, 4);
    assert.equal(await rollups.countMarkers(ref("j")), 4);
    clock.advance("31s");
    const healthy = new EventMeter({ clock, rollups, stream });
    const second = await healthy.processPending("j", { version: 1 });
    assert.equal(second.processed, 0);
    assert.equal(second.skippedAlreadyProcessed, 4);
    assert.equal(await rollups.countMarkers(ref("j")), 0);
    assert.equal((await healthy.summary("j", { version: 1 })).count, 4);
  });

  it("two processors hold the same rows: the second compare-and-set fails and it skips", async () => {
    const { clock, stream, rollups, meter } = setup();
    await recordN(meter, 3);
    let raced = false;
    const racing = withCommit(rollups, async (r, batch) => {
      if (!raced) {
        raced = true;
        // Another processor applies the same rows first.
        assert.deepEqual(await rollups.commit(r, batch), { ok: true });
      }
      return rollups.commit(r, batch);
    });
    const contender = new EventMeter({ clock, stream, rollups: racing });
    const result = await contender.processPending("j", { version: 1 });
    assert.equal(result.processed, 0);
    assert.equal(result.skippedAlreadyProcessed, 3);
    assert.equal((await meter.summary("j", { version: 1 })).count, 3, "counted once");
  });

  it("the lease was lost mid-call: the fenced commit throws LockLostError and applies nothing", async () => {
    const { clock, rollups } = setup();
    const stolen: MeterRollups = Object.create(rollups) as MeterRollups;
    for (const m of [
      "ensureDefinition",
      "getDefinition",
      "readMarkers",
      "readIntervalState",
      "forgetMarkers",
      "acquireLease",
      "releaseLease",
      "renewLease",
      "commit",
    ] as const) {
      (stolen as unknown as Record<string, unknown>)[m] = (rollups[m] as (...a: unknown[]) => unknown).bind(rollups);
    }
    (stolen as unknown as Record<string, unknown>).readIntervalState = async () => {
      clock.advance("31s");
      await rollups.acquireLease(leaseKeyOf(ref("j")), 30_000, clock.now());
      return new Map();
    };
    const victim = new EventMeter({ clock, rollups: stolen, stream: new MemoryStream({ clock }) });
    await victim.start("j", { id: 1 }).success();
    await assert.rejects(
      victim.processPending("j", { version: 1 }, (r) => r.measureIntervalBy("id")),
      (error: unknown) => error instanceof LockLostError,
    );
    assert.equal(await victim.pendingCount("j"), 1, "the rows stay in the stream");
    assert.deepEqual(await rollups.readMarkers(ref("j"), ["x"]), new Map());
  });
});
