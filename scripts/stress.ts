/**
 * `npm run stress`: the spec §12 stress runs at a large size, for every stream x rollups pairing
 * whose servers are reachable (the CI tests in test/meter/scale run the same code small).
 *
 *   npm run stress                       # 24 000 events per pairing
 *   npm run stress -- --events 120000 --only redis --claim-ms 250
 *
 * Exits 1 when any pairing fails; prints one line per pairing with its timings.
 */

import type { RollupsKind, StreamKind } from "../test/meter/scale/fixtures/stores.ts";
import { runStress } from "../test/meter/scale/stress-run.ts";
import { postgresUnavailable, redisUnavailable } from "../test/support/services.ts";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const events = Math.round(Number(flag("events") ?? 24_000) / 12) * 12;
const only = flag("only");
const redis = (await redisUnavailable()) === undefined;
const postgres = (await postgresUnavailable()) === undefined;
const streams: StreamKind[] = [
  "file",
  ...(redis ? (["redis"] as const) : []),
  ...(postgres ? (["postgres"] as const) : []),
];
const rollups: RollupsKind[] = [
  "sqlite",
  ...(postgres ? (["postgres"] as const) : []),
  ...(redis ? (["redis"] as const) : []),
];
if (!redis) console.log("skipping Redis pairings: Redis is not reachable");
if (!postgres) console.log("skipping PostgreSQL pairings: PostgreSQL is not reachable");

let failed = 0;
for (const s of streams) {
  for (const r of rollups) {
    if (only !== undefined && s !== only && r !== only) continue;
    const started = performance.now();
    try {
      const report = await runStress(s, r, {
        events,
        writerProcesses: 3,
        writerThreads: 4,
        batchRows: 1000,
        // A 1000-row batch can take longer than the CI runs' 250 ms to aggregate on a busy machine,
        // and a lease that lapses mid-batch is (correctly) fenced off; give the large runs 2 s.
        claimMs: Number(flag("claim-ms") ?? 2000),
        deadlineMs: 300_000,
      });
      const racers = report.competitors.map((c) => c.processed).join("/");
      console.log(
        `ok   ${report.pairing}: ${events} events, write ${(report.writeMs / 1000).toFixed(1)} s, process ${(report.processMs / 1000).toFixed(1)} s, competitors processed ${racers}`,
      );
    } catch (error) {
      failed++;
      console.log(`FAIL ${s} stream -> ${r} rollups after ${((performance.now() - started) / 1000).toFixed(1)} s`);
      console.log(error);
    }
  }
}
process.exit(failed === 0 ? 0 : 1);
