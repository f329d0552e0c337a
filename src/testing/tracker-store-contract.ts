/**
 * The shared contract suite of `TrackerStore` (spec §4.1), run against every adapter on real
 * servers: `runTrackerStoreContract(async (t) => ({ store, reopen, sibling, crashMidTransaction }))`.
 *
 * It registers `node:test` tests. `make` returns a fresh, empty store in its own namespace (or
 * undefined to skip, e.g. when a server is absent). Cross-process stores also give `reopen` (a
 * second handle on the same data), `sibling` (another namespace on the same backend) and
 * `crashMidTransaction` (a child process that dies after its writes, before COMMIT).
 */

import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { TrackingManager } from "../tracker/manager.ts";
import type { StoredTracker } from "../tracker/stored-tracker.ts";
import type { TrackerStore, TrackerStoreView } from "../tracker/tracker-store.ts";

export interface TrackerStoreHarness {
  store: TrackerStore;
  reopen?: () => TrackerStore | Promise<TrackerStore>;
  sibling?: () => TrackerStore | Promise<TrackerStore>;
  crashMidTransaction?: (groupId: string) => Promise<void>;
}

const NOW = Date.UTC(2025, 0, 6, 12);
const TTL = 3_600_000;

function row(groupId: string, name: string, seq: number, extra: Partial<StoredTracker> = {}): StoredTracker {
  return {
    schemaVersion: 1,
    type: "count",
    groupId,
    name,
    seq,
    version: 1,
    definition: {
      conditions: [],
      targets: [100],
      limiters: [],
      resetPolicy: 2,
      progressMode: "cumulative",
      overflow: "carry",
      catchUp: false,
      loopForever: false,
      coerceNumbers: false,
      initProgress: 0,
    },
    state: { progress: 0, stageIndex: 0, stagesCompleted: 0, limited: false, limiters: [], completedAt: null },
    expiresAt: null,
    createdAt: NOW,
    updatedAt: NOW,
    ...extra,
  };
}

function write(
  store: TrackerStore,
  groupId: string,
  changes: { upsert?: StoredTracker[]; remove?: string[]; record?: string[] },
  now = NOW,
) {
  return store.transact(groupId, { now, eventIdTtlMs: TTL }, () => ({
    upsert: changes.upsert ?? [],
    remove: changes.remove ?? [],
    record: changes.record ?? [],
    result: undefined,
  }));
}

function view(store: TrackerStore, groupId: string, eventIds?: string[], now = NOW): Promise<TrackerStoreView> {
  const opts = eventIds === undefined ? { now, eventIdTtlMs: TTL } : { now, eventIds, eventIdTtlMs: TTL };
  return store.transact(groupId, opts, (v) => ({
    upsert: [],
    remove: [],
    record: [],
    result: { rows: v.rows, applied: new Set(v.applied), version: v.version },
  }));
}

/**
 * One increment of a counter kept in a row's progress, read-modify-write inside the plan. An
 * optimistic store may give up under contention with STORE_FAILED (having applied nothing); the
 * documented recovery is to retry, which is what callers do.
 */
async function increment(
  store: TrackerStore,
  groupId: string,
  runs: { count: number },
  id: string,
): Promise<number | null> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await store.transact(groupId, { now: NOW, eventIds: [id], eventIdTtlMs: TTL }, (v) => {
        runs.count++;
        if (v.applied.has(id)) return { upsert: [], remove: [], record: [], result: null };
        const current = v.rows.find((r) => r.name === "counter") ?? row(groupId, "counter", 1);
        const next = {
          ...current,
          state: { ...current.state, progress: current.state.progress + 1 },
          version: current.version + 1,
        };
        return { upsert: [next], remove: [], record: [id], result: next.state.progress };
      });
    } catch (error) {
      if ((error as { code?: unknown }).code !== "STORE_FAILED" || attempt >= 20) throw error;
    }
  }
}

