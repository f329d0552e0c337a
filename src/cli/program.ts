/**
 * Builds the `tally` command tree and runs it, mapping every outcome to a shell exit code:
 * 0 success (help included), 1 a runtime or store error (message on stderr), 2 a usage error
 * (unknown command or flag, missing or bad value). Commands set `process.exitCode` for their own
 * non-error outcomes (`counter limit --fail-on-deny` exits 3).
 */

import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { registerCounter } from "./commands/counter.ts";
import { registerMeter } from "./commands/meter.ts";
import { registerPostgres } from "./commands/postgres.ts";
import { registerServe } from "./commands/serve.ts";
import { registerTracker } from "./commands/tracker.ts";
import { describeError, EXIT_OK, EXIT_USAGE, exitCodeFor } from "./usage-error.ts";

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

/** Where commander writes help (stdout) and its own errors (stderr); tests capture them. */
export interface CliIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

export function buildProgram(io: CliIo = {}): Command {
  const stderr = io.stderr ?? ((t: string) => process.stderr.write(t));
  const stdout = io.stdout ?? ((t: string) => process.stdout.write(t));
  const program = new Command("tally");
  // Settings are copied to subcommands when they are created, so they come first.
  program
    .exitOverride()
    .configureOutput({ writeOut: stdout, writeErr: stderr, outputError: (text, write) => write(text) })
    .showHelpAfterError("(run with --help for usage)")
    .enablePositionalOptions()
    .version(packageVersion(), "-V, --version", "print the tally version")
    .description("count what your application does over time: meter reports, counters, trackers, a dashboard")
    .addHelpText(
      "after",
      `
Configuration: flags, then env (TALLY_METER_STREAM, TALLY_METER_ROLLUPS, TALLY_NAMESPACE,
TALLY_POSTGRES_URL, DATABASE_URL, TALLY_REDIS_URL, TALLY_DB, TALLY_DATA_DIR, PORT), then
./tally.config.json. With none: ./tally.db (SQLite) and ./tally-data/ (file stream).
Exit codes: 0 ok, 1 runtime or store error, 2 usage error.`,
    );
  registerServe(program);
  registerMeter(program);
  registerPostgres(program);
  registerCounter(program);
  registerTracker(program);
  return program;
}

/** Parses and runs one command line (without the node and script paths); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = {}): Promise<number> {
  const stderr = io.stderr ?? ((t: string) => process.stderr.write(t));
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return EXIT_OK;
      if (error.code === "commander.help") return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
      return EXIT_USAGE; // unknown command or option, missing argument: commander already printed why
    }
    const code = exitCodeFor(error);
    stderr(`${describeError(error)}\n`);
    if (code === EXIT_USAGE) stderr("(run with --help for usage)\n");
    return code;
  }
}
