/**
 * `tally meter cleanup --before T`: deletes rollup buckets, interval state and markers older than
 * T (never stream rows or definitions). With `--events a,b` it cleans one event at a time so the
 * progress bar can show how far it got.
 */

import type { Command } from "commander";
import { parseTime } from "../../server/time-args.ts";
import { action, withProgressOption, withStoreOptions } from "../command-kit.ts";
import { keyValues } from "../output.ts";
import { Progress } from "../progress.ts";
import { UsageError } from "../usage-error.ts";

const stores = () => import("../stores.ts");

export function registerMeterCleanup(meter: Command): void {
  withProgressOption(
    withStoreOptions(
      meter
        .command("cleanup")
        .description("delete rollups, interval state and markers older than a time")
        .requiredOption("--before <time>", "cut-off: RFC 3339, epoch ms, now, or relative like -31d")
        .option("--events <a,b>", "only these event names (default every event)")
        .option("--no-interval-state", "keep interval state"),
    ),
  ).action(
    action(async (ctx, options) => {
      const before = parseTime(options.before as string, ctx.now, "--before");
      const events = options.events === undefined ? null : (options.events as string).split(",").map((e) => e.trim());
      if (events?.some((e) => e === "")) throw new UsageError(`invalid --events "${options.events}": pass a,b`);
      const intervalState = options.intervalState !== false;
      const handle = await (await stores()).openMeter(ctx.config);
      try {
        const totals = { rollupKeysDeleted: 0, intervalStateKeysDeleted: 0, processedEntriesDeleted: 0 };
        const steps: (string | null)[] = events ?? [null];
        const progress = new Progress({
          label: "events cleaned",
          total: steps.length,
          ...(ctx.progress === undefined ? {} : { enabled: ctx.progress }),
        });
        let done = 0;
        for (const event of steps) {
          const result = await handle.meter.cleanupHistory({
            before,
            intervalState,
            ...(event === null ? {} : { events: event }),
          });
          totals.rollupKeysDeleted += result.rollupKeysDeleted;
          totals.intervalStateKeysDeleted += result.intervalStateKeysDeleted;
          totals.processedEntriesDeleted += result.processedEntriesDeleted;
          done += 1;
          progress.update(done, `rollup keys ${totals.rollupKeysDeleted.toLocaleString("en-US")}`);
        }
        progress.finish(done, `rollup keys ${totals.rollupKeysDeleted.toLocaleString("en-US")}`);
        ctx.out.result(totals, () => keyValues(totals));
      } finally {
        await handle.close();
      }
    }),
  );
}
