/**
 * Sync converges whatever happens to the exports on the way: any order, any duplication, exports
 * taken at any moment and interleaved with new records. Every store ends at the true totals, two
 * servers fed the same exports in different orders hold the same state, and syncing again changes
 * nothing.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { EventStore, type SnapshotSet, TestClock } from "../../../src/index.ts";

type Action =
  | { kind: "record"; device: number; id: "a" | "b"; count: number }
  | { kind: "export"; device: number }
  | { kind: "advance"; ms: number };

const DEVICES = 3;
const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({
    kind: fc.constant("record" as const),
    device: fc.integer({ min: 0, max: DEVICES - 1 }),
    id: fc.constantFrom("a" as const, "b" as const),
    count: fc.integer({ min: 1, max: 5 }),
  }),
  fc.record({ kind: fc.constant("export" as const), device: fc.integer({ min: 0, max: DEVICES - 1 }) }),
  fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 5 * 60_000 }) }),
);

const totals = (store: EventStore) => ({
  a: store.query("a").ever().sum() ?? 0,
  b: store.query("b").ever().sum() ?? 0,
});
/** exportAll with events and replicas in id order (their order carries no meaning). */
const canonical = (store: EventStore) =>
  [...store.exportAll()]
    .sort(([x], [y]) => (x < y ? -1 : 1))
    .map(([id, s]) => [id, { ...s, replicas: [...s.replicas].sort((x, y) => (x.replicaId < y.replicaId ? -1 : 1)) }]);
const wire = (set: Map<string, unknown>): string => JSON.stringify(Object.fromEntries(set));

describe("sync convergence (property)", () => {
  it("converges to the true totals for any order, duplication and interleaving of exports", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(action, { minLength: 1, maxLength: 25 }),
        fc.integer(),
        fc.integer(),
        async (actions, seedA, seedB) => {
          const clock = new TestClock("2024-02-28T23:30:00Z");
          const make = (replica: string) =>
            EventStore.builder().withClock(clock).timeZone("Europe/Berlin").replicaId(replica).build();
          const devices = await Promise.all(Array.from({ length: DEVICES }, (_, d) => make(`dev-${d}`)));
          const expected = { a: 0, b: 0 };
          const exports: string[] = [];
          for (const step of actions) {
            if (step.kind === "record") {
              devices[step.device]?.recordCount(step.id, step.count);
              expected[step.id] += step.count;
            } else if (step.kind === "export") {
              exports.push(wire((devices[step.device] as EventStore).exportAll()));
            } else clock.advance(step.ms);
          }
          // Every device's latest state travels at least once, after anything older.
          for (const device of devices) exports.push(wire(device.exportDirty()));
          /** The exports plus a seed-chosen set of duplicates, in a seed-chosen order (Fisher–Yates). */
          const shuffle = (seed: number) => {
            const copy = [...exports, ...exports.filter((_, i) => (seed >> (i % 30)) & 1)];
            let s = seed >>> 0 || 1;
            for (let i = copy.length - 1; i > 0; i--) {
              s = (s * 1_103_515_245 + 12_345) >>> 0;
              const j = s % (i + 1);
              [copy[i], copy[j]] = [copy[j] as string, copy[i] as string];
            }
            return copy;
          };
          const serverA = await make("server");
          const serverB = await make("server");
          for (const body of shuffle(seedA)) serverA.syncAll(JSON.parse(body) as SnapshotSet);
          for (const body of shuffle(seedB)) serverB.syncAll(JSON.parse(body) as SnapshotSet);
          assert.deepEqual(totals(serverA), expected);
          assert.deepEqual(canonical(serverB), canonical(serverA), "order and duplication do not matter");
          const download = wire(serverA.exportAll());
          for (const device of devices) {
            device.syncAll(JSON.parse(download) as SnapshotSet);
            assert.deepEqual(totals(device), expected);
            device.resetDirty();
            device.syncAll(JSON.parse(download) as SnapshotSet);
            assert.equal(device.isDirty(), false, "a repeated sync changes nothing");
          }
          serverA.resetDirty();
          for (const device of devices) serverA.syncAll(device.exportAll());
          assert.equal(serverA.isDirty(), false, "uploading the synced state back changes nothing");
        },
      ),
      { numRuns: 60 },
    );
  });
});
