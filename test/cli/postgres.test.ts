import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { usePostgres } from "../support/services.ts";
import { ensureBuilt, tally } from "./fixtures/built-cli.ts";
import { sampleEvents, writeEvents } from "./fixtures/meter-events.ts";

const dirs: string[] = [];
before(async () => {
  await ensureBuilt();
});
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

it("postgres install without a URL exits 1 naming the fix", async () => {
  const cwd = mkdtempSync(join(tmpdir(), "tally-pg-"));
  dirs.push(cwd);
  const result = await tally(["postgres", "install"], { cwd });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /missing database URL; pass --url or set TALLY_POSTGRES_URL/);
});

it("prints the schema, installs it, and processes and reports into PostgreSQL rollups", async (t) => {
  const pg = await usePostgres(t);
  if (!pg) return;
  const cwd = mkdtempSync(join(tmpdir(), "tally-pg-"));
  dirs.push(cwd);

  const schema = await tally(["postgres", "schema", "--table-prefix", "acme"], { cwd });
  assert.equal(schema.code, 0, schema.stderr);
  assert.match(schema.stdout, /acme_rollups/);

  const installed = await tally(["postgres", "install", "--json"], { cwd, env: { DATABASE_URL: pg.urlWithSchema } });
  assert.equal(installed.code, 0, installed.stderr);
  assert.equal(JSON.parse(installed.stdout).installed, true);
  const tables = await pg.pool.query("select table_name from information_schema.tables where table_schema = $1", [
    pg.schema,
  ]);
  assert.ok(tables.rows.some((r: { table_name: string }) => r.table_name === "tally_meter_rollups"));
  const again = await tally(["postgres", "install", "--url", pg.urlWithSchema], { cwd });
  assert.equal(again.code, 0, "install is idempotent");

  await writeEvents(join(cwd, "tally-data", "meter"), "jobs", sampleEvents());
  const env = { TALLY_METER_ROLLUPS: pg.urlWithSchema };
  const processed = await tally(["meter", "process", "jobs", "--version", "1", "--index", "queue", "--json"], {
    cwd,
    env,
  });
  assert.equal(processed.code, 0, processed.stderr);
  assert.equal(JSON.parse(processed.stdout).processed, 20);
  const summary = await tally(["meter", "summary", "jobs", "--version", "1", "--by", "queue=email", "--json"], {
    cwd,
    env,
  });
  assert.equal(JSON.parse(summary.stdout).count, 12);
  const rows = await pg.pool.query("select count(*)::int as n from tally_meter_rollups");
  assert.ok(rows.rows[0].n > 0, "the rollups are in PostgreSQL");
  const local = await tally(["meter", "summary", "jobs", "--version", "1", "--json"], { cwd });
  assert.equal(local.code, 1, "the embedded default has no such report: the flag really switched stores");
});
