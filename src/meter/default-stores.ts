/**
 * The embedded default stores (design principle 8): a `FileStream` under ./tally-data/meter and
 * `SqliteRollups` in ./tally.db. Both are imported on first use, so importing `tally/meter` never
 * loads better-sqlite3 and never creates files; a missing better-sqlite3 rejects the first rollup
 * call with `NOT_CONFIGURED` saying what to do.
 */

import { isTallyError, TallyError } from "../errors.ts";
import type { Clock } from "../time/clock.ts";
import type { MeterRollups } from "./rollups.ts";
import type { MeterStream } from "./stream.ts";

export const DEFAULT_STREAM_PATH = "./tally-data/meter";
export const DEFAULT_SQLITE_PATH = "./tally.db";

function lazy<T extends object>(load: () => Promise<T>, sync: Partial<T>): T {
  let loaded: Promise<T> | null = null;
  const get = (): Promise<T> => {
    loaded ??= load();
    return loaded;
  };
  return new Proxy(sync as T, {
    get(target, prop) {
      if (prop in target) return (target as Record<PropertyKey, unknown>)[prop];
      if (prop === "then") return undefined;
      if (prop === "close") {
        return async () => {
          if (loaded !== null) await ((await loaded) as unknown as { close(): Promise<void> }).close();
        };
      }
      return async (...args: unknown[]) => {
        const store = (await get()) as Record<PropertyKey, (...a: unknown[]) => unknown>;
        return (store[prop] as (...a: unknown[]) => unknown).apply(store, args);
      };
    },
  });
}

export function defaultRollups(): MeterRollups {
  return lazy<MeterRollups>(
    async () => {
      let mod: typeof import("../storage/sqlite/meter-rollups.ts");
      try {
        mod = await import("../storage/sqlite/meter-rollups.ts");
      } catch (cause) {
        throw new TallyError("NOT_CONFIGURED", "could not load the SQLite rollups; see cause", { cause });
      }
      const rollups = new mod.SqliteRollups({ path: DEFAULT_SQLITE_PATH });
      try {
        await rollups.open();
      } catch (error) {
        if (isTallyError(error)) throw error;
        throw new TallyError("NOT_CONFIGURED", "could not open ./tally.db; see cause", { cause: error });
      }
      return rollups;
    },
    { maxEntriesPerCommit: 100_000 },
  );
}

export function defaultStream(clock: Clock): MeterStream {
  return lazy<MeterStream>(async () => {
    const mod = await import("../storage/file/meter-stream.ts");
    return new mod.FileStream({ path: DEFAULT_STREAM_PATH, clock });
  }, {});
}
