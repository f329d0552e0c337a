/**
 * `meterStreamContract(name, factory)`: the shared test suite every `MeterStream` must pass (memory,
 * file, Redis, PostgreSQL). It registers `node:test` tests; call it at the top level of a test file.
 * Each test gets a fresh harness from the factory and closes it.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildPayload, type EventPayload } from "../meter/payload.ts";
import type { MeterStream, StreamBatch, StreamRef } from "../meter/stream.ts";
import type { TestClock } from "../time/clock.ts";

export interface MeterStreamHarness {
  stream: MeterStream;
  /** The clock the stream uses (claims and timeouts follow it where the store allows). */
  clock: TestClock;
  /** Another handle on the same storage, as a second process sees it (may be `stream` itself). */
  peer(): MeterStream | Promise<MeterStream>;
  /** Lets the claim of a silent reader expire (advance the clock, or wait for a server clock). */
  expireClaims(): void | Promise<void>;
  /** Makes appended rows readable (file streams wait for the minute and the claim grace). */
  settle(): void | Promise<void>;
  /** True when one unit may hold several entries (a file). */
  multiEntryUnits: boolean;
  /** Appends a row that is not valid JSON, when the store can hold one. */
  appendUnparsable?(ref: StreamRef, text: string): Promise<void>;
  close(): Promise<void>;
}

export type MeterStreamFactory = () => Promise<MeterStreamHarness>;

const NS = "contract";

function payloads(name: string, n: number, start = 1_700_000_000_000): EventPayload[] {
  return Array.from({ length: n }, (_, i) => buildPayload(name, "success", start + i * 1000, i, { i }));
}

async function readAll(stream: MeterStream, ref: StreamRef, reader: string, maxRows = 1000): Promise<StreamBatch> {
  return stream.read(ref, { maxRows, reader });
}

const indexesOf = (batch: StreamBatch): number[] =>
  batch.entries.map((e) => (e.payload as { params: { i: number } }).params.i);

