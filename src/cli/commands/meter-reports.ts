/**
 * The read-only meter reports: `summary`, `series`, `compare`, `breakdown` and `definition`. They
 * read rollups only (never process), so they are safe to run while a processor works.
 */

import type { Command } from "commander";
import type { EventMeter } from "../../meter.ts";
import { parseBy, parsePositiveInt, parseRange, parseTime } from "../../server/time-args.ts";
import { action, type CommandContext, collect, type Options, withStoreOptions } from "../command-kit.ts";
import { formatValue, keyValues, table } from "../output.ts";
import { UsageError } from "../usage-error.ts";

const stores = () => import("../stores.ts");

/** `--from`/`--to` as a window, both or neither. */
function windowOf(options: Options, now: number): { from: number; to: number } | null {
  const from = options.from as string | undefined;
  const to = options.to as string | undefined;
  if (from === undefined && to === undefined) return null;
  if (from === undefined || to === undefined) throw new UsageError("--from and --to go together: pass both or neither");
  const window = { from: parseTime(from, now, "--from"), to: parseTime(to, now, "--to") };
  if (window.to <= window.from) throw new UsageError("--to must be after --from");
  return window;
}

async function withMeter<T>(ctx: CommandContext, run: (meter: EventMeter) => Promise<T>): Promise<T> {
  const handle = await (await stores()).openMeter(ctx.config);
  try {
    return await run(handle.meter);
  } finally {
    await handle.close();
  }
}

const SERIES_COLUMNS = [
  "count",
  "successCount",
  "failureCount",
  "skippedCount",
  "durationMsAvg",
  "durationMsP50",
  "durationMsP95",
] as const;

export function registerMeterReports(meter: Command): void {
  const reportCommand = (name: string, description: string) =>
    withStoreOptions(
      meter
        .command(name)
        .description(description)
        .argument("<name>", "event name")
        .requiredOption("--version <n>", "report version (a positive integer)"),
    );

  reportCommand("summary", "one summary of NAME over a window (or every retained hour)")
    .option("--from <time>", "window start: RFC 3339, epoch ms, now, or relative like -1h")
    .option("--to <time>", "window end")
    .option("--by <key=value>", "filter on an index (repeatable; the keys must equal one index)", collect)
    .action(
      action(async (ctx, options, name: string) => {
        const query = {
          version: parsePositiveInt(options.version as string, "--version"),
          by: parseBy((options.by as string[]) ?? []),
          ...(windowOf(options, ctx.now) ?? {}),
        };
        const summary = await withMeter(ctx, (m) => m.summary(name, query));
        ctx.out.result(summary, () => keyValues(summary as unknown as Record<string, unknown>));
      }),
    );

  reportCommand("series", "one row per minute, hour or day bucket")
    .option("--every <tier>", "minute | hour | day (default minute)")
    .option("--from <time>", "window start")
    .option("--to <time>", "window end")
    .option("--by <key=value>", "filter on an index (repeatable)", collect)
    .action(
      action(async (ctx, options, name: string) => {
        const every = (options.every as string | undefined) ?? "minute";
        if (every !== "minute" && every !== "hour" && every !== "day") {
          throw new UsageError(`invalid --every "${every}": pass minute, hour or day`);
        }
        const query = {
          version: parsePositiveInt(options.version as string, "--version"),
          every: every as "minute" | "hour" | "day",
          by: parseBy((options.by as string[]) ?? []),
          ...(windowOf(options, ctx.now) ?? {}),
        };
        const points = await withMeter(ctx, (m) => m.series(name, query));
        ctx.out.result(points, () =>
          table(
            ["bucket", ...SERIES_COLUMNS],
            points.map((p) => [p.bucket, ...SERIES_COLUMNS.map((c) => (p as unknown as Record<string, unknown>)[c])]),
          ),
        );
      }),
    );

  reportCommand("compare", "two windows side by side with delta and ratio")
    .requiredOption("--before <from..to>", "the earlier window, e.g. -2h..-1h")
    .requiredOption("--after <from..to>", "the later window, e.g. -1h..now")
    .option("--by <key=value>", "filter on an index (repeatable)", collect)
    .action(
      action(async (ctx, options, name: string) => {
        const query = {
          version: parsePositiveInt(options.version as string, "--version"),
          before: parseRange(options.before as string, ctx.now, "--before"),
          after: parseRange(options.after as string, ctx.now, "--after"),
          by: parseBy((options.by as string[]) ?? []),
        };
        const comparison = await withMeter(ctx, (m) => m.compare(name, query));
        ctx.out.result(comparison, () => {
          const c = comparison as unknown as Record<"before" | "after" | "delta" | "ratio", Record<string, unknown>>;
          return table(
            ["field", "before", "after", "delta", "ratio"],
            Object.keys(c.before).map((f) => [f, c.before[f], c.after[f], c.delta[f], c.ratio[f]]),
          );
        });
      }),
    );

  reportCommand("breakdown", "top index values of a window")
    .requiredOption("--by <p[,p]>", "the index params to break down by (must equal one index)")
    .requiredOption("--from <time>", "window start")
    .requiredOption("--to <time>", "window end")
    .option("--sort <field>", "numeric summary field to sort by (default count)")
    .option("--order <order>", "desc | asc (default desc)")
    .option("--limit <k>", "rows to show (default 10, at most 1000)")
    .action(
      action(async (ctx, options, name: string) => {
        const window = windowOf(options, ctx.now);
        const order = options.order as string | undefined;
        if (order !== undefined && order !== "asc" && order !== "desc") {
          throw new UsageError(`invalid --order "${order}": pass desc or asc`);
        }
        const by = (options.by as string).split(",").map((p) => p.trim());
        const query = {
          version: parsePositiveInt(options.version as string, "--version"),
          by,
          from: window?.from ?? ctx.now,
          to: window?.to ?? ctx.now,
          ...(options.sort === undefined ? {} : { sort: options.sort as "count" }),
          ...(order === undefined ? {} : { order: order as "asc" | "desc" }),
          ...(options.limit === undefined ? {} : { limit: parsePositiveInt(options.limit as string, "--limit") }),
        };
        const result = await withMeter(ctx, (m) => m.breakdown(name, query));
        ctx.out.result(result, () => {
          const rows = result.rows.map((row) => [
            ...result.by.map((p) => row.values[p]),
            row.summary.count,
            row.summary.failureCount,
            row.summary.durationMsP50,
            row.summary.durationMsP95,
          ]);
          return `${table([...result.by, "count", "failureCount", "durationMsP50", "durationMsP95"], rows)}\n${formatValue(result.totalValues)} value sets in the window`;
        });
      }),
    );

  reportCommand("definition", "the stored report definition (exit 1 when none is stored)").action(
    action(async (ctx, options, name: string) => {
      const version = parsePositiveInt(options.version as string, "--version");
      const def = await withMeter(ctx, (m) => m.reportDefinition(name, { version }));
      ctx.out.result(def, () =>
        keyValues({
          name: def.name,
          version: def.version,
          indexes: def.indexes.map((i) => (i.length === 0 ? "(all events)" : i.join(","))).join("; "),
          intervals:
            def.intervals.length === 0
              ? "-"
              : def.intervals
                  .map((r) => (r.groupBy.length === 0 ? r.param : `${r.param} by ${r.groupBy.join(",")}`))
                  .join("; "),
          fingerprint: def.fingerprint,
        }),
      );
    }),
  );
}
