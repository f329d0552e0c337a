/**
 * `tally meter process NAME --version N`: repeats `processPending` until the backlog is drained
 * (`hasMore` false) or `--max-rows` is reached, drawing progress on stderr. Without definition
 * flags it reuses the stored definition and exits 2 when none is stored, because a report cannot
 * be processed without knowing its indexes.
 */

import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { isTallyError } from "../../errors.ts";
import { type DefinitionSpec, defineFrom } from "../../server/report-registry.ts";
import { parsePositiveInt } from "../../server/time-args.ts";
import {
  action,
  type CommandContext,
  collect,
  type Options,
  withProgressOption,
  withStoreOptions,
} from "../command-kit.ts";
import { keyValues } from "../output.ts";
import { Progress } from "../progress.ts";
import { UsageError } from "../usage-error.ts";

const stores = () => import("../stores.ts");

/** `--index a,b` and `--interval p[:g1,g2]` flags, or a `--definition` file, as plain data. */
export function definitionFromFlags(options: {
  index?: string[];
  interval?: string[];
  definition?: string;
}): DefinitionSpec | null {
  const indexes: string[][] = [];
  const intervals: { param: string; groupBy: string[] }[] = [];
  if (options.definition !== undefined) {
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(readFileSync(options.definition, "utf8")) as Record<string, unknown>;
    } catch (error) {
      throw new UsageError(`cannot read --definition ${options.definition}: ${(error as Error).message}`);
    }
    const list = doc.indexBy ?? doc.indexes ?? [];
    if (!Array.isArray(list)) throw new UsageError(`--definition: "indexBy" must be an array of param lists`);
    for (const item of list) indexes.push(typeof item === "string" ? [item] : (item as string[]));
    const rules = doc.intervals ?? [];
    if (!Array.isArray(rules)) throw new UsageError(`--definition: "intervals" must be an array`);
    for (const rule of rules as { param?: unknown; groupBy?: unknown }[]) {
      if (typeof rule?.param !== "string") throw new UsageError(`--definition: each interval needs a "param"`);
      const groupBy = rule.groupBy ?? [];
      intervals.push({ param: rule.param, groupBy: typeof groupBy === "string" ? [groupBy] : (groupBy as string[]) });
    }
  }
  for (const flag of options.index ?? []) indexes.push(splitList(flag, "--index"));
  for (const flag of options.interval ?? []) {
    const [param, groups] = flag.split(":", 2);
    if (param === undefined || param === "") throw new UsageError(`invalid --interval "${flag}": pass param[:g1,g2]`);
    intervals.push({ param, groupBy: groups === undefined || groups === "" ? [] : splitList(groups, "--interval") });
  }
  if (options.definition === undefined && indexes.length === 0 && intervals.length === 0) return null;
  return { indexes, intervals };
}

function splitList(text: string, what: string): string[] {
  const parts = text.split(",").map((p) => p.trim());
  if (parts.some((p) => p === "")) throw new UsageError(`invalid ${what} "${text}": pass comma-separated param names`);
  return parts;
}

export function registerMeterProcess(meter: Command): void {
  withProgressOption(
    withStoreOptions(
      meter
        .command("process")
        .description("roll pending events of NAME up into minute/hour/day buckets")
        .argument("<name>", "event name")
        .requiredOption("--version <n>", "report version (a positive integer)")
        .option("--index <a,b>", "index by these params (repeatable)", collect)
        .option(
          "--interval <p[:g1,g2]>",
          "measure the interval between runs of param p, grouped by g (repeatable)",
          collect,
        )
        .option("--definition <file>", "JSON file with { indexBy: [[...]], intervals: [{ param, groupBy }] }")
        .option("--max-rows <n>", "stop after reading this many rows in total")
        .option("--batch-rows <n>", "rows per read-commit-ack cycle (default 10000)"),
    ),
  ).action(action(processCommand));
}

async function processCommand(ctx: CommandContext, options: Options, name: string): Promise<void> {
  const version = parsePositiveInt(options.version as string, "--version");
  const maxRows =
    options.maxRows === undefined
      ? Number.POSITIVE_INFINITY
      : parsePositiveInt(options.maxRows as string, "--max-rows");
  const batchRows =
    options.batchRows === undefined ? 10_000 : parsePositiveInt(options.batchRows as string, "--batch-rows");
  const spec = definitionFromFlags(options as { index?: string[]; interval?: string[]; definition?: string });

  const handle = await (await stores()).openMeter(ctx.config);
  try {
    const { meter } = handle;
    let definition = spec;
    if (definition === null) {
      try {
        const stored = await meter.reportDefinition(name, { version });
        definition = { indexes: stored.indexes, intervals: stored.intervals };
      } catch (error) {
        if (isTallyError(error) && error.code === "DEFINITION_NOT_FOUND") {
          throw new UsageError(
            `no definition is stored for ${name} v${version}; pass --index/--interval or --definition the first time`,
          );
        }
        throw error;
      }
    }
    const define = defineFrom(definition);
    const pendingAtStart = await meter.pendingCount(name);
    const progress = new Progress({
      label: "processed",
      total: pendingAtStart,
      ...(ctx.progress === undefined ? {} : { enabled: ctx.progress }),
    });
    const totals = { processed: 0, skippedAlreadyProcessed: 0, malformed: 0 };
    let calls = 0;
    let locked = false;
    let complete = true;
    let read = 0;
    const line = (p: typeof totals) =>
      `skipped ${p.skippedAlreadyProcessed.toLocaleString("en-US")} malformed ${p.malformed.toLocaleString("en-US")} pending ~${Math.max(0, pendingAtStart - p.processed - p.skippedAlreadyProcessed).toLocaleString("en-US")}`;
    while (read < maxRows) {
      const callMax = Math.min(100_000, maxRows - read);
      const base = { ...totals };
      const result = await meter.processPending(
        name,
        {
          version,
          maxRows: callMax,
          batchRows: Math.min(batchRows, callMax),
          onProgress: (p) => {
            const now = {
              processed: base.processed + p.processed,
              skippedAlreadyProcessed: base.skippedAlreadyProcessed + p.skippedAlreadyProcessed,
              malformed: base.malformed + p.malformed,
            };
            progress.update(now.processed, line(now));
          },
        },
        define,
      );
      calls += 1;
      totals.processed += result.processed;
      totals.skippedAlreadyProcessed += result.skippedAlreadyProcessed;
      totals.malformed += result.malformed;
      read += result.processed + result.skippedAlreadyProcessed;
      if (result.locked) {
        locked = true;
        break;
      }
      if (!result.complete) complete = false;
      if (!result.hasMore || !result.complete) break;
    }
    progress.finish(totals.processed, line(totals));
    const pending = await meter.pendingCount(name);
    const doc = { eventName: name, version, ...totals, complete, locked, calls, pending };
    ctx.out.result(doc, () =>
      locked
        ? `${keyValues(doc)}\nthe report lease is busy: another processor is running; nothing was read`
        : keyValues(doc),
    );
  } finally {
    await handle.close();
  }
}
