/**
 * The meter's Quick Start (event_meter's README, in TypeScript): record units of work, process them
 * into a versioned report, read a summary. It simulates one hour of invoice deliveries with a
 * TestClock so the numbers are exact; in an application you would leave `clock` out.
 *
 *   npx tsx examples/meter-quick-start.ts
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { TestClock } from "../src/index.ts";
import { EventMeter, FileStream } from "../src/meter.ts";
import { SqliteRollups } from "../src/sqlite.ts";

export async function main(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "tally-quick-start-"));
  const clock = new TestClock("2026-05-06T10:00:00Z");
  try {
    // Configure storage: a local file stream and SQLite rollups (the embedded default, spelled out).
    EventMeter.configure({
      namespace: "billing_app:event_meter:v1",
      stream: new FileStream({ path: join(dir, "meter"), clock }),
      rollups: new SqliteRollups({ path: join(dir, "tally.db") }),
      autoCleanupHistory: true,
      clock,
    });

    // Record units of work: 1,260 postmark deliveries (6 fail) and 300 through ses in one hour.
    const start = Date.parse("2026-05-06T10:00:02Z");
    for (let i = 0; i < 1560; i++) {
      const postmark = i < 1260;
      clock.set(postmark ? start + Math.floor((i * 3_596_000) / 1259) : start + (i - 1260) * 10_000);
      const event = EventMeter.start("invoice_delivery", {
        customer_id: 42 + (i % 25),
        provider: postmark ? "postmark" : "ses",
        queue: "mailers",
        worker_id: "mail-1",
      });
      clock.advance(i === 0 ? 42 : i === 1 ? 8_910 : i < 138 ? 765 : 764); // deliver_invoice()
      const result =
        postmark && i % 210 === 5
          ? await event.failure(new Error("timeout"))
          : await event.success({ message_id: `msg_${i}` });
      if (result.error !== null) console.warn(`meter write failed: ${result.error.message}`);
    }

    // Process pending events into a versioned report (after the minute's files are closed).
    clock.set("2026-05-06T11:05:00Z");
    const processed = await EventMeter.processPending("invoice_delivery", { version: 1 }, (report) => {
      report.indexBy("customer_id");
      report.indexBy("provider");
      report.indexBy("provider", "queue");
    });

    // Read the report.
    const summary = await EventMeter.summary("invoice_delivery", {
      version: 1,
      from: "2026-05-06T10:00:00Z",
      to: "2026-05-06T11:00:00Z",
      by: { provider: "postmark" },
    });
    return { processed, summary };
  } finally {
    await EventMeter.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) console.log(await main());
