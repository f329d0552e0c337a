/**
 * `tally serve`: the HTTP API and the dashboard, with a background processor keeping the rollups
 * of the configured reports current. `--demo` adds the built-in workload (what `npm start` runs).
 * SIGINT/SIGTERM stop the processor, the server and the stores in that order, persisting counters.
 */

import type { Command } from "commander";
import { isTallyError } from "../../errors.ts";
import { toMs } from "../../time/duration.ts";
import { action, collect, withStoreOptions } from "../command-kit.ts";
import { UsageError } from "../usage-error.ts";

export function registerServe(program: Command): void {
  withStoreOptions(
    program
      .command("serve")
      .description("run the HTTP API and the dashboard, processing meter events in the background")
      .option("--host <host>", "address to listen on (default 127.0.0.1; env HOST)")
      .option("--port <port>", "port (default 3000; env PORT; 0 picks a free one)")
      .option("--demo", "run a built-in demo workload (demo.delivery events, counters, trackers)")
      .option("--report <name@version>", "also process and chart this report (repeatable)", collect)
      .option("--process-interval <duration>", "how often to process pending events (default 5s)"),
  ).action(
    action(async (ctx, options) => {
      let intervalMs: number | undefined;
      if (options.processInterval !== undefined) {
        try {
          intervalMs = toMs(options.processInterval, "--process-interval");
        } catch (error) {
          throw new UsageError(isTallyError(error) ? error.message : String(error));
        }
      }
      const { startService } = await import("../service.ts");
      const service = await startService(ctx.config, {
        demo: options.demo === true,
        reports: (options.report as string[] | undefined) ?? [],
        ...(intervalMs === undefined ? {} : { processIntervalMs: intervalMs }),
      });
      const { url } = service.server;
      ctx.out.result(
        { url, dashboard: `${url}/`, api: `${url}/api`, db: ctx.config.db, stream: ctx.config.meterStream },
        () =>
          [
            `tally dashboard: ${url}/`,
            `API:             ${url}/api`,
            `stores:          ${ctx.config.meterStream}  ${ctx.config.meterRollups}`,
            options.demo === true ? "demo workload running; press Ctrl+C to stop" : "press Ctrl+C to stop",
          ].join("\n"),
      );
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      process.stderr.write("stopping…\n");
      await service.close();
    }),
  );
}
