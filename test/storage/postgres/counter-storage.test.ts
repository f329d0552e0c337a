import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pg from "pg";
import { isTallyError } from "../../../src/errors.ts";
import { PostgresStorage } from "../../../src/storage/postgres/counter-storage.ts";
import { storageContract } from "../../../src/testing/counter-storage-contract.ts";
import { usePostgres } from "../../support/services.ts";
import { assertWholeVersions, killWriterMidWrite } from "../crash.ts";

const isStorageFailed = (e: unknown): boolean =>
  isTallyError(e) && e.code === "STORAGE_FAILED" && e.cause instanceof Error;

storageContract("PostgresStorage", async (t) => {
  const postgres = await usePostgres(t);
  if (postgres === undefined) return undefined;
  const storage = new PostgresStorage(postgres.pool);
  await storage.migrate();
  return storage;
});

describe("PostgresStorage", () => {
  it("creates the spec's table idempotently and separates namespaces", async (t) => {
    const postgres = await usePostgres(t);
    if (postgres === undefined) return;
    const a = new PostgresStorage(postgres.pool, { namespace: "a" });
    const b = new PostgresStorage(postgres.pool, { namespace: "b" });
    await a.migrate();
    await b.migrate();
    await a.save("k", Uint8Array.of(1));
    await b.saveMany([["k", Uint8Array.of(2)]]);
    assert.deepEqual(await a.load("k"), Uint8Array.of(1));
    assert.deepEqual(await b.load("k"), Uint8Array.of(2));
    await a.delete("k");
    assert.deepEqual(await b.listKeys(), ["k"]);
    const { rows } = await postgres.pool.query(
      "select column_name, data_type from information_schema.columns where table_name = 'tally_counter_events' and table_schema = $1 order by ordinal_position",
      [postgres.schema],
    );
    assert.deepEqual(
      rows.map((r) => `${r.column_name} ${r.data_type}`),
      ["namespace text", "key text", "value bytea", "updated_at timestamp with time zone"],
    );
  });

  it("writes a whole batch in one statement or nothing", async (t) => {
    const postgres = await usePostgres(t);
    if (postgres === undefined) return;
    const storage = new PostgresStorage(postgres.pool, { table: `${postgres.schema}.counters` });
    await storage.migrate();
    await storage.save("a", Uint8Array.of(1));
    await postgres.pool.query(`
      create function refuse() returns trigger language plpgsql as $$
      begin if new.key = 'poison' then raise exception 'refused'; end if; return new; end $$;
      create trigger refuse before insert or update on counters for each row execute function refuse();`);
    await assert.rejects(
      storage.saveMany([
        ["a", Uint8Array.of(2)],
        ["b", Uint8Array.of(2)],
        ["poison", Uint8Array.of(2)],
      ]),
      (e) => isStorageFailed(e) && /none written/.test((e as Error).message),
    );
    assert.deepEqual(await storage.load("a"), Uint8Array.of(1));
    assert.deepEqual(await storage.listKeys(), ["a"]);
  });

  it("rejects bad table names and clients", () => {
    assert.throws(
      () => new PostgresStorage({ query: async () => ({ rows: [] }) }, { table: "x; drop table y" }),
      (e) => isTallyError(e) && e.code === "INVALID_CONFIG",
    );
    assert.throws(
      () => new PostgresStorage({} as never),
      (e) => isTallyError(e) && e.code === "INVALID_CONFIG",
    );
  });

  it("fails with STORAGE_FAILED once the pool is ended", async (t) => {
    const postgres = await usePostgres(t);
    if (postgres === undefined) return;
    const pool = new pg.Pool({ connectionString: postgres.urlWithSchema, max: 1 });
    const storage = new PostgresStorage(pool);
    await storage.migrate();
    await pool.end();
    for (const attempt of [
      storage.migrate(),
      storage.save("k", Uint8Array.of(1)),
      storage.saveMany([["k", Uint8Array.of(1)]]),
      storage.load("k"),
      storage.delete("k"),
      storage.listKeys(),
    ]) {
      await assert.rejects(attempt, isStorageFailed);
    }
  });

  it("keeps the old or the new row when the writer is killed mid-write", async (t) => {
    const postgres = await usePostgres(t);
    if (postgres === undefined) return;
    const last = await killWriterMidWrite(["postgres", postgres.urlWithSchema]);
    const storage = new PostgresStorage(postgres.pool);
    await assertWholeVersions(storage, last);
  });
});