export function meterStreamContract(name: string, factory: MeterStreamFactory): void {
  describe(`MeterStream contract: ${name}`, () => {
    const withHarness = (title: string, body: (h: MeterStreamHarness) => Promise<void>): void => {
      it(title, async () => {
        const h = await factory();
        try {
          await body(h);
        } finally {
          await h.close();
        }
      });
    };

    withHarness(
      "delivers appended rows oldest first with unit:seq ids; pendingCount counts claimed rows",
      async (h) => {
        const ref = { namespace: NS, name: "ordered" };
        await h.stream.append(NS, payloads("ordered", 5));
        await h.stream.append(NS, payloads("other", 2));
        await h.settle();
        assert.equal(await h.stream.pendingCount(ref), 5);
        const batch = await readAll(h.stream, ref, "r1");
        assert.deepEqual(indexesOf(batch), [0, 1, 2, 3, 4]);
        for (const e of batch.entries) {
          assert.equal(e.id, `${e.unit}:${e.seq}`);
          assert.ok(e.seq >= 1);
        }
        assert.equal(new Set(batch.entries.map((e) => e.id)).size, 5);
        assert.equal(await h.stream.pendingCount(ref), 5, "claimed rows still count as pending");
        const ack = await h.stream.ack(batch);
        assert.equal(ack.ok, true);
        assert.equal(await h.stream.pendingCount(ref), 0);
        assert.equal(await h.stream.pendingCount({ namespace: NS, name: "other" }), 2);
        const units = new Set(batch.entries.map((e) => e.unit));
        assert.deepEqual(new Set(ack.removedUnits), units);
        assert.equal((await readAll(h.stream, ref, "r1")).entries.length, 0);
      },
    );

    withHarness(
      "a claimed row is not given to another reader until its claim expires, then comes back first",
      async (h) => {
        const ref = { namespace: NS, name: "claims" };
        await h.stream.append(NS, payloads("claims", 3));
        await h.settle();
        const first = await readAll(h.stream, ref, "crashing-reader");
        assert.equal(first.entries.length, 3);
        const peer = await h.peer();
        assert.equal((await readAll(peer, ref, "r2")).entries.length, 0, "claimed rows are not re-delivered early");
        await h.expireClaims();
        await h.stream.append(
          NS,
          payloads("claims", 2, 1_800_000_000_000).map((p, k) => ({ ...p, params: { i: 10 + k } })),
        );
        await h.settle();
        const again = await readAll(peer, ref, "r2");
        assert.deepEqual(indexesOf(again).slice(0, 3), [0, 1, 2], "re-delivered rows come before newer ones");
        assert.deepEqual(indexesOf(again).slice(3).sort(), [10, 11]);
        assert.equal((await peer.ack(again)).ok, true);
        assert.equal(await peer.pendingCount(ref), 0);
      },
    );

    withHarness("release gives rows back at once and is idempotent", async (h) => {
      const ref = { namespace: NS, name: "release" };
      await h.stream.append(NS, payloads("release", 4));
      await h.settle();
      const batch = await readAll(h.stream, ref, "r1");
      assert.equal(batch.entries.length, 4);
      await h.stream.release(batch);
      await h.stream.release(batch);
      const peer = await h.peer();
      const again = await readAll(peer, ref, "r2");
      assert.deepEqual(indexesOf(again), [0, 1, 2, 3]);
      const ack = await peer.ack(again);
      assert.equal(ack.ok, true);
      await peer.release(again); // ignores acknowledged entries
      assert.equal(await peer.pendingCount(ref), 0);
    });

    withHarness("maxRows bounds a read; a unit is delivered as contiguous ascending runs", async (h) => {
      const ref = { namespace: NS, name: "chunks" };
      await h.stream.append(NS, payloads("chunks", 7));
      await h.settle();
      const seen: number[] = [];
      const lastSeq = new Map<string, number>();
      for (let round = 0; round < 10; round++) {
        const batch = await h.stream.read(ref, { maxRows: 3, reader: "r1" });
        if (batch.entries.length === 0) break;
        assert.ok(batch.entries.length <= 3);
        for (const e of batch.entries) {
          const prev = lastSeq.get(e.unit) ?? 0;
          assert.equal(e.seq, prev + 1, `unit ${e.unit} continues at ${prev + 1}`);
          lastSeq.set(e.unit, e.seq);
        }
        seen.push(...indexesOf(batch));
        assert.equal((await h.stream.ack(batch)).ok, true);
      }
      assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6]);
      if (h.multiEntryUnits)
        assert.ok(
          [...lastSeq.values()].some((s) => s > 1),
          "a file holds several entries",
        );
      assert.equal(await h.stream.pendingCount(ref), 0);
    });

    withHarness("a released, partly acknowledged unit resumes after its acknowledged rows", async (h) => {
      const ref = { namespace: NS, name: "resume" };
      await h.stream.append(NS, payloads("resume", 5));
      await h.settle();
      const first = await h.stream.read(ref, { maxRows: 2, reader: "r1" });
      assert.deepEqual(indexesOf(first), [0, 1]);
      assert.equal((await h.stream.ack(first)).ok, true);
      const second = await h.stream.read(ref, { maxRows: 2, reader: "r1" });
      await h.stream.release(second);
      const peer = await h.peer();
      const rest = await readAll(peer, ref, "r2");
      assert.deepEqual(indexesOf(rest), [2, 3, 4]);
      assert.equal((await peer.ack(rest)).ok, true);
      assert.equal(await peer.pendingCount(ref), 0);
    });

    withHarness(
      "rows that are not meter payloads are still delivered (the processor counts them malformed)",
      async (h) => {
        const ref = { namespace: NS, name: "odd" };
        const odd = { name: "odd", status: "bogus", startedAt: "yesterday", params: [] } as unknown as EventPayload;
        await h.stream.append(NS, [odd]);
        if (h.appendUnparsable !== undefined) await h.appendUnparsable(ref, "{not json");
        await h.settle();
        const batch = await readAll(h.stream, ref, "r1");
        assert.deepEqual(batch.entries[0]?.payload, JSON.parse(JSON.stringify(odd)));
        if (h.appendUnparsable !== undefined) {
          assert.equal(batch.entries.length, 2);
          assert.equal(batch.entries[1]?.payload, undefined);
        }
        assert.equal((await h.stream.ack(batch)).ok, true);
        assert.equal(await h.stream.pendingCount(ref), 0);
      },
    );
  });
}
