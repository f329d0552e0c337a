/**
 * `meterRollupsContract(name, factory)`: the shared test suite every `MeterRollups` must pass
 * (memory, SQLite, PostgreSQL, Redis). It registers `node:test` tests; call it at the top level of
 * a test file. Each test gets a fresh harness and closes it.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LockLostError } from "../errors.ts";
import { withFingerprint } from "../meter/definition.ts";
import { addToHistogram } from "../meter/histogram.ts";
import { emptyRecord, type StoredFields } from "../meter/rollup-record.ts";
import type { CommitBatch, MeterRollups, ReportRef, RollupDelta, Tier } from "../meter/rollups.ts";

export interface MeterRollupsHarness {
  rollups: MeterRollups;
  /** Another handle on the same store, as a second process sees it (may be `rollups` itself). */
  peer(): MeterRollups | Promise<MeterRollups>;
  /** "caller": leases follow the `now` passed in; "server": they follow the server's clock. */
  leaseClock: "caller" | "server";
  /** Overwrites one stored field with a raw value, as a broken writer might leave it. */
  corrupt?(
    ref: ReportRef,
    tier: Tier,
    bucketStart: number,
    indexKey: string,
    field: keyof StoredFields,
    value: unknown,
  ): Promise<void>;
  close(): Promise<void>;
}

export type MeterRollupsFactory = () => Promise<MeterRollupsHarness>;

const T0 = Date.UTC(2026, 4, 6, 10, 0);

function delta(tier: Tier, start: number, indexKey: string, count: number, duration?: number): RollupDelta {
  const name =
    indexKey === "all"
      ? ""
      : indexKey
          .split("&")
          .map((p) => decodeURIComponent(p.split("=")[0] as string))
          .join(",");
  const r = emptyRecord(tier, start, name, indexKey);
  r.count = count;
  r.successCount = count;
  r.startedAtMin = start;
  r.startedAtMax = start + 1000;
  if (duration !== undefined) {
    r.durationMsCount = 1;
    r.durationMsSum = duration;
    r.durationMsMin = duration;
    r.durationMsMax = duration;
    addToHistogram(r.durationMsHist, duration);
  }
  return r;
}

