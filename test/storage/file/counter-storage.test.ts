import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { isTallyError } from "../../../src/errors.ts";
import { FilePerEvent } from "../../../src/storage/file/counter-storage.ts";
import { escapeKey, fileNameFor, keyOfName, unescapeKey } from "../../../src/storage/file/file-names.ts";
import { storageContract } from "../../../src/testing/counter-storage-contract.ts";
import { assertWholeVersions, killWriterMidWrite } from "../crash.ts";

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "tally-file-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

storageContract("FilePerEvent", async (t) => new FilePerEvent(join(await tempDir(t), "events"), ".bin"));

describe("FilePerEvent names", () => {
  it("escapes everything outside [a-z0-9._-], upper case included", () => {
    assert.equal(escapeKey("page_view-1.x"), "page_view-1.x");
    assert.equal(escapeKey("Login"), "%4Cogin");
    assert.equal(escapeKey("a/b c"), "a%2Fb%20c");
    assert.equal(escapeKey("ключ"), "%D0%BA%D0%BB%D1%8E%D1%87");
    assert.equal(escapeKey("%41"), "%2541");
    assert.equal(escapeKey("~x"), "%7Ex");
  });

  it("escapes a leading dot and Windows device stems", () => {
    assert.equal(escapeKey(".hidden"), "%2Ehidden");
    assert.equal(escapeKey(".."), "%2E.");
    assert.equal(escapeKey("con"), "%63on");
    assert.equal(escapeKey("nul.txt"), "%6Eul.txt");
    assert.equal(escapeKey("com1"), "%63om1");
    assert.equal(escapeKey("console"), "console");
    assert.equal(escapeKey("CON"), "%43%4F%4E");
  });

  it("hashes names over 240 bytes and keeps the key in a header line", () => {
    const short = fileNameFor("a".repeat(236), ".bin");
    assert.deepEqual(short, { name: `${"a".repeat(236)}.bin`, header: undefined });
    const long = fileNameFor("a".repeat(237), ".bin");
    assert.match(long.name, /^~[0-9a-f]{32}\.bin$/);
    assert.equal(long.header, `${"a".repeat(237)}\n`);
  });

  it("decodes only names it could have written", () => {
    assert.equal(keyOfName("%4Cogin.bin", ".bin"), "Login");
    assert.equal(keyOfName("Login.bin", ".bin"), undefined, "upper case is never written unescaped");
    assert.equal(keyOfName("%4cogin.bin", ".bin"), undefined, "lower-case hex is not canonical");
    assert.equal(keyOfName("con.bin", ".bin"), undefined, "an unescaped device stem is not ours");
    assert.equal(keyOfName("a.json", ".bin"), undefined);
    assert.equal(keyOfName("%FF.bin", ".bin"), undefined, "not UTF-8");
    assert.equal(unescapeKey("%2E."), "..");
  });
});

describe("FilePerEvent", () => {
  it("accepts the extension with or without the dot and rejects unusable ones", async (t) => {
    const dir = await tempDir(t);
    assert.equal(new FilePerEvent(dir, "json").ext, ".json");
    assert.equal(new FilePerEvent(dir, ".json").ext, ".json");
    for (const bad of ["", ".", "a/b", ".tmp-1-abcd"]) {
      assert.throws(
        () => new FilePerEvent(dir, bad),
        (e) => isTallyError(e) && e.code === "INVALID_CONFIG",
      );
    }
  });

  it("creates its directory on first use and writes one file per key", async (t) => {
    const dir = join(await tempDir(t), "nested", "events");
    const storage = new FilePerEvent(dir, "json");
    await storage.save("Page View", Uint8Array.of(1, 2));
    assert.deepEqual(await readdir(dir), ["%50age%20%56iew.json"]);
    assert.deepEqual(new Uint8Array(await readFile(join(dir, "%50age%20%56iew.json"))), Uint8Array.of(1, 2));
  });

  it("stores a hashed long name with its header and lists it by key", async (t) => {
    const dir = await tempDir(t);
    const storage = new FilePerEvent(dir, ".bin");
    const key = `Ä${"x".repeat(300)}`;
    await storage.save(key, Uint8Array.of(7, 10, 7));
    const [name] = await readdir(dir);
    assert.match(name ?? "", /^~[0-9a-f]{32}\.bin$/);
    const raw = await readFile(join(dir, name ?? ""));
    assert.equal(raw.toString("latin1"), `%C3%84${"x".repeat(300)}\n\x07\n\x07`);
    assert.deepEqual(await storage.listKeys(), [key]);
    assert.deepEqual(await storage.load(key), Uint8Array.of(7, 10, 7));
  });

  it("ignores foreign files, directories and temp files when listing", async (t) => {
    const dir = await tempDir(t);
    const storage = new FilePerEvent(dir, ".bin");
    await storage.save("kept", Uint8Array.of(1));
    await writeFile(join(dir, "README.md"), "notes");
    await writeFile(join(dir, "Upper.bin"), "foreign");
    await writeFile(join(dir, "kept.bin~"), "editor backup");
    await writeFile(join(dir, `~${"0".repeat(32)}.bin`), "no header");
    await writeFile(join(dir, `kept.bin.tmp-${process.pid.toString(36)}-abcd`), "in flight");
    await import("node:fs/promises").then((fs) => fs.mkdir(join(dir, "sub.bin")));
    assert.deepEqual(await storage.listKeys(), ["kept"]);
  });

  it("removes temp files of dead writers when opened, and keeps those of live ones", async (t) => {
    const dir = await tempDir(t);
    const dead = `x.bin.tmp-${(2 ** 22 + 12345).toString(36)}-abcd`; // above Linux's pid_max
    const live = `y.bin.tmp-${process.ppid.toString(36)}-abcd`;
    await writeFile(join(dir, dead), "half");
    await writeFile(join(dir, live), "busy");
    const storage = new FilePerEvent(dir, ".bin");
    assert.deepEqual(await storage.listKeys(), []);
    assert.deepEqual((await readdir(dir)).sort(), [live]);
  });

  it("fails with STORAGE_FAILED when the directory cannot be used", async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, "file"), "not a directory");
    const storage = new FilePerEvent(join(dir, "file"), ".bin");
    for (const attempt of [storage.save("k", Uint8Array.of(1)), storage.load("k"), storage.listKeys()]) {
      await assert.rejects(attempt, (e) => isTallyError(e) && e.code === "STORAGE_FAILED" && e.cause instanceof Error);
    }
  });

  it("keeps the old or the new file when the writer is killed mid-write", async (t) => {
    const dir = await tempDir(t);
    const last = await killWriterMidWrite(["file", dir]);
    const storage = new FilePerEvent(dir, ".bin");
    await assertWholeVersions(storage, last);
    assert.deepEqual((await storage.listKeys()).sort(), ["b1", "b2", "b3", "big"]);
    const leftovers = (await readdir(dir)).filter((name) => name.includes(".tmp-"));
    assert.deepEqual(leftovers, [], "opening removed the dead writer's temp files");
  });
});
