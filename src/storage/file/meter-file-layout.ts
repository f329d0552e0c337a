/**
 * Where `FileStream` keeps things: `<path>/<dir(ns)>/<dir(name)>/{logs,processing,leases,quarantine}/`.
 * `dir(x)` is readable and collision-free: lower-cased, runs of `[^a-z0-9_-]` turned into "-",
 * trimmed, cut to 80 characters, then "-" and 16 hex of sha256(x). Log files are named
 * `<YYYYMMDDHHMM>-<host>-<pid>-<threadId>-<8hex>.jsonl` by their UTC write minute, so sorting names
 * sorts files oldest first.
 */

import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { join } from "node:path";

export function dirName(value: string): string {
  const readable =
    value
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 80) || "event";
  return `${readable}-${createHash("sha256").update(value).digest("hex").slice(0, 16)}`;
}

export interface StreamDirs {
  root: string;
  logs: string;
  processing: string;
  leases: string;
  quarantine: string;
}

export function streamDirs(path: string, namespace: string, name: string): StreamDirs {
  const root = join(path, dirName(namespace), dirName(name));
  return {
    root,
    logs: join(root, "logs"),
    processing: join(root, "processing"),
    leases: join(root, "leases"),
    quarantine: join(root, "quarantine"),
  };
}

export const HOST = hostname().replace(/[^A-Za-z0-9_.-]/g, "-") || "host";

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/** `YYYYMMDDHHMM` of a UTC instant. */
export function minuteStamp(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}`;
}

/** `YYYYMMDDHHMMSSmmm` of a UTC instant. */
export function msStamp(ms: number): string {
  const d = new Date(ms);
  return `${minuteStamp(ms)}${pad(d.getUTCSeconds())}${pad(d.getUTCMilliseconds(), 3)}`;
}

function parseStamp(text: string): number | null {
  if (!/^\d{12}(\d{5})?$/.test(text)) return null;
  const n = (from: number, len: number): number => Number(text.slice(from, from + len));
  return Date.UTC(
    n(0, 4),
    n(4, 2) - 1,
    n(6, 2),
    n(8, 2),
    n(10, 2),
    text.length > 12 ? n(12, 2) : 0,
    text.length > 12 ? n(14, 3) : 0,
  );
}

/** The write minute's start of a log file name, or null for a foreign file. */
export function fileMinute(file: string): number | null {
  if (!file.endsWith(".jsonl")) return null;
  return parseStamp(file.slice(0, 12));
}

/** When a quarantine file (`<file>.q-<YYYYMMDDHHMMSSmmm>-<8hex>.jsonl` or its `.meta.json`) was made. */
export function quarantineTime(file: string): number | null {
  const match = /\.q-(\d{17})-[0-9a-f]{8}\.(?:jsonl|meta\.json)$/.exec(file);
  return match === null ? null : parseStamp(match[1] as string);
}
