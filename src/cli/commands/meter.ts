/** `tally meter …`: process pending events and read reports (spec meter §9). */

import type { Command } from "commander";
import { registerMeterCleanup } from "./meter-cleanup.ts";
import { registerMeterProcess } from "./meter-process.ts";
import { registerMeterReports } from "./meter-reports.ts";

export function registerMeter(program: Command): void {
  const meter = program
    .command("meter")
    .description("process meter events into rollups and read reports")
    .addHelpText(
      "after",
      "\nTimes: RFC 3339, epoch ms, now, or relative (-90m, -7d). Exit 0 ok, 1 runtime/store error, 2 usage error.",
    );
  registerMeterProcess(meter);
  registerMeterReports(meter);
  registerMeterCleanup(meter);
}
