/**
 * Configuration for the CLI and `tally serve`, resolved once per command.
 *
 * Precedence, highest first: command-line flags, environment variables, `tally.config.json`
 * (`--config FILE`, `TALLY_CONFIG`, or `./tally.config.json` when it exists), built-in defaults.
 * With nothing set, everything runs on the embedded default: `./tally.db` (SQLite) and the file
 * stream under `./tally-data/`. Paths in the config file are relative to the file's folder; paths
 * in flags and environment variables are relative to the working directory.
 */

import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { type Clock, systemClock, toInstant } from "../time/clock.ts";
import { toMs } from "../time/duration.ts";
import { UsageError } from "./usage-error.ts";

/** A meter report the server keeps processed (and the dashboard charts). */
export interface ReportConfig {
  name: string;
  version: number;
  /** Index param sets; omit both this and `intervals` to reuse the stored definition. */
  indexBy?: string[][];
  intervals?: { param: string; groupBy: string[] }[];
}

export interface TallyConfig {
  /** The config file that was read, or null. */
  configFile: string | null;
  namespace: string;
  /** SQLite file for counters, trackers and the default meter rollups. */
  db: string;
  dataDir: string;
  /** `file:PATH`, `redis://…` or `postgres://…`. */
  meterStream: string;
  /** `sqlite:PATH`, `postgres://…` or `redis://…`. */
  meterRollups: string;
  postgresUrl: string | null;
  redisUrl: string | null;
  host: string;
  port: number;
  /** How often `tally serve` processes pending meter events, in ms. */
  processInterval: number;
  reports: ReportConfig[];
  /** Tracker groups the dashboard lists (besides those used through the API). */
  trackerGroups: string[];
  /** The system clock, or a fixed instant from TALLY_NOW (reproducible runs: tests, replays). */
  clock: Clock;
}

/** Flags every command may pass (undefined = not given). */
export interface ConfigFlags {
  config?: string | undefined;
  namespace?: string | undefined;
  db?: string | undefined;
  dataDir?: string | undefined;
  stream?: string | undefined;
  rollups?: string | undefined;
  host?: string | undefined;
  port?: string | number | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

interface FileConfig {
  namespace?: unknown;
  db?: unknown;
  dataDir?: unknown;
  host?: unknown;
  port?: unknown;
  postgresUrl?: unknown;
  redisUrl?: unknown;
  meter?: { stream?: unknown; rollups?: unknown; processInterval?: unknown; reports?: unknown };
  trackers?: { groups?: unknown };
}

export function resolveConfig(flags: ConfigFlags = {}, env: Env = process.env, cwd = process.cwd()): TallyConfig {
  const fileFlag = flags.config ?? env.TALLY_CONFIG;
  const configPath = fileFlag !== undefined ? resolve(cwd, fileFlag) : resolve(cwd, "tally.config.json");
  if (fileFlag !== undefined && !existsSync(configPath)) {
    throw new UsageError(`config file ${configPath} does not exist; fix --config / TALLY_CONFIG or remove it`);
  }
  const file = existsSync(configPath) ? readConfigFile(configPath) : {};
  const fileDir = dirname(configPath);
  const fromFile = (value: unknown, field: string): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== "string" || value.trim() === "") {
      throw new UsageError(`${configPath}: "${field}" must be a non-empty string`);
    }
    return value;
  };
  const filePath = (value: unknown, field: string): string | undefined => {
    const text = fromFile(value, field);
    return text === undefined ? undefined : resolve(fileDir, text);
  };
  const cwdPath = (value: string | undefined): string | undefined =>
    value === undefined || value === "" ? undefined : resolve(cwd, value);

  const db = cwdPath(flags.db) ?? cwdPath(env.TALLY_DB) ?? filePath(file.db, "db") ?? resolve(cwd, "tally.db");
  const dataDir =
    cwdPath(flags.dataDir) ??
    cwdPath(env.TALLY_DATA_DIR) ??
    filePath(file.dataDir, "dataDir") ??
    resolve(cwd, "tally-data");
  const meterStream =
    storeSpec(flags.stream, "file", cwd) ??
    storeSpec(env.TALLY_METER_STREAM, "file", cwd) ??
    storeSpec(fromFile(file.meter?.stream, "meter.stream"), "file", fileDir) ??
    `file:${resolve(dataDir, "meter")}`;
  const meterRollups =
    storeSpec(flags.rollups, "sqlite", cwd) ??
    storeSpec(env.TALLY_METER_ROLLUPS, "sqlite", cwd) ??
    storeSpec(fromFile(file.meter?.rollups, "meter.rollups"), "sqlite", fileDir) ??
    `sqlite:${db}`;
  const namespace = nonBlank(flags.namespace) ?? nonBlank(env.TALLY_NAMESPACE) ?? fromFile(file.namespace, "namespace");
  const portText = flags.port ?? nonBlank(env.PORT) ?? file.port;
  const processText = nonBlank(env.TALLY_PROCESS_INTERVAL) ?? file.meter?.processInterval;

  return {
    configFile: existsSync(configPath) ? configPath : null,
    namespace: namespace ?? "tally",
    db,
    dataDir,
    meterStream,
    meterRollups,
    postgresUrl:
      nonBlank(env.TALLY_POSTGRES_URL) ??
      nonBlank(env.DATABASE_URL) ??
      fromFile(file.postgresUrl, "postgresUrl") ??
      null,
    redisUrl: nonBlank(env.TALLY_REDIS_URL) ?? fromFile(file.redisUrl, "redisUrl") ?? null,
    host: nonBlank(flags.host) ?? nonBlank(env.HOST) ?? fromFile(file.host, "host") ?? "127.0.0.1",
    port: portText === undefined ? 3000 : parsePort(portText),
    processInterval: processText === undefined ? 5_000 : parseInterval(processText),
    reports: parseReports(file.meter?.reports, configPath),
    trackerGroups: parseGroups(file.trackers?.groups, configPath),
    clock: clockFrom(nonBlank(env.TALLY_NOW)),
  };
}