function batch(partial: Partial<CommitBatch>): CommitBatch {
  return { rollups: [], intervalState: [], markers: [], fence: null, now: T0, ...partial };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function meterRollupsContract(name: string, factory: MeterRollupsFactory): void {
  describe(`MeterRollups contract: ${name}`, () => {
    let n = 0;
    const refOf = (): ReportRef => ({ namespace: `ns${++n}-${process.pid}`, name: "invoice_delivery", version: 1 });
    const withHarness = (title: string, body: (h: MeterRollupsHarness, ref: ReportRef) => Promise<void>): void => {
      it(title, async () => {
        const h = await factory();
        try {
          await body(h, refOf());
        } finally {
          await h.close();
        }
      });
    };

    withHarness("stores a definition once and rejects a changed one", async (h, ref) => {
      const def = withFingerprint({ name: ref.name, version: 1, indexes: [[], ["provider"]], intervals: [] });
      assert.equal(await h.rollups.getDefinition(ref), null);
      await h.rollups.ensureDefinition(ref, def);
      await h.rollups.ensureDefinition(ref, def);
      assert.deepEqual(await h.rollups.getDefinition(ref), def);
      const other = withFingerprint({ name: ref.name, version: 1, indexes: [[], ["queue"]], intervals: [] });
      await assert.rejects(h.rollups.ensureDefinition(ref, other), { code: "DEFINITION_CHANGED" });
    });

    withHarness(
      "two commits with the same expected marker: exactly one applies, the other writes nothing",
      async (h, ref) => {
        const peer = await h.peer();
        const make = (count: number): CommitBatch =>
          batch({ rollups: [delta("minute", T0, "all", count)], markers: [{ unit: "u1", expected: 0, high: 5 }] });
        const results = await Promise.all([h.rollups.commit(ref, make(1)), peer.commit(ref, make(100))]);
        const applied = results.filter((r) => r.ok);
        assert.equal(applied.length, 1);
        const lost = results.find((r) => !r.ok);
        assert.deepEqual(lost, { ok: false, conflicts: ["u1"] });
        const [record] = await h.rollups.readBuckets(ref, "minute", [T0], "all");
        assert.ok(record?.count === 1 || record?.count === 100);
        assert.deepEqual(await h.rollups.readMarkers(ref, ["u1", "u2"]), new Map([["u1", 5]]));
        const next = await h.rollups.commit(
          ref,
          batch({ rollups: [delta("minute", T0, "all", 7)], markers: [{ unit: "u1", expected: 5, high: 9 }] }),
        );
        assert.deepEqual(next, { ok: true });
        const stale = await h.rollups.commit(
          ref,
          batch({
            rollups: [delta("minute", T0, "all", 1000)],
            markers: [
              { unit: "u1", expected: 5, high: 12 },
              { unit: "u9", expected: 0, high: 1 },
            ],
          }),
        );
        assert.deepEqual(stale, { ok: false, conflicts: ["u1"] });
        const [after] = await h.rollups.readBuckets(ref, "minute", [T0], "all");
        assert.equal(after?.count, (record?.count ?? 0) + 7, "a conflicting commit wrote nothing");
        assert.deepEqual(await h.rollups.readMarkers(ref, ["u9"]), new Map());
      },
    );

    withHarness("merges counters, min/max and histograms additively", async (h, ref) => {
      await h.rollups.commit(ref, batch({ rollups: [delta("hour", T0, "provider=postmark", 2, 40)] }));
      await h.rollups.commit(ref, batch({ rollups: [delta("hour", T0, "provider=postmark", 3, 900)] }));
      const [r] = await h.rollups.readBuckets(ref, "hour", [T0], "provider=postmark");
      assert.equal(r?.count, 5);
      assert.equal(r?.indexName, "provider");
      assert.equal(r?.durationMsCount, 2);
      assert.equal(r?.durationMsSum, 940);
      assert.equal(r?.durationMsMin, 40);
      assert.equal(r?.durationMsMax, 900);
      assert.equal(
        [...(r?.durationMsHist.values() ?? [])].reduce((a, b) => a + b, 0),
        2,
      );
      assert.equal(r?.startedAtMin, T0);
      assert.equal(r?.startedAtMax, T0 + 1000);
    });

    withHarness("raises interval state only forward", async (h, ref) => {
      await h.rollups.commit(ref, batch({ intervalState: [{ param: "feed_id", value: "77", lastMs: 5000 }] }));
      await h.rollups.commit(ref, batch({ intervalState: [{ param: "feed_id", value: "77", lastMs: 3000 }] }));
      const state = await h.rollups.readIntervalState(ref, [
        { param: "feed_id", value: "77" },
        { param: "feed_id", value: "" },
      ]);
      assert.equal(state.size, 1);
      assert.equal([...state.values()][0], 5000);
    });

    withHarness(
      "leases: exclusive until expiry, fences increase, a stale fence is rejected at commit",
      async (h, ref) => {
        const server = h.leaseClock === "server";
        const ttl = server ? 300 : 1000;
        let now = T0;
        const pass = async (ms: number): Promise<void> => {
          if (server) await sleep(ms);
          now += ms;
        };
        const key = `${ref.namespace}:report:x`;
        const first = await h.rollups.acquireLease(key, ttl, now);
        assert.ok(first !== null);
        assert.equal(await h.rollups.acquireLease(key, ttl, now), null);
        assert.equal(await h.rollups.renewLease(first, ttl, now), true);
        const ok = await h.rollups.commit(
          ref,
          batch({ fence: first, now, markers: [{ unit: "a", expected: 0, high: 1 }] }),
        );
        assert.deepEqual(ok, { ok: true });
        await pass(ttl + (server ? 200 : 1));
        const second = await h.rollups.acquireLease(key, ttl, now);
        assert.ok(second !== null, "an expired lease can be taken over");
        assert.ok(second.fence > first.fence, "the fence increases");
        await assert.rejects(
          h.rollups.commit(
            ref,
            batch({
              fence: first,
              now,
              rollups: [delta("minute", T0, "all", 1)],
              markers: [{ unit: "a", expected: 1, high: 2 }],
            }),
          ),
          (error: unknown) => error instanceof LockLostError || (error as { code?: string }).code === "LOCK_LOST",
        );
        assert.deepEqual(await h.rollups.readBuckets(ref, "minute", [T0], "all"), []);
        assert.deepEqual(await h.rollups.readMarkers(ref, ["a"]), new Map([["a", 1]]));
        assert.equal(await h.rollups.renewLease(first, ttl, now), false);
        await h.rollups.releaseLease(first); // not the holder: no effect
        assert.equal(await h.rollups.acquireLease(key, ttl, now), null);
        assert.deepEqual(
          await h.rollups.commit(ref, batch({ fence: second, now, markers: [{ unit: "a", expected: 1, high: 2 }] })),
          { ok: true },
        );
        await h.rollups.releaseLease(second);
        const third = await h.rollups.acquireLease(key, ttl, now);
        assert.ok(third !== null && third.fence > second.fence);
      },
    );

    withHarness("markers: count and forget", async (h, ref) => {
      await h.rollups.commit(ref, batch({ markers: ["a", "b", "c"].map((unit) => ({ unit, expected: 0, high: 3 })) }));
      assert.equal(await h.rollups.countMarkers(ref), 3);
      await h.rollups.forgetMarkers(ref, ["a", "c", "zzz"]);
      assert.equal(await h.rollups.countMarkers(ref), 1);
      assert.deepEqual(await h.rollups.readMarkers(ref, ["a", "b"]), new Map([["b", 3]]));
    });

    withHarness("readBuckets, readIndex and listBuckets", async (h, ref) => {
      const starts = [T0, T0 + 60_000, T0 + 120_000];
      await h.rollups.commit(
        ref,
        batch({
          rollups: [
            ...starts.map((s, i) => delta("minute", s, "provider=a", i + 1)),
            delta("minute", T0, "provider=b", 10),
            delta("minute", T0 + 60_000, "provider=b%26c", 20),
            delta("minute", T0, "all", 99),
          ],
        }),
      );
      const some = await h.rollups.readBuckets(ref, "minute", [T0, T0 + 120_000, T0 + 999_960_000], "provider=a");
      assert.deepEqual(
        some.map((r) => [r.bucketStart, r.count]).sort((x, y) => (x[0] as number) - (y[0] as number)),
        [
          [T0, 1],
          [T0 + 120_000, 3],
        ],
      );
      const index = await h.rollups.readIndex(ref, "minute", [T0, T0 + 60_000], "provider");
      assert.deepEqual(
        [...index].map(([k, r]) => [k, r.count]).sort((x, y) => (String(x[0]) < String(y[0]) ? -1 : 1)),
        [
          ["provider=a", 3],
          ["provider=b", 10],
          ["provider=b%26c", 20],
        ],
      );
      const listed = await h.rollups.listBuckets(ref, "minute", "provider=a", 2);
      assert.deepEqual(
        listed.map((r) => r.bucketStart),
        [T0, T0 + 60_000],
      );
      assert.equal((await h.rollups.listBuckets(ref, "minute", "provider=a", 10)).length, 3);
    });

    withHarness("cleanup deletes by bucket end, state age and marker age, per namespace and event", async (h, ref) => {
      const other = { ...ref, name: "feed_refresh" };
      const foreign = { ...ref, namespace: `${ref.namespace}-other` };
      const fill = async (r: ReportRef): Promise<void> => {
        await h.rollups.commit(
          r,
          batch({
            now: T0,
            rollups: [
              delta("minute", T0, "all", 1),
              delta("minute", T0 + 60_000, "all", 1),
              delta("hour", T0, "all", 1),
              delta("day", T0 - (T0 % 86_400_000), "all", 1),
            ],
            intervalState: [
              { param: "p", value: "old", lastMs: T0 },
              { param: "p", value: "new", lastMs: T0 + 120_000 },
            ],
            markers: [{ unit: "old", expected: 0, high: 1 }],
          }),
        );
        await h.rollups.commit(r, batch({ now: T0 + 120_000, markers: [{ unit: "new", expected: 0, high: 1 }] }));
      };
      await fill(ref);
      await fill(other);
      await fill(foreign);
      const result = await h.rollups.cleanup(ref.namespace, {
        events: [ref.name],
        before: { minute: T0 + 60_000, hour: T0 + 3_599_999, intervalState: T0 + 1, markers: T0 + 1 },
      });
      assert.deepEqual(result, { rollupKeysDeleted: 1, intervalStateKeysDeleted: 1, processedEntriesDeleted: 1 });
      assert.equal((await h.rollups.readBuckets(ref, "minute", [T0, T0 + 60_000], "all")).length, 1);
      assert.equal(
        (await h.rollups.readBuckets(ref, "hour", [T0], "all")).length,
        1,
        "an hour ending after before stays",
      );
      assert.equal(await h.rollups.countMarkers(ref), 1);
      assert.equal(await h.rollups.countMarkers(other), 2, "other events untouched");
      const all = await h.rollups.cleanup(ref.namespace, {
        events: null,
        before: { minute: T0 + 10 * 86_400_000, hour: T0 + 10 * 86_400_000, day: T0 + 10 * 86_400_000 },
      });
      assert.equal(all.rollupKeysDeleted, 3 + 4, "ref's remaining minute, hour and day, and other's four");
      assert.equal(all.intervalStateKeysDeleted, 0, "absent targets are not cleaned");
      assert.equal(await h.rollups.countMarkers(foreign), 2, "other namespaces untouched");
      assert.equal((await h.rollups.readBuckets(foreign, "minute", [T0], "all")).length, 1);
    });

    withHarness("watermarks round-trip", async (h, ref) => {
      const key = `${ref.namespace}:cleanup:last`;
      assert.equal(await h.rollups.readWatermark(key), null);
      await h.rollups.writeWatermark(key, T0);
      await h.rollups.writeWatermark(key, T0 + 5);
      assert.equal(await h.rollups.readWatermark(key), T0 + 5);
    });

    withHarness("corrupt stored values read as 0 or absent and never fail a commit", async (h, ref) => {
      if (h.corrupt === undefined) return;
      await h.rollups.commit(ref, batch({ rollups: [delta("minute", T0, "all", 4, 100)] }));
      await h.corrupt(ref, "minute", T0, "all", "count", "not a number");
      await h.corrupt(ref, "minute", T0, "all", "durationMsMin", "garbage");
      await h.corrupt(ref, "minute", T0, "all", "durationMsHist", '{"x":1,"-3":2,"40":"7","41":"zz"}');
      await h.corrupt(ref, "minute", T0, "all", "successCount", 2 ** 60);
      const [r] = await h.rollups.readBuckets(ref, "minute", [T0], "all");
      assert.equal(r?.count, 0);
      assert.equal(r?.durationMsMin, null);
      assert.deepEqual([...(r?.durationMsHist ?? new Map())], [[40, 7]]);
      assert.ok((r?.successCount ?? 0) <= Number.MAX_SAFE_INTEGER);
      assert.deepEqual(await h.rollups.commit(ref, batch({ rollups: [delta("minute", T0, "all", 2, 50)] })), {
        ok: true,
      });
      const [after] = await h.rollups.readBuckets(ref, "minute", [T0], "all");
      assert.equal(after?.count, 2);
      assert.equal(after?.durationMsMin, 50);
    });
  });
}
