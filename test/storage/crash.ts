/**
 * Shared body of the per-adapter crash tests: start the crash writer, SIGKILL it at a random
 * moment after a few saves, then check every key holds a whole version no older than the last
 * acknowledged save and no newer than the one in flight.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { Storage } from "../../src/storage/storage.ts";
import { startChild } from "../support/child.ts";
import { crashVersion } from "./fixtures/crash-values.ts";

const writer = fileURLToPath(new URL("./fixtures/crash-writer.ts", import.meta.url));

/** Runs the writer until it has acknowledged `after` saves, kills it, and returns the last acknowledged k. */
export async function killWriterMidWrite(args: readonly string[], after = 2): Promise<number> {
  const child = startChild(writer, args);
  let stdout = "";
  let stderr = "";
  const killed = new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes(`saved ${after}\n`) && !child.killed) {
        // A random moment inside the next write (a 2 MB save takes several ms).
        setTimeout(() => child.kill("SIGKILL"), Math.floor(Math.random() * 15));
      }
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (_code, signal) => {
      if (signal === "SIGKILL") resolve();
      else reject(new Error(`crash writer exited by itself (${String(signal)}): ${stderr.slice(-2000)}`));
    });
  });
  await killed;
  const acknowledged = [...stdout.matchAll(/saved (\d+)\n/g)].map((m) => Number(m[1]));
  const last = acknowledged.at(-1);
  assert.ok(last !== undefined && last >= after, `the writer acknowledged ${String(last)} saves`);
  return last;
}

/** Every crash key holds a whole version k with last <= k <= last + 1; a batch holds one version. */
export async function assertWholeVersions(storage: Storage, last: number): Promise<void> {
  const big = await storage.load("big");
  assert.ok(big !== undefined, "the last acknowledged save survived");
  const version = crashVersion(big);
  assert.equal(typeof version, "number", String(version));
  assert.ok((version as number) >= last && (version as number) <= last + 1, `version ${version}, last ack ${last}`);
  if (storage.saveMany === undefined) return;
  const batch: number[] = [];
  for (const key of ["b1", "b2", "b3"]) {
    const value = await storage.load(key);
    assert.ok(value !== undefined, `${key} survived`);
    const k = crashVersion(value);
    assert.equal(typeof k, "number", `${key}: ${String(k)}`);
    assert.ok((k as number) >= last && (k as number) <= last + 1, `${key} version ${k}, last ack ${last}`);
    batch.push(k as number);
  }
  if (storage.capabilities?.atomicBatch === true) {
    assert.ok(
      batch.every((k) => k === batch[0]),
      `an atomic batch is all-or-nothing: ${batch.join(", ")}`,
    );
  }
}