/** TALLY_NOW pins "now" to one instant (RFC 3339 or epoch ms) for every store the command opens. */
function clockFrom(text: string | undefined): Clock {
  if (text === undefined) return systemClock;
  let at: number;
  try {
    at = toInstant(/^\d+$/.test(text) ? Number(text) : text, "TALLY_NOW");
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return { now: () => at };
}

function readConfigFile(path: string): FileConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new UsageError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`config file ${path} must hold a JSON object`);
  }
  return parsed as FileConfig;
}

function nonBlank(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

/** Normalises a store spec; a bare path gets the default scheme, and file paths become absolute. */
function storeSpec(value: string | undefined, defaultScheme: "file" | "sqlite", base: string): string | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  if (/^(redis|rediss|postgres|postgresql):\/\//.test(value)) return value;
  const match = /^(file|sqlite):(.*)$/.exec(value);
  const scheme = match?.[1] ?? defaultScheme;
  const path = match === null ? value : (match[2] ?? "");
  if (scheme !== defaultScheme) {
    throw new UsageError(
      `store "${value}" is not supported here; use ${defaultScheme}:PATH, redis://… or postgres://…`,
    );
  }
  if (path === "") throw new UsageError(`store "${value}" names no path; use ${defaultScheme}:PATH`);
  return `${scheme}:${isAbsolute(path) ? path : resolve(base, path)}`;
}

function parsePort(value: unknown): number {
  const port = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`invalid port ${JSON.stringify(value)}: pass an integer 0..65535 (0 picks a free port)`);
  }
  return port;
}

function parseInterval(value: unknown): number {
  try {
    const ms = toMs(value, "process interval");
    if (ms < 100) throw new Error("too small");
    return ms;
  } catch {
    throw new UsageError(
      `invalid process interval ${JSON.stringify(value)}: pass a duration of at least 100ms, e.g. "5s"`,
    );
  }
}

function parseReports(value: unknown, path: string): ReportConfig[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new UsageError(`${path}: "meter.reports" must be an array`);
  return value.map((item, i) => parseReport(item, `${path}: meter.reports[${i}]`));
}

/** Parses one report: `{ name, version, indexBy?: string[][], intervals?: [{ param, groupBy? }] }`. */
export function parseReport(item: unknown, where: string): ReportConfig {
  if (typeof item !== "object" || item === null) throw new UsageError(`${where} must be an object`);
  const r = item as Record<string, unknown>;
  if (typeof r.name !== "string" || r.name.trim() === "") throw new UsageError(`${where}.name must be a string`);
  if (!Number.isSafeInteger(r.version) || (r.version as number) < 1) {
    throw new UsageError(`${where}.version must be a positive integer`);
  }
  const report: ReportConfig = { name: r.name, version: r.version as number };
  if (r.indexBy !== undefined) {
    if (!Array.isArray(r.indexBy)) throw new UsageError(`${where}.indexBy must be an array of param lists`);
    report.indexBy = r.indexBy.map((set, i) => {
      const list = typeof set === "string" ? [set] : set;
      if (!Array.isArray(list) || !list.every((p) => typeof p === "string" && p !== "")) {
        throw new UsageError(`${where}.indexBy[${i}] must be a param name or a list of param names`);
      }
      return list as string[];
    });
  }
  if (r.intervals !== undefined) {
    if (!Array.isArray(r.intervals)) throw new UsageError(`${where}.intervals must be an array`);
    report.intervals = r.intervals.map((rule, i) => {
      const o = (rule ?? {}) as Record<string, unknown>;
      const groupBy = o.groupBy ?? [];
      if (typeof o.param !== "string" || o.param === "") {
        throw new UsageError(`${where}.intervals[${i}].param must be a param name`);
      }
      const groups = typeof groupBy === "string" ? [groupBy] : groupBy;
      if (!Array.isArray(groups) || !groups.every((g) => typeof g === "string" && g !== "")) {
        throw new UsageError(`${where}.intervals[${i}].groupBy must be a list of param names`);
      }
      return { param: o.param, groupBy: groups as string[] };
    });
  }
  return report;
}

function parseGroups(value: unknown, path: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((g) => typeof g === "string" && g !== "")) {
    throw new UsageError(`${path}: "trackers.groups" must be an array of group ids`);
  }
  return value as string[];
}
