import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { ensureBuilt, root, tally } from "./fixtures/built-cli.ts";
import { sampleEvents, writeEvents } from "./fixtures/meter-events.ts";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tally-cli-"));
  dirs.push(dir);
  return dir;
}

before(async () => {
  await ensureBuilt();
});
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The built program run in this process (dist/cli/program.js), for the many help and usage cases. */
async function inProcess(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { runCli } = (await import(pathToFileURL(join(root, "dist", "cli", "program.js")).href)) as {
    runCli(argv: readonly string[], io: { stdout: (t: string) => void; stderr: (t: string) => void }): Promise<number>;
  };
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe("tally CLI: help, usage errors and exit codes", () => {
  it("prints help with exit 0 for the program, every group and every command", async () => {
    const cwd = tempDir();
    process.chdir(cwd); // in-process runs must never touch the repository folder
    const binary = await Promise.all([tally(["--help"], { cwd }), tally(["meter", "process", "--help"], { cwd })]);
    for (const result of binary) {
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Usage: tally/);
    }
    assert.match(binary[0]?.stdout ?? "", /TALLY_METER_STREAM/);
    assert.match(binary[1]?.stdout ?? "", /--max-rows/);
    const commands = [
      ["serve"],
      ["meter"],
      ...["process", "summary", "series", "compare", "breakdown", "cleanup", "definition"].map((c) => ["meter", c]),
      ["postgres"],
      ["postgres", "schema"],
      ["postgres", "install"],
      ["counter"],
      ...["record", "query", "limit", "export", "import"].map((c) => ["counter", c]),
      ["tracker"],
      ...["list", "add", "track", "reset", "remove"].map((c) => ["tracker", c]),
    ];
    for (const command of commands) {
      const result = await inProcess([...command, "--help"]);
      assert.equal(result.code, 0, `tally ${command.join(" ")} --help: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`Usage: tally ${command.join(" ")}`), `help of ${command.join(" ")}`);
    }
    const bare = await inProcess(["meter"]);
    assert.equal(bare.code, 2, "a group without a command is a usage error");
    assert.match(bare.stderr, /Usage: tally meter/);
    assert.ok(!existsSync(join(cwd, "tally.db")), "help creates no files");
  });

  it("exits 2 on usage errors with a message on stderr", async () => {
    const cwd = tempDir();
    process.chdir(cwd);
    const spawned = await tally(["nonsense"], { cwd });
    assert.equal(spawned.code, 2);
    assert.match(spawned.stderr, /unknown command/);
    assert.equal(spawned.stdout, "");
    const flag = await tally(["meter", "summary", "jobs", "--version", "1", "--from", "yesterday", "--to", "now"], {
      cwd,
    });
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /invalid --from "yesterday"/);
    const cases: [string[], RegExp][] = [
      [["meter", "summary", "jobs"], /--version/],
      [["meter", "summary", "jobs", "--version", "x"], /--version/],
      [["meter", "summary", "jobs", "--version", "1", "--from", "-1h"], /--from and --to/],
      [["meter", "series", "jobs", "--version", "1", "--every", "week"], /--every/],
      [["meter", "summary", "jobs", "--version", "1", "--bogus"], /unknown option/],
      [["meter", "compare", "jobs", "--version", "1", "--before", "-1h", "--after", "-1h..now"], /--before/],
      [["meter", "cleanup"], /--before/],
      [["counter", "record", "a", "--count", "-3"], /--count/],
      [["counter", "limit", "a"], /--at-most/],
      [["counter", "import", "x", "--mode", "add"], /--mode/],
      [["tracker", "reset", "g", "t", "--policy", "9"], /--policy/],
      [["tracker", "track", "g", "--data", "{"], /--data/],
      [["serve", "--port", "http"], /port/],
    ];
    for (const [args, pattern] of cases) {
      const result = await inProcess(args);
      assert.equal(result.code, 2, `tally ${args.join(" ")} exits 2 (stderr: ${result.stderr})`);
      assert.match(result.stderr, pattern, `tally ${args.join(" ")}`);
      assert.equal(result.stdout, "", "nothing on stdout");
    }
    assert.ok(!existsSync(join(cwd, "tally.db")), "usage errors open no store");
  });

  it("exits 1 with a message when the store has no such report", async () => {
    const cwd = tempDir();
    const result = await tally(["meter", "definition", "missing", "--version", "1"], { cwd });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /DEFINITION_NOT_FOUND/);
  });

  it("prints the version", async () => {
    const result = await tally(["--version"], { cwd: tempDir() });
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^\d+\.\d+\.\d+/);
  });
});

describe("tally meter on the embedded default (./tally.db and ./tally-data/)", () => {
  let cwd: string;
  before(async () => {
    cwd = tempDir();
    await writeEvents(join(cwd, "tally-data", "meter"), "jobs", sampleEvents());
  });

  it("processes, reports, compares, breaks down and cleans up", async () => {
    const noDefinition = await tally(["meter", "process", "jobs", "--version", "1"], { cwd });
    assert.equal(noDefinition.code, 2, "no stored definition and no flags is a usage error");
    assert.match(noDefinition.stderr, /--index/);

    const processed = await tally(
      ["meter", "process", "jobs", "--version", "1", "--index", "queue", "--json", "--progress"],
      {
        cwd,
      },
    );
    assert.equal(processed.code, 0, processed.stderr);
    const result = JSON.parse(processed.stdout);
    assert.equal(result.processed, 20);
    assert.equal(result.malformed, 0);
    assert.equal(result.pending, 0);
    assert.match(processed.stderr, /processed 20 \(.*\/s\) skipped 0 malformed 0 pending ~0/, "progress on stderr");
    assert.ok(existsSync(join(cwd, "tally.db")), "rollups live in ./tally.db");

    const again = await tally(["meter", "process", "jobs", "--version", "1", "--json"], { cwd });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).processed, 0, "reuses the stored definition; nothing left");

    // Reports only read rollups, so they run side by side.
    const run = (...args: string[]) => tally(["meter", ...args], { cwd });
    const [summaryRun, email, human, unsupported, seriesRun, seriesTable, compareRun, breakdownRun, definitionRun] =
      await Promise.all([
        run("summary", "jobs", "--version", "1", "--json"),
        run("summary", "jobs", "--version", "1", "--by", "queue=email", "--json"),
        run("summary", "jobs", "--version", "1", "--by", "queue=sms"),
        run("summary", "jobs", "--version", "1", "--by", "region=eu"),
        run("series", "jobs", "--version", "1", "--every", "hour", "--from", "-3h", "--to", "+1h", "--json"),
        run("series", "jobs", "--version", "1"),
        run("compare", "jobs", "--version", "1", "--before", "-3h..-2h", "--after", "-1h..+1m", "--json"),
        run("breakdown", "jobs", "--version", "1", "--by", "queue", "--from", "-1h", "--to", "+1m", "--json"),
        run("definition", "jobs", "--version", "1", "--json"),
      ]);
    const summary = JSON.parse(summaryRun.stdout);
    assert.equal(summary.count, 20);
    assert.equal(summary.failureCount, 2);
    assert.equal(summary.skippedCount, 1);
    assert.equal(summary.durationMsMin, 10);
    assert.equal(JSON.parse(email.stdout).count, 12);
    assert.match(human.stdout, /^count\s+8$/m);
    assert.equal(unsupported.code, 2);
    assert.match(unsupported.stderr, /UNSUPPORTED_QUERY/);
    const series = JSON.parse(seriesRun.stdout);
    assert.equal(
      series.reduce((sum: number, p: { count: number }) => sum + p.count, 0),
      20,
    );
    assert.equal(seriesTable.code, 0);
    assert.match(seriesTable.stdout, /^bucket\s+count/m);
    const compare = JSON.parse(compareRun.stdout);
    assert.equal(compare.before.count, 0);
    assert.equal(compare.after.count, 20);
    assert.equal(compare.delta.count, 20);
    assert.equal(compare.ratio.count, null);
    const breakdown = JSON.parse(breakdownRun.stdout);
    assert.deepEqual(
      breakdown.rows.map((r: { values: { queue: string }; summary: { count: number } }) => [
        r.values.queue,
        r.summary.count,
      ]),
      [
        ["email", 12],
        ["sms", 8],
      ],
    );
    assert.deepEqual(JSON.parse(definitionRun.stdout).indexes, [[], ["queue"]]);

    const cleanup = await tally(["meter", "cleanup", "--before", "+1d", "--events", "jobs", "--json"], { cwd });
    assert.equal(cleanup.code, 0, cleanup.stderr);
    assert.ok(JSON.parse(cleanup.stdout).rollupKeysDeleted > 0);
    const after = JSON.parse((await tally(["meter", "summary", "jobs", "--version", "1", "--json"], { cwd })).stdout);
    assert.equal(after.count, 0);
  });

  it("reads configuration from tally.config.json, overridden by env and flags", async () => {
    const dir = tempDir();
    await writeEvents(join(dir, "elsewhere", "meter"), "jobs", sampleEvents(), { namespace: "shop" });
    writeFileSync(
      join(dir, "tally.config.json"),
      JSON.stringify({ namespace: "shop", dataDir: "elsewhere", db: "data/shop.db" }),
    );
    const { mkdirSync } = await import("node:fs");
    mkdirSync(join(dir, "data"));
    const processed = await tally(["meter", "process", "jobs", "--version", "1", "--index", "queue", "--json"], {
      cwd: dir,
    });
    assert.equal(processed.code, 0, processed.stderr);
    assert.equal(JSON.parse(processed.stdout).processed, 20);
    assert.ok(existsSync(join(dir, "data", "shop.db")), "the config file's db path, relative to the file");

    const viaEnv = await tally(["meter", "summary", "jobs", "--version", "1", "--json"], {
      cwd: dir,
      env: { TALLY_NAMESPACE: "other" },
    });
    assert.equal(viaEnv.code, 1, "env namespace wins over the file: no such report there");
    const viaFlag = await tally(["meter", "summary", "jobs", "--version", "1", "--json", "--namespace", "shop"], {
      cwd: dir,
      env: { TALLY_NAMESPACE: "other" },
    });
    assert.equal(JSON.parse(viaFlag.stdout).count, 20, "the flag wins over env");

    const rollups = await tally(["meter", "summary", "jobs", "--version", "1", "--json"], {
      cwd: dir,
      env: { TALLY_METER_ROLLUPS: `sqlite:${join(dir, "empty.db")}` },
    });
    assert.equal(rollups.code, 1, "TALLY_METER_ROLLUPS points at an empty database");
  });
});

describe("tally counter", () => {
  it("records, queries, limits, exports and imports", async () => {
    // A pinned clock: the assertions below read "last minute", which a real minute boundary would split.
    const cwd = tempDir();
    const env = { TALLY_NOW: "2025-03-04T10:20:30Z" };
    assert.equal((await tally(["counter", "record", "api.calls", "--count", "3"], { cwd, env })).code, 0);
    assert.equal((await tally(["counter", "record", "api.calls"], { cwd, env })).code, 0);
    const query = JSON.parse((await tally(["counter", "query", "api.calls", "--json"], { cwd, env })).stdout);
    assert.equal(query[0].lastHour, 4);
    assert.equal(query[0].ever, 4);
    const table = await tally(["counter", "query", "api.calls", "--last", "5", "--unit", "minutes"], { cwd, env });
    assert.match(table.stdout, /api\.calls\s+4\s+4/);

    const allowed = JSON.parse(
      (
        await tally(["counter", "limit", "api.calls", "--at-most", "5", "--per", "1h", "--record", "--json"], {
          cwd,
          env,
        })
      ).stdout,
    );
    assert.equal(allowed.ok, true);
    assert.equal(allowed.recorded, 1);
    assert.deepEqual(allowed.usage, { count: 5, limit: 5, remaining: 0 });
    const denied = await tally(
      ["counter", "limit", "api.calls", "--at-most", "5", "--per", "1h", "--fail-on-deny", "--json"],
      {
        cwd,
        env,
      },
    );
    assert.equal(denied.code, 3, "--fail-on-deny exits 3 on a denial");
    assert.equal(JSON.parse(denied.stdout).ok, false);

    const exportFile = join(cwd, "counters.json");
    const exported = await tally(["counter", "export", "--out", exportFile, "--json"], { cwd, env });
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(JSON.parse(exported.stdout).exported, 1);
    assert.equal(JSON.parse(readFileSync(exportFile, "utf8")).format, "tally.counter.export");

    const other = join(cwd, "other.db");
    const imported = await tally(["counter", "import", exportFile, "--mode", "merge", "--progress"], {
      cwd,
      env: { ...env, TALLY_DB: other },
    });
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stderr, /imported 1/);
    const copy = JSON.parse(
      (await tally(["counter", "query", "api.calls", "--json"], { cwd, env: { ...env, TALLY_DB: other } })).stdout,
    );
    assert.equal(copy[0].ever, 5);

    const bad = await tally(["counter", "import", join(cwd, "nope.json")], { cwd, env });
    assert.equal(bad.code, 2);
  });
});

describe("tally tracker", () => {
  it("adds, tracks, lists, resets and removes trackers", async () => {
    const cwd = tempDir();
    const definition = JSON.stringify({
      name: "three-sales",
      conditions: [{ path: "kind", op: "eq", value: "sale" }],
      target: [1, 3],
    });
    const added = await tally(["tracker", "add", "shop", definition, "--json"], { cwd });
    assert.equal(added.code, 0, added.stderr);
    assert.equal(JSON.parse(added.stdout).name, "three-sales");

    const dup = await tally(["tracker", "add", "shop", definition], { cwd });
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /CONFLICTING_NAME/);

    const first = JSON.parse((await tally(["tracker", "track", "shop", "kind=sale", "--json"], { cwd })).stdout);
    assert.equal(first.ok, true);
    assert.deepEqual(
      first.dirtied.map((t: { name: string }) => t.name),
      ["three-sales"],
    );
    await tally(["tracker", "track", "shop", "--data", '{"kind":"sale"}', "--event-id", "e2"], { cwd });
    const dupEvent = JSON.parse(
      (await tally(["tracker", "track", "shop", "kind=sale", "--event-id", "e2", "--json"], { cwd })).stdout,
    );
    assert.equal(dupEvent.duplicate, true);

    const list = await tally(["tracker", "list", "shop"], { cwd });
    assert.match(list.stdout, /three-sales\s+count\s+2\s+3\s+2/);

    const reset = JSON.parse(
      (await tally(["tracker", "reset", "shop", "three-sales", "--policy", "1", "--json"], { cwd })).stdout,
    );
    assert.equal(reset.progress, 0);

    const missing = await tally(["tracker", "reset", "shop", "nope"], { cwd });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /TRACKER_NOT_FOUND/);

    const removed = JSON.parse((await tally(["tracker", "remove", "shop", "--json"], { cwd })).stdout);
    assert.equal(removed.removed, 1);
  });
});
