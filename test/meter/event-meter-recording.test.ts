import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { WriteResult } from "../../src/meter/event.ts";
import { EventMeter } from "../../src/meter/event-meter.ts";
import type { EventPayload } from "../../src/meter/payload.ts";
import type { MeterStream } from "../../src/meter/stream.ts";
import { streamDirs } from "../../src/storage/file/meter-file-layout.ts";
import { FileStream, type FileStreamOptions } from "../../src/storage/file/meter-stream.ts";
import { MemoryRollups } from "../../src/storage/memory/meter-rollups.ts";
import { MemoryStream } from "../../src/storage/memory/meter-stream.ts";
import { TestClock } from "../../src/time/clock.ts";

const root = mkdtempSync(join(tmpdir(), "tally-meter-recording-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function fileMeter(options: Partial<FileStreamOptions> = {}) {
  const path = join(root, `t${++n}`);
  const clock = new TestClock("2031-01-06T10:00:05.120Z");
  const stream = new FileStream({ path, clock, ...options });
  const meter = new EventMeter({ stream, rollups: new MemoryRollups(), clock });
  const lines = async (name: string): Promise<unknown[]> => {
    const logs = streamDirs(path, "tally", name).logs;
    const out: unknown[] = [];
    for (const file of (await readdir(logs)).sort()) {
      const text = await readFile(join(logs, file), "utf8");
      for (const line of text.split("\n").slice(0, -1)) out.push(JSON.parse(line));
    }
    return out;
  };
  return { clock, meter, lines };
}

const HOSTILE = [
  'quote " backslash \\',
  "controls \u0000\u0001\b\t\n\f\r\u001f\u007f",
  "lone \ud800 and \udc00, pair \ud83d\ude00",
  "non-ASCII é ß 中文 \u2028\u2029",
];

describe("recording through FileStream", () => {
  it("writes lines that parse to the payloads handed out, flat, hostile and nested params alike", async () => {
    const { clock, meter, lines } = fileMeter();
    const pending: Promise<WriteResult>[] = [];
    for (let i = 0; i < 40; i++) {
      const text = HOSTILE[i % HOSTILE.length] as string;
      const params: Record<string, unknown> =
        i % 5 === 0
          ? { nested: { text, list: [1, text, null] }, at: new Date(0) }
          : { customer_id: i % 7, [text]: text, ok: i % 2 === 0, none: null, gone: undefined, ratio: i / 3 };
      const event = meter.start("invoice_delivery", params);
      clock.advance(i % 3);
      pending.push(i % 4 === 1 ? event.failure(new TypeError(text)) : i % 4 === 2 ? event.skip(text) : event.success());
    }
    const results = await Promise.all(pending);
    for (const r of results) assert.equal(r.recorded, true, String(r.error));
    const written = await lines("invoice_delivery");
    assert.deepEqual(
      written,
      results.map((r) => JSON.parse(JSON.stringify(r.payload))),
    );
    await meter.close();
  });

  it("every event of a group commit resolves after its fdatasync; a failed sync fails them all, and they may retry", async () => {
    let fail = true;
    let manual = true;
    const syncs: Array<() => void> = [];
    const { meter, lines } = fileMeter({
      batchEvents: 3,
      batchDelay: "1h",
      fdatasync: (handle) =>
        manual
          ? new Promise<void>((resolve, reject) => {
              syncs.push(() => (fail ? reject(new Error("EIO")) : handle.datasync().then(resolve, reject)));
            })
          : handle.datasync(),
    });
    const events = [0, 1, 2].map((i) => meter.start("job", { i }));
    let settled = 0;
    const first = events.map((e) =>
      e.success().then((r) => {
        settled++;
        return r;
      }),
    );
    for (let i = 0; i < 500 && syncs.length === 0; i++) await new Promise((r) => setTimeout(r, 2));
    assert.equal(syncs.length, 1, "three events make one batch and one sync");
    assert.equal(settled, 0, "nothing resolves before the sync");
    syncs[0]?.();
    for (const r of await Promise.all(first)) {
      assert.equal(r.recorded, false);
      assert.equal(r.error?.code, "STORE_UNAVAILABLE");
      assert.equal((r.error?.cause as Error | undefined)?.message, "EIO");
      assert.ok(r.payload !== null);
    }
    fail = false;
    const retried = events.map((e) => e.success());
    for (let i = 0; i < 500 && syncs.length < 2; i++) await new Promise((r) => setTimeout(r, 2));
    syncs[1]?.();
    for (const r of await Promise.all(retried)) assert.equal(r.recorded, true);
    assert.equal((await events[0]?.success())?.error?.code, "ALREADY_RECORDED");
    manual = false;
    const written = (await lines("job")) as EventPayload[];
    // The failed batch's bytes may be in the file (written, not synced): the retry adds its own lines.
    assert.deepEqual(
      written.slice(-3).map((p) => p.params),
      [{ i: 0 }, { i: 1 }, { i: 2 }],
    );
    await meter.close();
  });
});

describe("recording through a stream that shares one promise between appends", () => {
  it("resolves every event from the shared outcome, rejected or fulfilled, and counts them for close()", async () => {
    const clock = new TestClock("2026-05-06T10:00:00Z");
    const memory = new MemoryStream({ clock });
    let release: (error?: Error) => void = () => {};
    let shared: Promise<void> | null = null;
    const appended: EventPayload[] = [];
    const grouped: MeterStream = {
      append: (_ns, payloads) => {
        appended.push(...payloads);
        shared ??= new Promise<void>((resolve, reject) => {
          release = (error) => (error === undefined ? resolve() : reject(error));
        });
        return shared;
      },
      read: (r, o) => memory.read(r, o),
      ack: (b) => memory.ack(b),
      release: (b) => memory.release(b),
      pendingCount: (r) => memory.pendingCount(r),
      close: () => memory.close(),
    };
    const meter = new EventMeter({ stream: grouped, rollups: new MemoryRollups(), clock });
    const failing = [meter.start("j", { a: 1 }).success(), meter.start("j").skip("why")];
    release(new Error("down"));
    for (const r of await Promise.all(failing)) {
      assert.equal(r.error?.code, "STORE_UNAVAILABLE");
      assert.equal((r.error?.cause as Error | undefined)?.message, "down");
    }
    shared = null;
    const ok = [meter.start("j", { b: 2 }).success(), meter.start("j").failure("boom")];
    let closed = false;
    const closing = meter.close().then(() => (closed = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(closed, false, "close() waits for in-flight writes");
    release();
    const results = await Promise.all(ok);
    assert.deepEqual(
      results.map((r) => r.recorded),
      [true, true],
    );
    assert.deepEqual(results[0]?.payload?.params, { b: 2 });
    await closing;
    assert.equal(appended.length, 4);
  });

  it("a stream returning a non-promise value records", async () => {
    const clock = new TestClock("2026-05-06T10:00:00Z");
    const memory = new MemoryStream({ clock });
    const sync = {
      append: () => undefined,
      read: memory.read.bind(memory),
      ack: memory.ack.bind(memory),
      release: memory.release.bind(memory),
      pendingCount: memory.pendingCount.bind(memory),
      close: memory.close.bind(memory),
    } as unknown as MeterStream;
    const meter = new EventMeter({ stream: sync, rollups: new MemoryRollups(), clock });
    assert.equal((await meter.start("j").success()).recorded, true);
    assert.equal((await meter.start("j").success()).recorded, true);
    await meter.close();
  });
});
