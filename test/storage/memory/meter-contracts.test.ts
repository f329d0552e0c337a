import { MemoryRollups } from "../../../src/storage/memory/meter-rollups.ts";
import { MemoryStream } from "../../../src/storage/memory/meter-stream.ts";
import { meterRollupsContract } from "../../../src/testing/meter-rollups-contract.ts";
import { meterStreamContract } from "../../../src/testing/meter-stream-contract.ts";
import { TestClock } from "../../../src/time/clock.ts";

meterStreamContract("MemoryStream", async () => {
  const clock = new TestClock("2026-05-06T10:00:00Z");
  const stream = new MemoryStream({ clock, claimTimeout: "30s" });
  return {
    stream,
    clock,
    peer: () => stream,
    expireClaims: () => clock.advance("31s"),
    settle: () => {},
    multiEntryUnits: false,
    close: () => stream.close(),
  };
});

meterRollupsContract("MemoryRollups", async () => {
  const rollups = new MemoryRollups();
  return {
    rollups,
    peer: () => rollups,
    leaseClock: "caller",
    corrupt: async (ref, tier, start, key, field, value) =>
      rollups.setRawFieldForTesting(ref, tier, start, key, field, value),
    close: () => rollups.close(),
  };
});
