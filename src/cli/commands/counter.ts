/**
 * `tally counter record|query|limit|export|import` on the embedded counter store (`--db`, default
 * ./tally.db). One live EventStore per database is the rule (last writer wins per key), so do not
 * import into a database a running `tally serve` is writing.
 */

import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { parsePositiveInt, parseTime } from "../../server/time-args.ts";
import { action, collect, withProgressOption, withStoreOptions } from "../command-kit.ts";
import { keyValues, table } from "../output.ts";
import { Progress } from "../progress.ts";
import { UsageError } from "../usage-error.ts";

// The stores load SQLite and the counter; help and usage errors should not wait for them.
const stores = () => import("../stores.ts");
const views = () => import("../../server/counter-view.ts");

export function registerCounter(program: Command): void {
  const counter = program.command("counter").description("record, query, limit, export and import counters");

  withStoreOptions(
    counter
      .command("record")
      .description("record COUNT occurrences of ID (default 1)")
      .argument("<id>", "event id")
      .option("--count <n>", "how many (default 1)")
      .option("--at <time>", "when (default now)"),
  ).action(
    action(async (ctx, options, id: string) => {
      const count = options.count === undefined ? 1 : parseCount(options.count as string);
      const handle = await (await stores()).openCounters(ctx.config);
      try {
        if (options.at === undefined) handle.store.recordCount(id, count);
        else handle.store.recordCountAt(id, count, parseTime(options.at as string, ctx.now, "--at"));
      } finally {
        await handle.close();
      }
      ctx.out.result({ id, recorded: count }, () => `recorded ${count} × ${id}`);
    }),
  );

  withStoreOptions(
    counter
      .command("query")
      .description("sums of IDs over the last minute, hour, day, week and ever")
      .argument("<ids...>", "event ids")
      .option("--last <n>", "also the last N units (with --unit)")
      .option("--unit <unit>", "seconds | minutes | hours | days | weeks | months | years"),
  ).action(
    action(async (ctx, options, ids: string[]) => {
      const last =
        options.last === undefined && options.unit === undefined
          ? null
          : { n: parsePositiveInt((options.last as string) ?? "1", "--last"), unit: parseUnit(options.unit) };
      const handle = await (await stores()).openCounters(ctx.config);
      try {
        const { counterSums } = await views();
        const rows = ids.map((id) => counterSums(handle.store, id, last));
        ctx.out.result(rows, () => {
          const headers = ["id", "lastMinute", "lastHour", "lastDay", "lastWeek", "ever"];
          if (last !== null) headers.push(`last ${last.n} ${last.unit}`);
          return table(
            headers,
            rows.map((r) => [
              r.id,
              r.lastMinute,
              r.lastHour,
              r.lastDay,
              r.lastWeek,
              r.ever,
              ...(last ? [r.last?.sum] : []),
            ]),
          );
        });
      } finally {
        await handle.close();
      }
    }),
  );

  withStoreOptions(
    counter
      .command("limit")
      .description("check a rate limit for ID (and record with --record)")
      .argument("<id>", "event id")
      .option("--at-most <n>", "allow at most N per window")
      .option("--per <window>", "window: 30s, 15m, 1h, 7d or a unit name (minutes, days…)")
      .option("--sliding", "sliding window instead of calendar buckets")
      .option("--cooldown <duration>", "require this gap since the last occurrence")
      .option("--count <n>", "how many this call would add (default 1)")
      .option("--record", "record the count when allowed (checkAndRecord)")
      .option("--fail-on-deny", "exit 3 when the limit denies (for shell scripts)"),
  ).action(
    action(async (ctx, options, id: string) => {
      if (options.atMost === undefined && options.cooldown === undefined) {
        throw new UsageError("pass --at-most N --per WINDOW and/or --cooldown DURATION");
      }
      if ((options.atMost === undefined) !== (options.per === undefined)) {
        throw new UsageError("--at-most and --per go together");
      }
      const count = options.count === undefined ? 1 : parseCount(options.count as string);
      const handle = await (await stores()).openCounters(ctx.config);
      let ok = false;
      try {
        const limiter = handle.store.limit();
        if (options.atMost !== undefined) {
          const limit = parseCount(options.atMost as string, "--at-most");
          const { parseWindow } = await views();
          limiter.atMost(id, limit, parseWindow(options.per as string, "--per"), { sliding: options.sliding === true });
        }
        if (options.cooldown !== undefined) limiter.cooldown(id, options.cooldown as "1s");
        const result = options.record === true ? limiter.checkAndRecord(id, count) : limiter.check(id, count);
        ok = result.ok;
        const usage = options.atMost !== undefined ? limiter.usage(id) : null;
        const doc = {
          id,
          ok: result.ok,
          recorded: options.record === true && result.ok ? count : 0,
          retryAfter: result.ok ? null : (result.error.retryAfter ?? null),
          violations: result.ok ? [] : result.error.violations.map((v) => ({ ...v })),
          usage,
        };
        ctx.out.result(doc, () =>
          keyValues({
            id,
            allowed: result.ok,
            recorded: doc.recorded,
            retryAfterMs: doc.retryAfter,
            ...(usage === null ? {} : { used: usage.count, limit: usage.limit, remaining: usage.remaining }),
          }),
        );
      } finally {
        await handle.close();
      }
      if (!ok && options.failOnDeny === true) process.exitCode = 3;
    }),
  );

  withStoreOptions(
    counter
      .command("export")
      .description("write every counter (or --ids) as one JSON document")
      .option("--out <file>", "write to a file instead of stdout")
      .option("--ids <id>", "only these ids (repeatable)", collect),
  ).action(
    action(async (ctx, options) => {
      const handle = await (await stores()).openCounters(ctx.config);
      try {
        const all = handle.store.exportAll();
        const wanted = options.ids as string[] | undefined;
        const events: Record<string, unknown> = {};
        for (const [id, snapshot] of all) if (wanted === undefined || wanted.includes(id)) events[id] = snapshot;
        const doc = { format: "tally.counter.export", version: 1, events };
        if (options.out === undefined) {
          ctx.out.line(JSON.stringify(doc));
        } else {
          writeFileSync(options.out as string, `${JSON.stringify(doc)}\n`);
          const summary = { exported: Object.keys(events).length, file: options.out };
          ctx.out.result(summary, () => `exported ${summary.exported} counters to ${options.out}`);
        }
      } finally {
        await handle.close();
      }
    }),
  );

  withProgressOption(
    withStoreOptions(
      counter
        .command("import")
        .description("load counters from an export file")
        .argument("<file>", "a file written by `tally counter export` (- for stdin)")
        .option("--mode <mode>", "replace | merge (add counts) | sync (max per replica); default merge"),
    ),
  ).action(
    action(async (ctx, options, file: string) => {
      const mode = (options.mode as string | undefined) ?? "merge";
      if (mode !== "replace" && mode !== "merge" && mode !== "sync") {
        throw new UsageError(`invalid --mode "${mode}": pass replace, merge or sync`);
      }
      let doc: { format?: unknown; events?: unknown };
      try {
        doc = JSON.parse(readFileSync(file === "-" ? 0 : file, "utf8"));
      } catch (error) {
        throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
      }
      if (doc?.format !== "tally.counter.export" || typeof doc.events !== "object" || doc.events === null) {
        throw new UsageError(`${file} is not a tally counter export (format "tally.counter.export")`);
      }
      const entries = Object.entries(doc.events as Record<string, unknown>);
      const handle = await (await stores()).openCounters(ctx.config);
      try {
        const progress = new Progress({
          label: "imported",
          total: entries.length,
          ...(ctx.progress === undefined ? {} : { enabled: ctx.progress }),
        });
        let done = 0;
        type Snapshot = Parameters<typeof handle.store.importEvent>[1];
        for (const [id, snapshot] of entries) {
          if (mode === "replace") handle.store.importEvent(id, snapshot as Snapshot);
          else if (mode === "merge") handle.store.mergeEvent(id, snapshot as Snapshot);
          else handle.store.syncEvent(id, snapshot as Snapshot);
          done += 1;
          progress.update(done);
        }
        await handle.store.persist();
        progress.finish(done);
        const summary = { imported: done, mode };
        ctx.out.result(summary, () => `imported ${done} counters (${mode})`);
      } finally {
        await handle.close();
      }
    }),
  );
}

function parseCount(text: string, what = "--count"): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > 2 ** 32 - 1) {
    throw new UsageError(`invalid ${what} "${text}": pass an integer 0..4294967295`);
  }
  return n;
}

const UNITS = ["seconds", "minutes", "hours", "days", "weeks", "months", "years"] as const;

function parseUnit(value: unknown): (typeof UNITS)[number] {
  const unit = value === undefined ? "minutes" : String(value);
  if (!(UNITS as readonly string[]).includes(unit)) {
    throw new UsageError(`invalid --unit "${unit}": pass one of ${UNITS.join(", ")}`);
  }
  return unit as (typeof UNITS)[number];
}
