/**
 * What every leaf command shares: the store and output flags, repeatable-flag collectors, and the
 * context an action receives (resolved config, output, one `now` for the whole command). Each
 * command file only declares its flags and calls the module's public API.
 */

import type { Command } from "commander";
import { type ConfigFlags, resolveConfig, type TallyConfig } from "./config.ts";
import { makeOutput, type Output } from "./output.ts";

export interface CommandContext {
  config: TallyConfig;
  out: Output;
  /** One instant for the whole command, so `-1h` and `now` agree across flags. */
  now: number;
  /** Whether progress is drawn: `--progress` forces it, `--no-progress` hides it, else a TTY decides. */
  progress: boolean | undefined;
}

/** Adds the configuration flags (stores, namespace, config file) and `--json`. */
export function withStoreOptions(command: Command): Command {
  return command
    .option("--json", "print one JSON document instead of a table")
    .option("--config <file>", "config file (default ./tally.config.json when present; env TALLY_CONFIG)")
    .option("--namespace <ns>", "meter namespace (default tally; env TALLY_NAMESPACE)")
    .option("--db <path>", "SQLite file for counters, trackers and default rollups (default ./tally.db; env TALLY_DB)")
    .option("--data-dir <dir>", "folder for the file stream (default ./tally-data; env TALLY_DATA_DIR)")
    .option("--stream <spec>", "meter stream: file:PATH | redis://… | postgres://… (env TALLY_METER_STREAM)")
    .option("--rollups <spec>", "meter rollups: sqlite:PATH | postgres://… | redis://… (env TALLY_METER_ROLLUPS)");
}

/** Adds `--progress` / `--no-progress`. */
export function withProgressOption(command: Command): Command {
  return command
    .option("--progress", "draw progress on stderr even when it is not a TTY")
    .option("--no-progress", "never draw progress");
}

/** Collector for repeatable flags (`--by a=1 --by b=2`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Builds the context from a leaf command's parsed options. */
export function contextFor(options: Record<string, unknown>): CommandContext {
  const flags: ConfigFlags = {
    config: options.config as string | undefined,
    namespace: options.namespace as string | undefined,
    db: options.db as string | undefined,
    dataDir: options.dataDir as string | undefined,
    stream: options.stream as string | undefined,
    rollups: options.rollups as string | undefined,
    host: options.host as string | undefined,
    port: options.port as string | undefined,
  };
  // commander sets `progress` true for --progress, false for --no-progress, and true by default
  // when both exist; getOptionValueSource tells them apart, so the command passes it explicitly.
  const progress = options.progressExplicit as boolean | undefined;
  const config = resolveConfig(flags);
  return { config, out: makeOutput(options.json === true), now: config.clock.now(), progress };
}

/** A leaf command's parsed flags (camelCased by commander). */
export type Options = Record<string, unknown>;

/** Wraps an action so it receives the context; commander passes the options before the command. */
export function action<A extends unknown[]>(
  run: (ctx: CommandContext, options: Options, ...args: A) => Promise<void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const options = command.opts();
    const source = command.getOptionValueSource("progress");
    const explicit = source === "cli" ? (options.progress as boolean) : undefined;
    const positional = args.slice(0, -2) as A;
    await run(contextFor({ ...options, progressExplicit: explicit }), options, ...positional);
  };
}
