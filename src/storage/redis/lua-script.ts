/**
 * A Lua script kept as a file beside the code, run with EVALSHA and re-sent with EVAL when the
 * server answers NOSCRIPT (after a restart, a failover or `SCRIPT FLUSH`). The SHA1 is computed
 * from the file when it is loaded, never hard-coded. Every key a script touches is passed in KEYS
 * (Cluster routes by the first one) and every argument as a string.
 */

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { RedisCommandRunner } from "./redis-client.ts";

export class LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;

  constructor(name: string, source: string) {
    this.name = name;
    this.source = source;
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  /** Loads `<file>` relative to `base` (pass `import.meta.url` of the module beside the script). */
  static fromFile(file: string, base: string | URL): LuaScript {
    return new LuaScript(file, readFileSync(new URL(file, base), "utf8"));
  }

  /**
   * One call: EVALSHA, and EVAL when the server answers NOSCRIPT. Not an async function, and the
   * command array is built once: this sits on the path of every limit check, where each promise hop
   * and copy of the arguments shows in a lone caller's round trip.
   */
  run(runner: RedisCommandRunner, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const command = this.command(keys);
    for (const arg of args) command.push(arg);
    const firstKey = keys[0] ?? "";
    return runner.run(command, firstKey).catch((error: unknown) => this.recover(runner, command, firstKey, error));
  }

  /**
   * The EVALSHA command of a call with `keys`, for a caller that pushes the arguments itself and
   * sends it with `runner.run`, handing a rejection to `recover` (one promise hop fewer than `run`).
   * The command name is lower case: ioredis lower-cases a name on each of its checks, a no-op then.
   */
  command(keys: readonly string[]): string[] {
    const command = ["evalsha", this.sha, String(keys.length)];
    for (const key of keys) command.push(key);
    return command;
  }

  /** After `runner.run(command)` rejected with `error`: the same call as EVAL on NOSCRIPT, else `error`. */
  recover(runner: RedisCommandRunner, command: string[], firstKey: string, error: unknown): Promise<unknown> {
    if (!isNoScript(error)) return Promise.reject(error);
    command[0] = "eval";
    command[1] = this.source;
    return runner.run(command, firstKey);
  }
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.includes("NOSCRIPT");
}
