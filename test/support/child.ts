/**
 * Child processes for crash and multi-process tests: run a TypeScript script through tsx and
 * collect its exit code and output. Crash tests make the child die at the step that matters
 * (`process.exit` inside a hook, or SIGKILL from the parent) and then check what survived.
 */

import { type ChildProcess, spawn } from "node:child_process";

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ChildOptions {
  env?: Record<string, string>;
  /** Kill the child (SIGKILL) after this many ms; the result then has signal "SIGKILL". */
  killAfterMs?: number;
  /** Kill the child (SIGKILL) as soon as its stdout contains this text. */
  killOnOutput?: string;
}

export function startChild(script: string, args: readonly string[] = [], options: ChildOptions = {}): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", script, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

export function runChild(
  script: string,
  args: readonly string[] = [],
  options: ChildOptions = {},
): Promise<ChildResult> {
  const child = startChild(script, args, options);
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    if (options.killAfterMs !== undefined) timer = setTimeout(() => child.kill("SIGKILL"), options.killAfterMs);
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (options.killOnOutput !== undefined && stdout.includes(options.killOnOutput)) child.kill("SIGKILL");
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
