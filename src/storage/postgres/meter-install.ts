/**
 * Installing and checking the meter's PostgreSQL schema (`meter-schema.sql`), shared by
 * `PostgresRollups` and `PostgresStream`. Installing runs every statement under a transaction-scoped
 * advisory lock, so hosts starting together do not collide on `CREATE … IF NOT EXISTS`; a
 * `<p>_meta` schema_version other than this build's is `SCHEMA_MISMATCH`, except versions 1 and 2,
 * which installing upgrades in place (versions 2 and 3 only add or replace functions).
 */

import { readFileSync } from "node:fs";
import { TallyError } from "../../errors.ts";
import { checkTablePrefix, inTransaction, type PgPoolLike, sqlState, unavailable } from "./meter-pool.ts";

export const SCHEMA_VERSION = "3";
/** Versions that installing this build upgrades in place. */
const UPGRADABLE = new Set(["1", "2"]);
const SCHEMA_SQL = readFileSync(new URL("./meter-schema.sql", import.meta.url), "utf8");

/** The schema SQL for a table prefix (what `tally postgres schema` prints). */
export function meterSchemaSql(options: { tablePrefix?: string } = {}): string {
  const prefix = checkTablePrefix(options.tablePrefix ?? "tally_meter", "meterSchemaSql");
  return SCHEMA_SQL.replaceAll("{{p}}", prefix);
}

class Upgradable extends Error {}

async function checkVersion(
  db: Pick<PgPoolLike, "query">,
  prefix: string,
  what: string,
  allowUpgrade = false,
): Promise<void> {
  const { rows } = await db.query(`SELECT value FROM ${prefix}_meta WHERE key = 'schema_version'`);
  const version = (rows[0] as { value?: string } | undefined)?.value;
  if (version === SCHEMA_VERSION) return;
  if (allowUpgrade && version !== undefined && UPGRADABLE.has(version)) throw new Upgradable();
  const hint =
    version !== undefined && UPGRADABLE.has(version)
      ? "run `tally postgres install` (or install()) to upgrade them in place"
      : "use another tablePrefix or migrate";
  throw new TallyError(
    "SCHEMA_MISMATCH",
    `${what}: tables ${prefix}_* have schema version ${String(version)}, this build needs ${SCHEMA_VERSION}; ${hint}`,
  );
}

/** Creates the tables and functions if missing (idempotent; safe from several hosts at once). */
export async function installMeterSchema(pool: PgPoolLike, prefix: string, what: string): Promise<void> {
  try {
    await inTransaction(pool, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`tally:${prefix}:install`]);
      await client.query(meterSchemaSql({ tablePrefix: prefix }));
      await checkVersion(client, prefix, what);
    });
  } catch (error) {
    throw unavailable(`${what}: could not install the schema (tables ${prefix}_*)`, error);
  }
}

/** Checks the installed version; installs when the tables are missing and `autoInstall` is on. */
export async function ensureMeterSchema(
  pool: PgPoolLike,
  prefix: string,
  autoInstall: boolean,
  what: string,
): Promise<void> {
  try {
    await checkVersion(pool, prefix, what, autoInstall);
  } catch (error) {
    if (error instanceof Upgradable) return installMeterSchema(pool, prefix, what);
    if (sqlState(error) !== "42P01") throw unavailable(`${what}: could not read ${prefix}_meta`, error);
    if (!autoInstall) {
      throw new TallyError(
        "NOT_CONFIGURED",
        `${what}: tables ${prefix}_* are missing; run \`tally postgres install\` or call install()`,
        { cause: error },
      );
    }
    await installMeterSchema(pool, prefix, what);
  }
}
