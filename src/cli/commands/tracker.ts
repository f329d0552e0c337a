/**
 * `tally tracker list|add|track|reset|remove` on the embedded tracker store (`--db`, default
 * ./tally.db). `track` takes the event as JSON (`--data '{"status":"ok"}'`) or `key=value` pairs.
 */

import { readFileSync } from "node:fs";
import type { Command } from "commander";
import type { TrackerRow } from "../../server/tracker-view.ts";
import { action, withStoreOptions } from "../command-kit.ts";
import { keyValues, table } from "../output.ts";
import { UsageError } from "../usage-error.ts";

const stores = () => import("../stores.ts");
const views = () => import("../../server/tracker-view.ts");

type Row = TrackerRow;

function rowsTable(rows: readonly Row[]): string {
  if (rows.length === 0) return "no trackers";
  return table(
    ["name", "type", "progress", "target", "stage", "completed", "limited"],
    rows.map((r) => [r.name, r.type, r.progress, r.target, r.currentStage, r.completed, r.limited]),
  );
}

/** `--data JSON` and `key=value` pairs as one event object (pairs win). Values parse as JSON when they can. */
function eventData(json: string | undefined, pairs: readonly string[]): Record<string, unknown> {
  let data: Record<string, unknown> = {};
  if (json !== undefined) {
    try {
      data = JSON.parse(json) as Record<string, unknown>;
    } catch (error) {
      throw new UsageError(`invalid --data: ${(error as Error).message}`);
    }
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      throw new UsageError("invalid --data: pass a JSON object");
    }
  }
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new UsageError(`invalid field "${pair}": pass key=value`);
    const raw = pair.slice(at + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a bare word stays a string
    }
    data[pair.slice(0, at)] = value;
  }
  return data;
}

export function registerTracker(program: Command): void {
  const tracker = program.command("tracker").description("list, add, track, reset and remove progress trackers");

  withStoreOptions(
    tracker
      .command("list")
      .description("the trackers of GROUP")
      .argument("<group>", "group id")
      .option("--name <name>", "only this tracker"),
  ).action(
    action(async (ctx, options, group: string) => {
      const handle = (await stores()).openTrackers(ctx.config);
      const { trackerRow } = await views();
      try {
        const names = options.name === undefined ? undefined : (options.name as string);
        const trackers = await handle.manager.getTrackers(group, names);
        const rows = trackers.map(trackerRow);
        ctx.out.result(rows, () => rowsTable(rows));
      } finally {
        await handle.close();
      }
    }),
  );

  withStoreOptions(
    tracker
      .command("add")
      .description("add a tracker to GROUP from a JSON definition")
      .argument("<group>", "group id")
      .argument("<definition>", 'JSON, e.g. {"name":"ten","conditions":[],"target":10}, or @file.json'),
  ).action(
    action(async (ctx, _options, group: string, definition: string) => {
      let json: unknown;
      try {
        json = JSON.parse(definition.startsWith("@") ? readFileSync(definition.slice(1), "utf8") : definition);
      } catch (error) {
        throw new UsageError(`invalid tracker definition: ${(error as Error).message}`);
      }
      const handle = (await stores()).openTrackers(ctx.config);
      const { trackerRow } = await views();
      try {
        const added = trackerRow(await handle.manager.addTracker(group, (await views()).trackerFromJson(json)));
        ctx.out.result(added, () => rowsTable([added]));
      } finally {
        await handle.close();
      }
    }),
  );

  withStoreOptions(
    tracker
      .command("track")
      .description("feed one event to GROUP's trackers")
      .argument("<group>", "group id")
      .argument("[fields...]", "event fields as key=value (values parse as JSON when they can)")
      .option("--data <json>", "the event as a JSON object")
      .option("--event-id <id>", "idempotency key: an id already applied is a no-op"),
  ).action(
    action(async (ctx, options, group: string, fields: string[] = []) => {
      const data = eventData(options.data as string | undefined, fields);
      const handle = (await stores()).openTrackers(ctx.config);
      const { trackerRow } = await views();
      try {
        const result = await handle.manager.track(
          group,
          data,
          options.eventId === undefined ? {} : { eventId: options.eventId as string },
        );
        const doc = {
          ok: result.ok,
          duplicate: result.duplicate,
          dirtied: result.dirtied.map(trackerRow),
          completed: result.completed.map(trackerRow),
          limited: result.limited.map(trackerRow),
          errors: result.errors.map((e) => ({ name: e.name, code: e.error.code, message: e.error.message })),
        };
        ctx.out.result(doc, () => {
          const lines = [
            keyValues({
              ok: doc.ok,
              duplicate: doc.duplicate,
              dirtied: doc.dirtied.map((t) => t.name).join(", ") || "-",
              completed: doc.completed.map((t) => t.name).join(", ") || "-",
              limited: doc.limited.map((t) => t.name).join(", ") || "-",
            }),
          ];
          for (const e of doc.errors) lines.push(`error in ${e.name} (${e.code}): ${e.message}`);
          return lines.join("\n");
        });
        if (!result.ok) process.exitCode = 1;
      } finally {
        await handle.close();
      }
    }),
  );

  withStoreOptions(
    tracker
      .command("reset")
      .description("reset one tracker of GROUP")
      .argument("<group>", "group id")
      .argument("<name>", "tracker name")
      .option("--policy <n>", "0 none, 1 progress, 2 limiters, 3 all (default: the tracker's own)"),
  ).action(
    action(async (ctx, options, group: string, name: string) => {
      let policy: number | undefined;
      if (options.policy !== undefined) {
        policy = Number(options.policy);
        if (!Number.isInteger(policy) || policy < 0 || policy > 3) {
          throw new UsageError(`invalid --policy "${options.policy}": pass 0, 1, 2 or 3`);
        }
      }
      const handle = (await stores()).openTrackers(ctx.config);
      const { trackerRow } = await views();
      try {
        const reset = trackerRow(
          await handle.manager.resetTracker(group, name, policy as Parameters<typeof handle.manager.resetTracker>[2]),
        );
        ctx.out.result(reset, () => rowsTable([reset]));
      } finally {
        await handle.close();
      }
    }),
  );

  withStoreOptions(
    tracker
      .command("remove")
      .description("remove trackers of GROUP (every tracker when no name is given)")
      .argument("<group>", "group id")
      .argument("[names...]", "tracker names"),
  ).action(
    action(async (ctx, _options, group: string, names: string[] = []) => {
      const handle = (await stores()).openTrackers(ctx.config);
      try {
        const removed = await handle.manager.removeTracker(group, names.length === 0 ? undefined : names);
        ctx.out.result({ removed }, () => `removed ${removed} tracker(s)`);
      } finally {
        await handle.close();
      }
    }),
  );
}
