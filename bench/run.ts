/**
 * `npm run bench [filter]`: runs every bench/*.bench.ts (or those whose name contains the filter),
 * each in its own process, prints one table and writes bench/results.json with the machine.
 */

import { spawnSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BENCH_PREFIX, type BenchRow, human } from "./harness.ts";

const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2] ?? "";
const files = readdirSync(here)
  .filter((name) => name.endsWith(".bench.ts") && name.includes(filter))
  .sort();

const results: Array<{ file: string; rows: BenchRow[]; error?: string }> = [];
for (const file of files) {
  process.stderr.write(`running ${file} …\n`);
  const child = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", join(here, file)], {
    encoding: "utf8",
    env: process.env,
    maxBuffer: 64 * 1024 * 1024,
  });
  const line = child.stdout.split("\n").find((l) => l.startsWith(BENCH_PREFIX));
  if (child.status !== 0 || line === undefined) {
    const error = `exit ${child.status}: ${child.stderr.trim().split("\n").slice(-5).join(" | ")}`;
    process.stderr.write(`  failed: ${error}\n`);
    results.push({ file, rows: [], error });
    continue;
  }
  results.push(JSON.parse(line.slice(BENCH_PREFIX.length)) as { file: string; rows: BenchRow[] });
}

const table = results.flatMap((r) =>
  r.rows.map((row) => ({
    file: r.file,
    measure: row.name,
    value: `${human(row.value)} ${row.unit}`,
    target: row.target ?? "",
    met: row.met === undefined ? "" : row.met ? "yes" : "NO",
    note: row.note ?? "",
  })),
);
console.table(table);

const cpu = cpus()[0];
const machine = {
  cpu: cpu?.model ?? "unknown",
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
};
const out = join(here, filter === "" ? "results.json" : `results.${filter}.json`);
writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), machine, results }, null, 2)}\n`);
console.log(`wrote ${out}`);
if (results.some((r) => r.error !== undefined)) process.exitCode = 1;
