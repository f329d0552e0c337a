import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { postgresUnavailable, redisUnavailable } from "../../support/services.ts";
import type { RollupsKind, StreamKind } from "./fixtures/stores.ts";
import { requireService } from "./scale-services.ts";
import { type Pairing, pairingName, runStress, SMALL, type StressRun, verifyPairing } from "./stress-run.ts";

// Spec §12 stress runs (see stress-run.ts): every stream x rollups pairing whose servers answer,
// all at once through one set of child processes; `npm run stress` runs the same code large.
const postgres = (await postgresUnavailable()) === undefined;
const redis = (await redisUnavailable()) === undefined;
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
const pairings: Pairing[] = streams.flatMap((s) => rollups.map((r) => [s, r] as const));

describe("stress: writers, a crash inside ack and four competing processors, every pairing at once", () => {
  let run: StressRun | undefined;
  let failure: unknown;
  before(async () => {
    try {
      run = await runStress(pairings, SMALL);
    } catch (error) {
      failure = error;
    }
  });
  after(() => run?.close());

  it("writers, the crash (exit 88) and the competitors all did their part", () => {
    if (failure !== undefined) throw failure;
    assert.equal(run?.crashedExit, 88);
  });
  for (const [stream, rollup] of pairings) {
    it(`${stream} stream -> ${rollup} rollups: exact summaries, no markers, an empty stream`, async () => {
      if (failure !== undefined) throw failure;
      const spec = run?.specs.find((s) => s.pairing === pairingName(stream, rollup));
      assert.ok(spec !== undefined && run !== undefined);
      await verifyPairing(spec, run.events);
    });
  }
});
await requireService("postgres", "stress: PostgreSQL pairings (service)");
await requireService("redis", "stress: Redis pairings (service)");
