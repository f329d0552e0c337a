/**
 * Lease files, because Node has no `flock`. A lease `leases/<file>.lease` is linked into place
 * from a draft (`link` fails on an existing name, like `O_EXCL`), so exactly one reader creates it.
 * Its mtime is the holder's heartbeat, written from the stream clock (so tests move it with a
 * TestClock); a lease whose mtime lags the clock by more than `leaseTtl` is stale. A stale lease is taken over by renaming it to a unique tombstone
 * (one rename wins), checking the tombstone really was stale, deleting it and creating the lease
 * again.
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

/**
 * Creates the lease; null when someone else holds it. It is written aside and linked into place
 * (`link` fails on an existing name, like O_EXCL), so it appears whole with its heartbeat already
 * set: no reader ever sees it empty, or dated by the wall clock instead of the stream clock, and a
 * claimer that dies meanwhile leaves at most a draft (swept by housekeeping), never a lease.
 */
export async function createLease(path: string, reader: string, now: number): Promise<LeaseFile | null> {
  const token = randomBytes(8).toString("hex");
  const draft = `${path}.${token}.draft`;
  await writeFile(draft, JSON.stringify({ reader, pid: process.pid, host: HOST, token }));
  try {
    await utimes(draft, now / 1000, now / 1000);
    await link(draft, path);
  } catch (error) {
    // ENOENT: another reader's housekeeping took the draft for a stale leftover (its mtime was the
    // wall clock's until utimes); no lease was made, so the file is simply tried again later.
    if (isCode(error, "EEXIST") || isCode(error, "ENOENT")) return null;
    throw error;
  } finally {
    await unlink(draft).catch(() => {});
  }
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
