/**
 * `npm run stress`: the spec §12 stress runs at a large size, for every stream x rollups pairing
 * whose servers are reachable, all pairings at once through one set of child processes (the CI
 * test in test/meter/scale runs the same code small).
 *
 *   npm run stress                       # 24 000 events per pairing, 3 writer processes + 4 threads
 *   npm run stress -- --events 120000 --only redis --claim-ms 250
 *
 * Exits 1 when the run or any pairing fails; prints one line per pairing.
 */

import type { RollupsKind, StreamKind } from "../test/meter/scale/fixtures/stores.ts";
import { type Pairing, runStress, verifyPairing } from "../test/meter/scale/stress-run.ts";
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
const pairings: Pairing[] = streams
  .flatMap((s) => rollups.map((r) => [s, r] as const))
  .filter(([s, r]) => only === undefined || s === only || r === only);

const started = performance.now();
let failed = 0;
try {
  const run = await runStress(pairings, {
    events,
    writerProcesses: 3,
    writerThreads: 4,
    batchRows: 1000,
    // Each process serves every pairing at once, and a 1000-row batch can take longer than the CI
    // run's 250 ms to aggregate on a busy machine; a lease that lapses mid-batch is (correctly)
    // fenced off and retried, but too many retries hit the deadline: give the large runs 5 s.
    claimMs: Number(flag("claim-ms") ?? 5000),
    deadlineMs: 300_000,
  });
  console.log(
    `${pairings.length} pairings, ${events} events each: write ${(run.writeMs / 1000).toFixed(1)} s, process ${(run.processMs / 1000).toFixed(1)} s`,
  );
  try {
    for (const spec of run.specs) {
      const racers = (run.competitors.get(spec.pairing) ?? []).map((c) => c.processed).join("/");
      try {
        await verifyPairing(spec, events);
        console.log(`ok   ${spec.pairing}: competitors processed ${racers}`);
      } catch (error) {
        failed++;
        console.log(`FAIL ${spec.pairing}: competitors processed ${racers}`);
        console.log(error);
      }
    }
  } finally {
    await run.close();
  }
} catch (error) {
  failed++;
  console.log(`FAIL the run after ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(error);
}
process.exit(failed === 0 ? 0 : 1);