export function runTrackerStoreContract(
  make: (t: TestContext) => Promise<TrackerStoreHarness | undefined>,
  opts: { name?: string } = {},
): void {
  const use = async (t: TestContext): Promise<TrackerStoreHarness | undefined> => {
    const harness = await make(t);
    if (harness !== undefined) t.after(() => harness.store.close());
    return harness;
  };

  describe(`TrackerStore contract${opts.name === undefined ? "" : `: ${opts.name}`}`, () => {
    it("an unknown group is empty at version 0; a plan with no changes writes nothing", async (t) => {
      const h = await use(t);
      if (h === undefined) return;
      const v = await view(h.store, "g");
      assert.deepEqual([v.rows, v.applied.size, v.version], [[], 0, 0]);
      assert.equal((await view(h.store, "g")).version, 0);
      assert.deepEqual(await h.store.read("g"), []);
    });

    it("upserts, removals and ids commit together; rows come in seq order; each writing commit bumps the version", async (t) => {
      const h = await use(t);
      if (h === undefined) return;
      await write(h.store, "g", { upsert: [row("g", "c", 3), row("g", "a", 1)] });
      await write(h.store, "g", { upsert: [row("g", "b", 2)], record: ["e1"] });
      let v = await view(h.store, "g", ["e1", "e2"]);
      assert.deepEqual(
        v.rows.map((r) => r.name),
        ["a", "b", "c"],
      );
      assert.deepEqual([...v.applied], ["e1"]);
      assert.equal(v.version, 2);
      const changed = { ...row("g", "a", 1), version: 2, state: { ...row("g", "a", 1).state, progress: 5 } };
      await write(h.store, "g", { upsert: [changed], remove: ["c", "missing"] });
      v = await view(h.store, "g");
      assert.deepEqual(
        v.rows.map((r) => [r.name, r.state.progress]),
        [
          ["a", 5],
          ["b", 0],
        ],
      );
      assert.equal(v.version, 3);
      assert.deepEqual(
        (await h.store.read("g", ["b", "zz"])).map((r) => r.name),
        ["b"],
      );
      assert.deepEqual(await view(h.store, "other"), { rows: [], applied: new Set(), version: 0 });
    });

    it("rows round-trip exactly, including types and schema versions this tally cannot read", async (t) => {
      const h = await use(t);
      if (h === undefined) return;
      const alien = row("g", "alien", 1, { type: "alien", expiresAt: NOW + 5000 });
      const future = row("g", "future", 2, { schemaVersion: 99 });
      const normal = row("g", "normal", 3);
      await write(h.store, "g", { upsert: [alien, future, normal] });
      assert.deepEqual(await h.store.read("g"), [alien, future, normal]);
      const manager = new TrackingManager({
        store: h.store,
        clock: { now: () => NOW },
        logger: { warn() {}, error() {} },
      });
      await assert.rejects(manager.getTrackers("g"), { code: "UNKNOWN_TYPE" });
      await assert.rejects(manager.getTrackers("g", "future"), { code: "UNSUPPORTED_SCHEMA" });
      assert.deepEqual(
        (await manager.getTrackers("g", "normal")).map((x) => x.name),
        ["normal"],
      );
      const r = await manager.track("g", {}, { now: NOW });
      assert.deepEqual(
        r.errors.map((e) => [e.name, e.error.code]),
        [
          ["alien", "UNKNOWN_TYPE"],
          ["future", "UNSUPPORTED_SCHEMA"],
        ],
      );
      assert.deepEqual(
        r.dirtied.map((x) => x.name),
        ["normal"],
      );
      const after = await h.store.read("g");
      assert.deepEqual(after.slice(0, 2), [alien, future], "unreadable rows are never rewritten or dropped");
    });

    it("a plan that throws commits nothing and rejects", async (t) => {
      const h = await use(t);
      if (h === undefined) return;
      await write(h.store, "g", { upsert: [row("g", "a", 1)] });
      await assert.rejects(
        h.store.transact("g", { now: NOW, eventIdTtlMs: TTL }, () => {
          throw new Error("plan failed");
        }),
      );
      const v = await view(h.store, "g");
      assert.deepEqual([v.rows.length, v.version], [1, 1]);
      await write(h.store, "g", { upsert: [row("g", "b", 2)] });
      assert.equal((await view(h.store, "g")).version, 2, "the group is not left locked");
    });

    it("eventIds: applied subset, independent per group, forgotten after the TTL", async (t) => {
      const h = await use(t);
      if (h === undefined) return;
      await write(h.store, "g", { record: ["e1", "e2"] });
      assert.deepEqual([...(await view(h.store, "g", ["e2", "e3", "e1"])).applied].sort(), ["e1", "e2"]);
      assert.equal((await view(h.store, "h", ["e1"])).applied.size, 0);
      assert.equal((await view(h.store, "g", ["e1"], NOW + TTL - 1)).applied.size, 1);
      assert.equal((await view(h.store, "g", ["e1"], NOW + TTL)).applied.size, 0, "an id past its TTL is not applied");
      await write(h.store, "g", { record: ["e1"] }, NOW + TTL + 10);
      assert.equal((await view(h.store, "g", ["e1"], NOW + TTL + 20)).applied.size, 1, "re-recorded with a new time");
      for (let i = 0; i < 70; i++) await write(h.store, "g", { record: [`x${i}`] }, NOW + 3 * TTL + i);
      assert.equal((await view(h.store, "g", ["e2", "x69"], NOW + 3 * TTL + 300)).applied.size, 1);
    });

    it("concurrent transacts on one group serialise (plans may re-run but apply once)", async (t) => {
      const h = await use(t);
      if (h === undefined) return;
      const second = h.reopen === undefined ? h.store : await h.reopen();
      if (second !== h.store) t.after(() => second.close());
      const runs = { count: 0 };
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => increment(i % 2 === 0 ? h.store : second, "g", runs, `inc${i}`)),
      );
      // Each increment commits with its id; a retry after an ambiguous failure finds the id applied.
      const applied = results.filter((r): r is number => r !== null).sort((a, b) => a - b);
      assert.equal(new Set(applied).size, applied.length, "no two commits planned from the same version");
      const [counter] = await h.store.read("g");
      assert.equal(counter?.state.progress, 40);
      assert.ok(runs.count >= 40);
    });

    it("listExpired lists rows with expiresAt <= now, up to the limit", async (t) => {
      const h = await use(t);
      if (h === undefined) return;
      await write(h.store, "g", {
        upsert: [row("g", "a", 1, { expiresAt: NOW - 1 }), row("g", "b", 2, { expiresAt: NOW + 10 }), row("g", "c", 3)],
      });
      await write(h.store, "h", { upsert: [row("h", "d", 1, { expiresAt: NOW })] });
      const found = await h.store.listExpired(NOW, 10);
      assert.deepEqual(found.map((f) => `${f.groupId}/${f.name}`).sort(), ["g/a", "h/d"]);
      assert.equal((await h.store.listExpired(NOW + 10, 2)).length, 2);
      assert.equal((await h.store.listExpired(NOW + 10, 5)).length, 3);
    });

    it("flush empties this namespace only", async (t) => {
      const h = await use(t);
      if (h === undefined) return;
      const sibling = h.sibling === undefined ? undefined : await h.sibling();
      if (sibling !== undefined) t.after(() => sibling.close());
      await write(h.store, "g", { upsert: [row("g", "a", 1)], record: ["e1"] });
      if (sibling !== undefined) await write(sibling, "g", { upsert: [row("g", "kept", 1)], record: ["e1"] });
      await h.store.flush();
      const v = await view(h.store, "g", ["e1"]);
      assert.deepEqual([v.rows.length, v.applied.size], [0, 0]);
      if (sibling !== undefined) {
        const s = await view(sibling, "g", ["e1"]);
        assert.deepEqual([s.rows.map((r) => r.name), s.applied.size], [["kept"], 1]);
      }
    });

    it("a process killed mid-transaction applies nothing", async (t) => {
      const h = await use(t);
      if (h === undefined) return;
      if (h.crashMidTransaction === undefined) {
        assert.equal(h.store.capabilities.crossProcess, false, "cross-process stores must provide crashMidTransaction");
        return;
      }
      await write(h.store, "crash", { upsert: [row("crash", "before", 1)] });
      await h.crashMidTransaction("crash");
      const fresh = h.reopen === undefined ? h.store : await h.reopen();
      if (fresh !== h.store) t.after(() => fresh.close());
      const v = await view(fresh, "crash", ["crash-id"]);
      assert.deepEqual([v.rows.map((r) => r.name), v.applied.size, v.version], [["before"], 0, 1]);
      await write(fresh, "crash", { upsert: [row("crash", "after", 2)] });
      assert.equal((await view(fresh, "crash")).version, 2, "the group lock was released");
    });
  });
}
