import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { appendFile, mkdir, readdir, readFile, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { buildPayload } from "../../../src/meter/payload.ts";
import { minuteStamp, streamDirs } from "../../../src/storage/file/meter-file-layout.ts";
import { FileStream, type FileStreamOptions } from "../../../src/storage/file/meter-stream.ts";
import { TestClock } from "../../../src/time/clock.ts";
import { runChild } from "../../support/child.ts";

const root = mkdtempSync(join(tmpdir(), "tally-file-meter-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const START = Date.UTC(2031, 0, 6, 10, 0, 5);
const ref = { namespace: "ns", name: "job" };
const p = (i: number) => buildPayload("job", "success", START + i, 1, { i });

function setup(options: Partial<FileStreamOptions> = {}) {
  const path = join(root, `t${++n}`);
  const clock = new TestClock(START);
  const stream = new FileStream({ path, clock, ...options });
  const dirs = streamDirs(path, ref.namespace, ref.name);
  return { path, clock, stream, dirs };
}

describe("FileStream layout and writing", () => {
  it("writes per-writer minute files, rotates on the minute, removes empty files on close", async () => {
    const { clock, stream, dirs } = setup();
    await stream.append("ns", [p(1), p(2)]);
    clock.advance("1m");
    await stream.append("ns", [p(3)]);
    const files = (await readdir(dirs.logs)).sort();
    assert.equal(files.length, 2);
    assert.match(files[0] as string, /^203101061000-[A-Za-z0-9_.-]+-\d+-\d+-[0-9a-f]{8}\.jsonl$/);
    assert.ok((files[1] as string).startsWith("203101061001-"));
    const lines = (await readFile(join(dirs.logs, files[0] as string), "utf8")).split("\n");
    assert.deepEqual(JSON.parse(lines[0] as string), JSON.parse(JSON.stringify(p(1))));
    const other = new FileStream({ path: join(dirs.root, "..", ".."), clock });
    await other.append("ns", [p(4)]);
    assert.equal((await readdir(dirs.logs)).length, 3, "another writer never shares a file");
    await other.close();
    await stream.close();
  });

  it("unique names across worker threads and processes", async () => {
    const { path, dirs } = setup();
    const script = fileURLToPath(new URL("./fixtures/meter-append.ts", import.meta.url));
    const results = await Promise.all([runChild(script, [path, "2", "50"]), runChild(script, [path, "2", "50"])]);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const files = await readdir(dirs.logs);
    assert.equal(files.length, 6, "3 writers (main + 2 threads) x 2 processes");
    let lines = 0;
    for (const f of files) lines += (await readFile(join(dirs.logs, f), "utf8")).split("\n").length - 1;
    assert.equal(lines, 300);
  });

  it('"batch" durability: success resolves only after its batch\'s fdatasync (group commit)', async () => {
    const syncs: Array<() => void> = [];
    let synced = 0;
    let manual = true;
    const { stream } = setup({
      batchEvents: 4,
      batchDelay: "50ms",
      fdatasync: (handle) =>
        manual
          ? new Promise<void>((resolve) => {
              syncs.push(() => {
                synced++;
                handle.datasync().then(resolve, resolve);
              });
            })
          : handle.datasync(),
    });
    // Waits for file I/O to reach the hook (not for time to pass).
    const syncCalls = async (count: number) => {
      for (let i = 0; i < 500 && syncs.length < count; i++) await new Promise((r) => setTimeout(r, 2));
      return syncs.length;
    };
    let resolved = 0;
    const first = Array.from({ length: 4 }, (_, i) => stream.append("ns", [p(i)]).then(() => resolved++));
    assert.equal(await syncCalls(1), 1, "four events make one batch, one sync");
    const second = Array.from({ length: 3 }, (_, i) => stream.append("ns", [p(10 + i)]).then(() => resolved++));
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(resolved, 0, "nothing resolves before its sync");
    assert.equal(syncs.length, 1, "at most one sync in flight; later events wait for the next batch");
    syncs[0]?.();
    await Promise.all(first);
    assert.equal(resolved, 4);
    assert.equal(await syncCalls(2), 2, "events that arrived during the sync form the next batch");
    syncs[1]?.();
    await Promise.all(second);
    assert.equal(synced, 2);
    manual = false;
    await stream.close();
  });
});

describe("FileStream claiming", () => {
  it("claims a log file only after its minute ended claimGrace ago and it is quiet as long", async () => {
    const { clock, stream, dirs } = setup();
    await stream.append("ns", [p(1)]);
    clock.set(START - 5000 + 60_000 + 9_000); // 10:01:09, grace 10s not yet over for the 10:00 minute
    assert.equal((await stream.read(ref, { maxRows: 10, reader: "r" })).entries.length, 0);
    clock.advance("2s");
    const file = (await readdir(dirs.logs))[0] as string;
    await utimes(join(dirs.logs, file), (clock.now() - 5000) / 1000, (clock.now() - 5000) / 1000);
    assert.equal((await stream.read(ref, { maxRows: 10, reader: "r" })).entries.length, 0, "written 5s ago: too fresh");
    await utimes(join(dirs.logs, file), (clock.now() - 11_000) / 1000, (clock.now() - 11_000) / 1000);
    const batch = await stream.read(ref, { maxRows: 10, reader: "r" });
    assert.equal(batch.entries.length, 1);
    assert.deepEqual(await readdir(dirs.logs), []);
    assert.deepEqual(await readdir(dirs.processing), [file]);
    assert.deepEqual(await readdir(dirs.leases), [`${file}.lease`]);
    assert.equal((await stream.ack(batch)).ok, true);
    assert.deepEqual(await readdir(dirs.processing), []);
    assert.deepEqual(await readdir(dirs.leases), []);
    await stream.close();
  });

  it("exactly one of two processes wins the O_EXCL claim", async () => {
    const { path, stream, clock } = setup();
    for (let i = 0; i < 20; i++) {
      await stream.append("ns", [p(i)]);
      clock.advance("1m");
    }
    await stream.close();
    const script = fileURLToPath(new URL("./fixtures/meter-claim.ts", import.meta.url));
    const now = String(clock.now() + 120_000);
    const [a, b] = await Promise.all([runChild(script, [path, now]), runChild(script, [path, now])]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const got = [...JSON.parse(a.stdout), ...JSON.parse(b.stdout)] as number[];
    assert.deepEqual(
      got.sort((x, y) => x - y),
      Array.from({ length: 20 }, (_, i) => i),
      "every row to exactly one",
    );
  });

  it("claims ahead only the files a read needs, delivers them oldest first, and skips a listed file taken since", async () => {
    const { path, stream, clock, dirs } = setup();
    for (let i = 0; i < 12; i++) {
      await stream.append("ns", [p(2 * i), p(2 * i + 1)]);
      clock.advance("1m");
    }
    clock.advance("2m");
    const ids = (batch: { entries: ReadonlyArray<{ payload: unknown }> }) =>
      batch.entries.map((e) => (e.payload as { params: { i: number } }).params.i);
    const first = await stream.read(ref, { maxRows: 6, reader: "a" });
    assert.deepEqual(ids(first), [0, 1, 2, 3, 4, 5]);
    assert.equal((await readdir(dirs.processing)).length, 3, "two rows per file: three files, none claimed beyond");
    // Another processor takes the next file of the listing this stream has not tried yet.
    const other = new FileStream({ path, clock });
    const taken = await other.read(ref, { maxRows: 2, reader: "b" });
    assert.deepEqual(ids(taken), [6, 7]);
    const rest = await stream.read(ref, { maxRows: 100, reader: "a" });
    assert.deepEqual(
      ids(rest),
      Array.from({ length: 16 }, (_, i) => i + 8),
    );
    for (const [s, batch] of [
      [stream, first],
      [other, taken],
      [stream, rest],
    ] as const) {
      assert.equal((await s.ack(batch)).ok, true);
    }
    assert.equal(await stream.pendingCount(ref), 0);
    await other.close();
  });

  it("reclaims a killed claimer's file once its lease is stale, before newer files", async () => {
    const { path, stream, clock, dirs } = setup();
    await stream.append("ns", [p(1), p(2)]);
    clock.advance("2m");
    await stream.append("ns", [p(3)]);
    clock.advance("2m");
    const script = fileURLToPath(new URL("./fixtures/meter-claim.ts", import.meta.url));
    const killed = await runChild(script, [path, String(clock.now()), "1", "hang"], { killOnOutput: "claimed" });
    assert.equal(killed.signal, "SIGKILL");
    assert.equal((await readdir(dirs.processing)).length, 1);
    assert.equal(
      (await stream.read(ref, { maxRows: 10, reader: "r" })).entries.length,
      1,
      "only the newer file; the lease is fresh",
    );
    const fresh = new FileStream({ path, clock });
    clock.advance("31s");
    await stream.close();
    const batch = await fresh.read(ref, { maxRows: 10, reader: "r2" });
    assert.deepEqual(
      batch.entries.map((e) => (e.payload as { params: { i: number } }).params.i),
      [1, 2, 3],
    );
    assert.equal((await fresh.ack(batch)).ok, true);
    assert.equal(await fresh.pendingCount(ref), 0);
    await fresh.close();
  });

  it("a claimer killed between its lease and its rename leaves the file in logs/ until the lease is stale", async () => {
    const { path, stream, clock, dirs } = setup();
    await stream.append("ns", [p(1), p(2)]);
    clock.advance("2m");
    const script = fileURLToPath(new URL("./fixtures/meter-claim.ts", import.meta.url));
    const died = await runChild(script, [path, String(clock.now()), "10", "die-before-rename"]);
    assert.equal(died.code, 88, died.stderr);
    const file = (await readdir(dirs.logs))[0] as string;
    assert.deepEqual(await readdir(dirs.leases), [`${file}.lease`]);
    assert.equal((await stream.read(ref, { maxRows: 10, reader: "r" })).entries.length, 0, "the lease is fresh");
    clock.advance("31s");
    const batch = await stream.read(ref, { maxRows: 10, reader: "r" });
    assert.deepEqual(
      batch.entries.map((e) => (e.payload as { params: { i: number } }).params.i),
      [1, 2],
    );
    assert.equal((await stream.ack(batch)).ok, true);
    assert.equal(await stream.pendingCount(ref), 0);
    assert.deepEqual(await readdir(dirs.leases), []);
    await stream.close();
  });

  it("the size guard: a file that grew after it was read is released, not deleted", async () => {
    const { stream, clock, dirs } = setup();
    await stream.append("ns", [p(1)]);
    clock.advance("2m");
    const batch = await stream.read(ref, { maxRows: 10, reader: "r" });
    const file = (await readdir(dirs.processing))[0] as string;
    await appendFile(join(dirs.processing, file), `${JSON.stringify(p(2))}\n`);
    const ack = await stream.ack(batch);
    assert.equal(ack.ok, true);
    assert.deepEqual(ack.removedUnits, []);
    const rest = await stream.read(ref, { maxRows: 10, reader: "r" });
    assert.deepEqual(
      rest.entries.map((e) => e.seq),
      [2],
      "applied lines are skipped",
    );
    assert.deepEqual((await stream.ack(rest)).removedUnits, [file]);
    await stream.close();
  });
});

describe("FileStream quarantine", () => {
  const meta = async (dir: string) => {
    const names = await readdir(dir);
    const m = names.find((x) => x.endsWith(".meta.json"));
    return m === undefined ? null : (JSON.parse(await readFile(join(dir, m), "utf8")) as Record<string, unknown>);
  };
  const put = async (dirs: ReturnType<typeof streamDirs>, minute: number, text: string) => {
    await mkdir(dirs.logs, { recursive: true });
    const file = `${minuteStamp(minute)}-h-1-0-abcdef12.jsonl`;
    await writeFile(join(dirs.logs, file), text);
    return file;
  };

  it("quarantines an empty file", async () => {
    const { stream, clock, dirs } = setup();
    const file = await put(dirs, START, "");
    clock.advance("2m");
    assert.equal((await stream.read(ref, { maxRows: 10, reader: "r" })).entries.length, 0);
    const m = await meta(dirs.quarantine);
    assert.equal(m?.reason, "empty_file");
    assert.equal(m?.originalName, file);
    await stream.close();
  });

  it("quarantines a file with a non-JSON line (with samples), or delivers it malformed with 'skip'", async () => {
    const { stream, clock, dirs } = setup();
    await put(dirs, START, `${JSON.stringify(p(1))}\n{broken\n`);
    clock.advance("2m");
    assert.equal((await stream.read(ref, { maxRows: 10, reader: "r" })).entries.length, 0);
    const m = await meta(dirs.quarantine);
    assert.equal(m?.reason, "malformed_jsonl");
    assert.deepEqual(m?.samples, [{ line: 2, text: "{broken" }]);
    assert.ok(typeof m?.quarantinedAt === "string" && typeof m?.pid === "number" && typeof m?.host === "string");
    const skip = setup({ malformedLines: "skip" });
    await put(skip.dirs, START, `${JSON.stringify(p(1))}\n{broken\n`);
    skip.clock.advance("2m");
    const batch = await skip.stream.read(ref, { maxRows: 10, reader: "r" });
    assert.equal(batch.entries.length, 2);
    assert.equal(batch.entries[1]?.payload, undefined);
    await stream.close();
    await skip.stream.close();
  });

  it("a non-JSON line past the first read's rows still quarantines the file before any row is delivered", async () => {
    const { stream, clock, dirs } = setup();
    const good = Array.from({ length: 6 }, (_, i) => `${JSON.stringify(p(i))}\n`).join("");
    await put(dirs, START, `${good}{broken\n${JSON.stringify(p(7))}\n`);
    clock.advance("2m");
    assert.equal((await stream.read(ref, { maxRows: 2, reader: "r" })).entries.length, 0);
    const m = await meta(dirs.quarantine);
    assert.equal(m?.reason, "malformed_jsonl");
    assert.deepEqual(m?.samples, [{ line: 7, text: "{broken" }]);
    await stream.close();
  });

  it("delivers a file in chunks, parsing each line when read, UTF-8 included", async () => {
    const { stream, clock, dirs } = setup();
    const rows = [p(1), { ...p(2), params: { i: 2, who: "zoë ✓" } }, p(3), { ...p(4), params: { i: 4, who: "ü" } }];
    await put(dirs, START, rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
    clock.advance("2m");
    const first = await stream.read(ref, { maxRows: 3, reader: "r" });
    assert.deepEqual(
      first.entries.map((e) => e.payload),
      rows.slice(0, 3),
    );
    assert.deepEqual(first.entries[1]?.payload, first.entries[1]?.payload, "each read parses the same row");
    await stream.ack(first);
    const rest = await stream.read(ref, { maxRows: 3, reader: "r" });
    assert.deepEqual(
      rest.entries.map((e) => [e.seq, e.payload]),
      [[4, rows[3]]],
    );
    await stream.close();
  });

  it("a partial trailing line waits stalePartialAfter, then its complete lines are delivered and the tail quarantined", async () => {
    const { stream, clock, dirs } = setup();
    await put(dirs, START, `${JSON.stringify(p(1))}\n{"name":"jo`);
    clock.advance("2m");
    assert.equal(
      (await stream.read(ref, { maxRows: 10, reader: "r" })).entries.length,
      0,
      "a writer may still finish it",
    );
    clock.advance("10m");
    const batch = await stream.read(ref, { maxRows: 10, reader: "r" });
    assert.equal(batch.entries.length, 1);
    const m = await meta(dirs.quarantine);
    assert.equal(m?.reason, "partial_trailing_line");
    assert.deepEqual(m?.samples, [{ line: 2, text: '{"name":"jo' }]);
    assert.equal((await stream.ack(batch)).ok, true);
    await stream.close();
  });

  it("deletes quarantine older than quarantineRetention; null keeps it", async () => {
    const { stream, clock, dirs } = setup({ quarantineRetention: "1d" });
    await put(dirs, START, "");
    clock.advance("2m");
    await stream.read(ref, { maxRows: 10, reader: "r" });
    assert.equal((await readdir(dirs.quarantine)).length, 2);
    clock.advance("23h");
    await stream.read(ref, { maxRows: 10, reader: "r" });
    assert.equal((await readdir(dirs.quarantine)).length, 2);
    clock.advance("2h");
    await stream.read(ref, { maxRows: 10, reader: "r" });
    assert.equal((await readdir(dirs.quarantine)).length, 0);
    const keep = setup({ quarantineRetention: null });
    await put(keep.dirs, START, "");
    keep.clock.advance("2m");
    await keep.stream.read(ref, { maxRows: 10, reader: "r" });
    keep.clock.advance("3650d");
    await keep.stream.read(ref, { maxRows: 10, reader: "r" });
    assert.equal((await readdir(keep.dirs.quarantine)).length, 2);
    await stream.close();
    await keep.stream.close();
  });

  it("rejects bad options", () => {
    assert.throws(() => new FileStream({ path: "" }), { code: "INVALID_OPTION" });
    assert.throws(() => new FileStream({ path: "x", durability: "always" as never }), { code: "INVALID_OPTION" });
    assert.throws(() => new FileStream({ path: "x", batchEvents: 0 }), { code: "INVALID_OPTION" });
  });
});
