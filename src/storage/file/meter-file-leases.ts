/**
 * Lease files, because Node has no `flock`. A lease `leases/<file>.lease` is created with `O_EXCL`
 * (`open(…, "wx")`), so exactly one reader creates it. Its mtime is the holder's heartbeat, written
 * from the stream clock (so tests move it with a TestClock); a lease whose mtime lags the clock by
 * more than `leaseTtl` is stale. A stale lease is taken over by renaming it to a unique tombstone
 * (one rename wins), checking the tombstone really was stale, deleting it and creating the lease
 * again with `O_EXCL`.
 */

import { randomBytes } from "node:crypto";
import { link, readFile, rename, stat, unlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HOST } from "./meter-file-layout.ts";

export interface LeaseFile {
  path: string;
  token: string;
}

const isCode = (error: unknown, code: string): boolean => (error as NodeJS.ErrnoException | null)?.code === code;

export function leasePath(leasesDir: string, file: string): string {
  return join(leasesDir, `${file}.lease`);
}

export function progressPath(leasesDir: string, file: string): string {
  return join(leasesDir, `${file}.progress`);
}

/** Creates the lease with O_EXCL; null when someone else holds it. */
export async function createLease(path: string, reader: string, now: number): Promise<LeaseFile | null> {
  const token = randomBytes(8).toString("hex");
  try {
    await writeFile(path, JSON.stringify({ reader, pid: process.pid, host: HOST, token }), { flag: "wx" });
  } catch (error) {
    if (isCode(error, "EEXIST")) return null;
    throw error;
  }
  await utimes(path, now / 1000, now / 1000).catch(() => {});
  return { path, token };
}

/** The lease's age by the stream clock, or null when there is no lease. */
export async function leaseAge(path: string, now: number): Promise<number | null> {
  try {
    return now - (await stat(path)).mtimeMs;
  } catch (error) {
    if (isCode(error, "ENOENT")) return null;
    throw error;
  }
}

/** Takes over a stale lease; null when another reader won or the lease turned out fresh. */
export async function takeOverLease(
  path: string,
  reader: string,
  now: number,
  ttlMs: number,
): Promise<LeaseFile | null> {
  const tomb = `${path}.${randomBytes(4).toString("hex")}.tomb`;
  try {
    await rename(path, tomb);
  } catch (error) {
    if (isCode(error, "ENOENT")) return createLease(path, reader, now);
    throw error;
  }
  const age = now - (await stat(tomb)).mtimeMs;
  if (age <= ttlMs) {
    // We renamed a lease someone refreshed (or just created) after our check: put it back.
    await link(tomb, path).catch(() => {});
    await unlink(tomb).catch(() => {});
    return null;
  }
  await unlink(tomb).catch(() => {});
  return createLease(path, reader, now);
}

/** Whether the lease file still carries our token. */
export async function stillHeld(lease: LeaseFile): Promise<boolean> {
  try {
    const body = JSON.parse(await readFile(lease.path, "utf8")) as { token?: unknown };
    return body.token === lease.token;
  } catch {
    return false;
  }
}

/** Refreshes the heartbeat; false when the lease is gone or no longer ours. */
export async function touchLease(lease: LeaseFile, now: number): Promise<boolean> {
  if (!(await stillHeld(lease))) return false;
  await utimes(lease.path, now / 1000, now / 1000);
  return true;
}

/** Deletes the lease when it is still ours. */
export async function dropLease(lease: LeaseFile): Promise<void> {
  if (await stillHeld(lease)) await unlink(lease.path).catch(() => {});
}
