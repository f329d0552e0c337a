/** fast-check arbitraries for event snapshots, shared by the format and conversion tests. */

import fc from "fast-check";
import type { EventSnapshot } from "../../../src/counter/snapshot.ts";
import { TIME_UNITS, type TimeUnit } from "../../../src/time/units.ts";

export const ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe"] as const;

const count = fc.oneof(
  { weight: 6, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 1000 }) },
  { weight: 1, arbitrary: fc.constantFrom(4_294_967_295, 65_536, 2 ** 31) },
);

/** Structurally valid snapshots (any geometry, counts need not be consistent across units). */
export const snapshotArbitrary: fc.Arbitrary<EventSnapshot> = fc
  .record({
    alignment: fc.constantFrom("calendar" as const, "uniform" as const),
    timeZone: fc.constantFrom(...ZONES),
    savedAt: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    firstSeenAt: fc.option(fc.integer({ min: 0, max: 4_102_444_800_000 }), { nil: null }),
    lastSeenAt: fc.option(fc.integer({ min: 0, max: 4_102_444_800_000 }), { nil: null }),
    units: fc.uniqueArray(
      fc.record({
        unit: fc.constantFrom<TimeUnit>(...TIME_UNITS),
        bucketCount: fc.integer({ min: 1, max: 200 }),
        start: fc.integer({ min: -1e12, max: 4e12 }),
      }),
      { minLength: 1, maxLength: 7, selector: (u) => u.unit },
    ),
    replicaIds: fc.uniqueArray(fc.stringMatching(/^[A-Za-z0-9._:-]{1,20}$/), { maxLength: 4 }),
  })
  .chain((base) =>
    fc
      .tuple(
        ...base.replicaIds.map(() => fc.tuple(...base.units.map((u) => fc.array(count, { maxLength: u.bucketCount })))),
      )
      .map(
        (rows): EventSnapshot => ({
          format: "tally.counter",
          version: 1,
          alignment: base.alignment,
          timeZone: base.timeZone,
          savedAt: base.savedAt,
          firstSeenAt: base.firstSeenAt,
          lastSeenAt: base.lastSeenAt,
          units: base.units,
          replicas: base.replicaIds.map((replicaId, r) => ({ replicaId, counts: (rows[r] ?? []) as number[][] })),
        }),
      ),
  );

/** The snapshot with every row trimmed of trailing zeros (the form both formats read back). */
export function trimmed(snapshot: EventSnapshot): EventSnapshot {
  return {
    ...snapshot,
    units: snapshot.units.map((u) => ({ ...u })),
    replicas: snapshot.replicas.map((r) => ({
      replicaId: r.replicaId,
      counts: snapshot.units.map((_, u) => {
        const row = r.counts[u] ?? [];
        let end = row.length;
        while (end > 0 && row[end - 1] === 0) end--;
        return row.slice(0, end);
      }),
    })),
  };
}
