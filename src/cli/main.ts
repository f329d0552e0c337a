#!/usr/bin/env node
// The `tally` binary: parse the command line, dispatch, exit with the command's code.
import { runCli } from "./program.ts";

const code = await runCli(process.argv.slice(2));
process.exitCode = code;
// A store that forgot to unref a timer must not keep a finished command alive.
setTimeout(() => process.exit(code), 2_000).unref();
