/** The persistence and sync recipes in examples/ hold exactly as the cookbook asserts. */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { main as migration } from "../../../examples/counter-migration.ts";
import { main as conflictFree } from "../../../examples/counter-sync-conflict-free.ts";
import { main as offlineFirst } from "../../../examples/counter-sync-offline-first.ts";

describe("persistence and sync examples", () => {
  it("Conflict-Free Sync: server and both devices see 8; syncing again changes nothing", async () => {
    assert.deepEqual(await conflictFree(), {
      serverTotal: 8,
      device1Total: 8,
      device2Total: 8,
      afterResync: { server: 8, device1: 8, device1Dirty: false },
      mergeAllWouldGive: 13,
    });
  });

  it("Offline-First: every device ends at the server total, survives a restart, and a repeat changes nothing", async () => {
    const totals = { purchases: 1, pageViews: 11 };
    assert.deepEqual(await offlineFirst(), {
      server: totals,
      phone: totals,
      laptop: totals,
      repeated: { phone: totals, server: totals, phoneDirty: false },
      afterRestart: { ...totals, sameReplica: true },
    });
  });

  it("Configuration Migration: 30 -> 60 minutes + 24 hours converts on build()", async () => {
    assert.deepEqual(await migration(), { converted: 1, lastMinutes60: 3, bucket25: 1, lastHours24: 3 });
  });
});
