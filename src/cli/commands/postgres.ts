/**
 * `tally postgres schema|install`: print or install the meter's PostgreSQL schema. The adapter is
 * loaded from `tally/postgres` only here, so other commands never load `pg`.
 */

import type { Command } from "commander";
import { TallyError } from "../../errors.ts";
import { action, withStoreOptions } from "../command-kit.ts";

const stores = () => import("../stores.ts");

export function registerPostgres(program: Command): void {
  const postgres = program.command("postgres").description("PostgreSQL schema for the meter rollups");

  withStoreOptions(
    postgres
      .command("schema")
      .description("print the schema SQL")
      .option("--table-prefix <p>", "table name prefix (default tally_meter)"),
  ).action(
    action(async (ctx, options) => {
      const PostgresRollups = (await (await stores()).optionalExport("postgres", "PostgresRollups")) as unknown as {
        schemaSql(prefix?: string): string;
      };
      const sql = PostgresRollups.schemaSql((options.tablePrefix as string | undefined) ?? "tally_meter");
      ctx.out.result({ sql }, () => sql);
    }),
  );

  withStoreOptions(
    postgres
      .command("install")
      .description("create the schema (idempotent)")
      .option("--url <url>", "database URL (default env TALLY_POSTGRES_URL or DATABASE_URL)")
      .option("--table-prefix <p>", "table name prefix (default tally_meter)"),
  ).action(
    action(async (ctx, options) => {
      const url = (options.url as string | undefined) ?? ctx.config.postgresUrl;
      if (url === null || url === undefined || url === "") {
        throw new TallyError("NOT_CONFIGURED", "missing database URL; pass --url or set TALLY_POSTGRES_URL");
      }
      const tablePrefix = (options.tablePrefix as string | undefined) ?? "tally_meter";
      const { optionalExport, postgresPool } = await stores();
      const PostgresRollups = await optionalExport("postgres", "PostgresRollups");
      const closers: (() => Promise<void>)[] = [];
      try {
        const pool = await postgresPool(url, closers);
        const rollups = new PostgresRollups({ pool, tablePrefix }) as {
          install(): Promise<void>;
          close(): Promise<void>;
        };
        await rollups.install();
        await rollups.close();
      } finally {
        for (const close of closers) await close();
      }
      const doc = { installed: true, tablePrefix };
      ctx.out.result(doc, () => `installed the meter schema (tables ${tablePrefix}_*)`);
    }),
  );
}
