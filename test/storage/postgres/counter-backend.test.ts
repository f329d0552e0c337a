/**
 * The PostgreSQL `CounterBackend` on a real server: the behaviour scenarios of the shared store
 * (the same answers as the in-process `EventStore`), layout mismatch, the server clock refused, and
 * the concurrency guarantee of spec §10 across child processes.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { SharedEventStore } from "../../../src/counter/shared/shared-event-store.ts";
import { postgresBackend } from "../../../src/storage/postgres/counter-backend.ts";
import { TestClock } from "../../../src/time/clock.ts";
import { randomScenarios } from "../../counter/shared/random-scenarios.ts";
import { compareWithLocal } from "../../counter/shared/scenario-runner.ts";
import { SCENARIOS } from "../../counter/shared/scenarios.ts";
import { runChild } from "../../support/child.ts";
import { usePostgres } from "../../support/services.ts";

const worker = fileURLToPath(new URL("./fixtures/counter-limit-worker.ts", import.meta.url));

describe("postgresBackend behaves like EventStore", () => {
  for (const scenario of SCENARIOS) {
    it(scenario.name, async (t) => {
      const pg = await usePostgres(t);
      if (!pg) return;
      await compareWithLocal(scenario, postgresBackend(pg.pool));
    });
  }
  it("on random scenarios", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    const backend = postgresBackend(pg.pool);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        randomScenarios(() => `e${++run}`),
        (scenario) => compareWithLocal(scenario, backend),
      ),
      { numRuns: 100 },
    );
  });
});

describe("postgresBackend", { timeout: 180_000 }, () => {
  it("rejects another layout (INVALID_CONFIG) and the server clock", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    const backend = postgresBackend(pg.pool);
    await backend.install();
    const a = await SharedEventStore.builder()
      .withClock(new TestClock())
      .forRateLimiting()
      .withBackend(backend)
      .build();
    await a.record("x");
    const b = await SharedEventStore.builder().withClock(new TestClock()).trackMinutes(30).withBackend(backend).build();
    await assert.rejects(b.record("x"), { code: "INVALID_CONFIG" });
    await b.record("y");
    await assert.rejects(
      SharedEventStore.builder().alignment("uniform").clockSource("server").withBackend(backend).build(),
      { code: "INVALID_CONFIG" },
    );
  });

  it("accepts a row whose signature differs only in its version prefix, not one with other bucket counts", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    const store = await SharedEventStore.builder()
      .withClock(new TestClock())
      .timeZone("UTC")
      .forRateLimiting()
      .withBackend(postgresBackend(pg.pool))
      .build();
    const limiter = store.limit().atMost("api", 5, "minutes");
    assert.deepEqual(await limiter.checkAndRecord("api"), { ok: true });
    const storedSig = async (): Promise<string> =>
      ((await pg.pool.query("SELECT sig FROM tally_counter_events WHERE event_id = 'api'")).rows[0] as { sig: string })
        .sig;
    const setSig = (sig: string) =>
      pg.pool.query("UPDATE tally_counter_events SET sig = $1 WHERE event_id = 'api'", [sig]);
    const current = await storedSig();
    const layout = current.slice(current.indexOf("|") + 1);

    // As an earlier build wrote it (the PostgreSQL row layout is the same): read, then written.
    await setSig(`v2|${layout}`);
    assert.equal(await store.query("api").lastMinutes(1).sum(), 1);
    assert.equal(await storedSig(), `v2|${layout}`); // a read leaves the row as it is
    assert.deepEqual(await limiter.checkAndRecord("api"), { ok: true });
    assert.equal(await storedSig(), current); // a write rewrites the signature
    assert.deepEqual(await limiter.usage("api"), { count: 2, limit: 5, remaining: 3 });
    assert.equal(await store.query("api").lastMinutes(1).sum(), 2);

    // Other bucket counts are another layout, whatever the prefix.
    const otherBuckets = layout.replace(/:(\d+)/, (_, n: string) => `:${Number(n) + 1}`);
    assert.notEqual(otherBuckets, layout);
    for (const sig of [`${current.slice(0, current.indexOf("|") + 1)}${otherBuckets}`, `v2|${otherBuckets}`]) {
      await setSig(sig);
      await assert.rejects(limiter.checkAndRecord("api"), {
        code: "INVALID_CONFIG",
        message: /stored layout .* differs from/,
      });
      await assert.rejects(store.query("api").lastMinutes(1).sum(), { code: "INVALID_CONFIG" });
      assert.equal(await storedSig(), sig);
    }
  });

  it("admits exactly the limit across processes, and hands out exactly the limit in reservations", async (t) => {
    const pg = await usePostgres(t);
    if (!pg) return;
    await postgresBackend(pg.pool).install();
    const children = 6;
    const calls = 120; // 6 x 120 = 720 attempts for 300 slots
    const now = String(Date.UTC(2024, 0, 1, 10, 0, 30));
    const results: Array<{ code: number | null; stdout: string; stderr: string }> = await Promise.all(
      Array.from({ length: children }, () => runChild(worker, [pg.urlWithSchema, String(calls), now])),
    );
    let checks = 0;
    let held = 0;
    for (const r of results) {
      assert.equal(r.code, 0, r.stderr);
      const match = /done (\d+) (\d+)/.exec(r.stdout);
      assert.ok(match, r.stdout);
      checks += Number(match[1]);
      held += Number(match[2]);
    }
    assert.equal(checks, 300);
    assert.equal(held, 300);
    const store = await SharedEventStore.builder()
      .withClock(new TestClock(Number(now)))
      .timeZone("UTC")
      .forRateLimiting()
      .withBackend(postgresBackend(pg.pool))
      .build();
    assert.equal(await store.query("check_api").lastMinutes(1).sum(), 300);
    const limiter = store.limit().atMost("reserve_api", 300, "minutes");
    assert.deepEqual(await limiter.usage("reserve_api"), { count: 300, limit: 300, remaining: 0 });
    assert.equal(await store.query("reserve_api").lastMinutes(1).sum(), 0);
  });
});
