import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ApiFixture, startApi } from "./fixtures/api-server.ts";

let api: ApiFixture;
before(async () => {
  api = await startApi({ bodyLimit: 64 * 1024 });
});
after(async () => {
  await api.close();
});

/** Asserts a JSON error with the status, code and (when given) the field it names. */
function assertError(
  res: { status: number; json: { error?: { code: string; field?: string } } },
  status: number,
  code: string,
  field?: string,
) {
  assert.equal(res.status, status, JSON.stringify(res.json));
  assert.equal(res.json.error?.code, code, JSON.stringify(res.json));
  if (field !== undefined) assert.equal(res.json.error?.field, field, JSON.stringify(res.json));
}

describe("API: index, health, static dashboard, unknown routes", () => {
  it("lists its routes and reports health", async () => {
    const index = await api.request("GET", "/api");
    assert.equal(index.status, 200);
    assert.ok(index.json.routes.some((r: { method: string; path: string }) => r.path === "/api/meter/:name/series"));
    const health = await api.request("GET", "/api/health");
    assert.equal(health.json.ok, true);
    assert.equal(health.json.namespace, "api-test");
  });

  it("serves the dashboard files with their content types", async () => {
    const expected: [string, RegExp][] = [
      ["/", /text\/html/],
      ["/dashboard.mjs", /text\/javascript/],
      ["/charts.mjs", /text\/javascript/],
      ["/dashboard.css", /text\/css/],
      ["/favicon.svg", /image\/svg\+xml/],
    ];
    for (const [path, type] of expected) {
      const res = await api.request("GET", path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get("content-type") ?? "", type, path);
    }
    assert.match((await api.request("GET", "/")).text, /<svg id="chart-count"/);
  });

  it("answers unknown routes with 404 and wrong methods with 405, as JSON", async () => {
    assertError(await api.request("GET", "/api/nope"), 404, "NOT_FOUND");
    assertError(await api.request("GET", "/../../etc/passwd"), 404, "NOT_FOUND");
    const wrong = await api.request("DELETE", "/api/meter/events");
    assertError(wrong, 405, "INVALID_REQUEST");
    assert.match(wrong.json.error.message, /POST/);
    assertError(await api.request("GET", "/api/counters/%E0%A4%A"), 400, "INVALID_REQUEST", "id");
  });
});

describe("API: meter", () => {
  it("records events with a given start and duration, processes them and reads every report", async () => {
    const one = await api.request("POST", "/api/meter/events", {
      name: "jobs",
      status: "success",
      params: { queue: "email" },
      durationMs: 120,
      startedAt: "-5m",
    });
    assert.equal(one.status, 200, one.text);
    assert.equal(one.json.recorded, true);
    const batch = await api.request("POST", "/api/meter/events", {
      events: [
        { name: "jobs", status: "failure", params: { queue: "sms" }, durationMs: 300, reason: "timeout" },
        { name: "jobs", status: "skipped", params: { queue: "email" } },
        { name: "jobs", params: { queue: "sms" }, durationMs: 40 },
      ],
    });
    assert.equal(batch.json.recorded, 3);

    const reports = await api.request("GET", "/api/meter/reports");
    assert.equal(reports.json.reports[0].name, "jobs");
    assert.equal(reports.json.reports[0].pending, 4);

    const processed = await api.request("POST", "/api/meter/jobs/process", {});
    assert.equal(processed.status, 200, processed.text);
    assert.equal(processed.json.processed, 4);
    assert.equal((await api.request("GET", "/api/meter/reports")).json.reports[0].pending, 0);

    const summary = await api.request("GET", "/api/meter/jobs/summary?version=1&from=-1h&to=%2B1m");
    assert.equal(summary.status, 200, summary.text);
    assert.equal(summary.json.count, 4);
    assert.equal(summary.json.failureCount, 1);
    assert.equal(summary.json.skippedCount, 1);
    assert.equal(summary.json.durationMsMax, 300);
    assert.equal(summary.json.durationMsMin, 0);

    const email = await api.request("GET", "/api/meter/jobs/summary?by.queue=email");
    assert.equal(email.json.count, 2, "version defaults to the served report's");
    assert.equal(email.json.durationMsMax, 120, "the recorded duration is the one given");

    const series = await api.request("GET", "/api/meter/jobs/series?version=1&every=minute&by.queue=sms");
    assert.equal(series.json.length, 60);
    assert.equal(
      series.json.reduce((s: number, p: { count: number }) => s + p.count, 0),
      2,
    );

    const compare = await api.request("GET", "/api/meter/jobs/compare?version=1&before=-3h..-2h&after=-1h..%2B1m");
    assert.equal(compare.json.after.count, 4);
    assert.equal(compare.json.delta.count, 4);

    const breakdown = await api.request("GET", "/api/meter/jobs/breakdown?version=1&by=queue&from=-1h&to=%2B1m");
    assert.equal(breakdown.json.totalValues, 2);
    assert.deepEqual(breakdown.json.by, ["queue"]);

    const definition = await api.request("GET", "/api/meter/jobs/definition?version=1");
    assert.deepEqual(definition.json.indexes, [[], ["queue"]]);
  });

  it("rejects malformed bodies and names the field", async () => {
    const post = (body: unknown, headers?: Record<string, string>) =>
      api.request("POST", "/api/meter/events", body, headers);
    assertError(await post("{not json"), 400, "INVALID_REQUEST", "body");
    assertError(await post([1, 2]), 400, "INVALID_REQUEST", "body");
    assertError(await post(""), 400, "INVALID_REQUEST", "body");
    assertError(await post({ status: "success" }), 400, "INVALID_REQUEST", "name");
    assertError(await post({ name: "jobs", status: "done" }), 400, "INVALID_REQUEST", "status");
    assertError(await post({ name: "jobs", durationMs: -1 }), 400, "INVALID_REQUEST", "durationMs");
    assertError(await post({ name: "jobs", durationMs: 1.5 }), 400, "INVALID_REQUEST", "durationMs");
    assertError(await post({ name: "jobs", params: [1] }), 400, "INVALID_REQUEST", "params");
    assertError(await post({ name: "jobs", startedAt: "yesterday" }), 400, "INVALID_TIMESTAMP", "startedAt");
    assertError(await post({ name: "bad\u0001name" }), 400, "INVALID_REQUEST", "name");
    assertError(await post({ events: [] }), 400, "INVALID_REQUEST", "events");
    assertError(await post({ name: "jobs" }, { "content-type": "text/plain" }), 415, "INVALID_REQUEST", "content-type");
    const big = await post({ name: "jobs", params: { blob: "x".repeat(100 * 1024) } });
    assertError(big, 413, "INVALID_REQUEST", "body");

    const pendingBefore = (await api.request("GET", "/api/meter/reports")).json.reports[0].pending;
    const mixed = await post({ events: [{ name: "jobs" }, { status: "success" }] });
    assertError(mixed, 400, "INVALID_REQUEST", "events[1].name");
    const pendingAfter = (await api.request("GET", "/api/meter/reports")).json.reports[0].pending;
    assert.equal(pendingAfter, pendingBefore, "a batch with a bad event records nothing");
  });

  it("rejects bad report queries and unknown reports", async () => {
    assertError(await api.request("GET", "/api/meter/other/summary"), 400, "INVALID_REQUEST", "version");
    assertError(await api.request("GET", "/api/meter/other/summary?version=1"), 404, "DEFINITION_NOT_FOUND");
    assertError(await api.request("GET", "/api/meter/jobs/definition?version=9"), 404, "DEFINITION_NOT_FOUND");
    assertError(await api.request("GET", "/api/meter/jobs/summary?version=zero"), 400, "INVALID_REQUEST", "version");
    assertError(await api.request("GET", "/api/meter/jobs/summary?from=-1h"), 400, "INVALID_REQUEST", "to");
    assertError(await api.request("GET", "/api/meter/jobs/summary?from=-1h&to=-2h"), 400, "INVALID_REQUEST", "to");
    assertError(await api.request("GET", "/api/meter/jobs/summary?by.region=eu"), 400, "UNSUPPORTED_QUERY");
    assertError(await api.request("GET", "/api/meter/jobs/series?every=week"), 400, "INVALID_REQUEST", "every");
    assertError(await api.request("GET", "/api/meter/jobs/compare?after=-1h..now"), 400, "INVALID_REQUEST", "before");
    assertError(
      await api.request("GET", "/api/meter/jobs/compare?before=-1h&after=-1h..now"),
      400,
      "INVALID_WINDOW",
      "before",
    );
    assertError(await api.request("GET", "/api/meter/jobs/breakdown?from=-1h&to=now"), 400, "INVALID_REQUEST", "by");
    assertError(await api.request("GET", "/api/meter/jobs/breakdown?by=queue"), 400, "INVALID_REQUEST", "from");
    assertError(
      await api.request("GET", "/api/meter/jobs/breakdown?by=queue&from=-1h&to=now&order=up"),
      400,
      "INVALID_REQUEST",
      "order",
    );
    assertError(await api.request("POST", "/api/meter/nothing/process", {}), 400, "INVALID_REQUEST", "version");
    assertError(await api.request("POST", "/api/meter/nothing/process", { version: 1 }), 404, "DEFINITION_NOT_FOUND");
  });
});

describe("API: counters", () => {
  it("records, lists, reads and limits counters", async () => {
    const recorded = await api.request("POST", "/api/counters/signups/record", { count: 3 });
    assert.equal(recorded.status, 200, recorded.text);
    assert.equal(recorded.json.lastHour, 3);
    await api.request("POST", "/api/counters/signups/record");
    await api.request("POST", "/api/counters/logins/record", { count: 2, at: "-2h" });
    const list = await api.request("GET", "/api/counters");
    assert.deepEqual(
      list.json.counters.map((c: { id: string; ever: number }) => [c.id, c.ever]),
      [
        ["logins", 2],
        ["signups", 4],
      ],
    );
    const one = await api.request("GET", "/api/counters/logins?last=3&unit=hours");
    assert.equal(one.json.lastHour, 0);
    assert.equal(one.json.last.sum, 2);

    const limit = { rules: [{ kind: "atMost", limit: 5, window: "1h" }], record: true };
    const ok = await api.request("POST", "/api/counters/signups/limit", limit);
    assert.equal(ok.json.ok, true, ok.text);
    assert.equal(ok.json.recorded, 1);
    assert.deepEqual(ok.json.usage, { count: 5, limit: 5, remaining: 0 });
    const denied = await api.request("POST", "/api/counters/signups/limit", limit);
    assert.equal(denied.status, 200, "a denial is a value");
    assert.equal(denied.json.ok, false);
    assert.equal(denied.json.recorded, 0);
    assert.ok(denied.json.retryAfter > 0);
    assert.equal(denied.json.violations[0].kind, "atMost");
    const cooldown = await api.request("POST", "/api/counters/signups/limit", {
      rules: [{ kind: "cooldown", duration: "1m" }],
    });
    assert.equal(cooldown.json.ok, false);
  });

  it("rejects bad counter requests and unknown counters, naming the field", async () => {
    assertError(await api.request("GET", "/api/counters/never-recorded"), 404, "NOT_FOUND", "id");
    assertError(await api.request("GET", "/api/counters/signups?unit=fortnights"), 400, "INVALID_REQUEST", "unit");
    assertError(await api.request("GET", "/api/counters/signups?last=0"), 400, "INVALID_REQUEST", "last");
    assertError(await api.request("POST", "/api/counters/x/record", { count: -1 }), 400, "INVALID_REQUEST", "count");
    assertError(await api.request("POST", "/api/counters/x/record", { count: "3" }), 400, "INVALID_REQUEST", "count");
    assertError(await api.request("POST", "/api/counters/x/record", { at: "soon" }), 400, "INVALID_TIMESTAMP", "at");
    assertError(await api.request("POST", "/api/counters/%01bad/record", {}), 400, "INVALID_REQUEST", "id");
    assertError(await api.request("POST", "/api/counters/x/limit", {}), 400, "INVALID_REQUEST", "rules");
    assertError(await api.request("POST", "/api/counters/x/limit", "{"), 400, "INVALID_REQUEST", "body");
    assertError(
      await api.request("POST", "/api/counters/x/limit", {
        rules: [{ kind: "atMost", limit: 5, window: "1h" }, { kind: "never" }],
      }),
      400,
      "INVALID_REQUEST",
      "rules[1].kind",
    );
    assertError(
      await api.request("POST", "/api/counters/x/limit", {
        rules: [{ kind: "atMost", limit: 5, window: "fortnight" }],
      }),
      400,
      "INVALID_WINDOW",
      "rules[0].window",
    );
    assertError(
      await api.request("POST", "/api/counters/x/limit", { rules: [{ kind: "atMost", window: "1h" }] }),
      400,
      "INVALID_REQUEST",
      "rules[0].limit",
    );
  });
});

describe("API: trackers", () => {
  const definition = { name: "two-sales", conditions: [{ path: "kind", op: "eq", value: "sale" }], target: 2 };

  it("adds, tracks, lists, resets and removes trackers", async () => {
    const added = await api.request("POST", "/api/trackers/shop", definition);
    assert.equal(added.status, 201, added.text);
    assert.equal(added.json.name, "two-sales");
    const sum = await api.request("POST", "/api/trackers/shop", {
      tracker: { type: "accumulation", name: "revenue", key: "amount", conditions: [], target: 100 },
    });
    assert.equal(sum.status, 201, sum.text);

    const tracked = await api.request("POST", "/api/trackers/shop/track", {
      data: { kind: "sale", amount: 40 },
      eventId: "o-1",
    });
    assert.equal(tracked.status, 200, tracked.text);
    assert.equal(tracked.json.ok, true);
    assert.deepEqual(tracked.json.dirtied.map((t: { name: string }) => t.name).sort(), ["revenue", "two-sales"]);
    const again = await api.request("POST", "/api/trackers/shop/track", {
      data: { kind: "sale", amount: 40 },
      eventId: "o-1",
    });
    assert.equal(again.json.duplicate, true);
    const second = await api.request("POST", "/api/trackers/shop/track", { data: { kind: "sale", amount: 70 } });
    assert.deepEqual(second.json.completed.map((t: { name: string }) => t.name).sort(), ["revenue", "two-sales"]);

    const all = await api.request("GET", "/api/trackers");
    assert.deepEqual(
      all.json.groups.map((g: { groupId: string }) => g.groupId),
      ["shop"],
    );
    const group = await api.request("GET", "/api/trackers/shop");
    assert.equal(group.json.trackers.length, 2);
    const one = await api.request("GET", "/api/trackers/shop/revenue");
    assert.equal(one.json.progress, 110);
    assert.equal(one.json.completed, true);
    assert.deepEqual((await api.request("GET", "/api/trackers/nobody")).json.trackers, []);

    const added2 = await api.request("POST", "/api/trackers/club", { ...definition, target: [1, 5] });
    assert.equal(added2.status, 201);
    await api.request("POST", "/api/trackers/club/track", { data: { kind: "sale" } });
    await api.request("POST", "/api/trackers/club/track", { data: { kind: "sale" } });
    const reset = await api.request("POST", "/api/trackers/club/two-sales/reset", { policy: 1 });
    assert.equal(reset.status, 200, reset.text);
    assert.equal(reset.json.progress, 0);

    const removed = await api.request("DELETE", "/api/trackers/club/two-sales");
    assert.equal(removed.json.removed, 1);
    assertError(await api.request("DELETE", "/api/trackers/club/two-sales"), 404, "TRACKER_NOT_FOUND", "name");
  });

  it("rejects bad tracker requests and unknown trackers, naming the field", async () => {
    assertError(await api.request("POST", "/api/trackers/shop", definition), 409, "CONFLICTING_NAME");
    assertError(
      await api.request("POST", "/api/trackers/shop", { name: "x", target: 1 }),
      400,
      "INVALID_REQUEST",
      "conditions",
    );
    assertError(
      await api.request("POST", "/api/trackers/shop", { name: "x", conditions: [], target: 1, type: "max" }),
      400,
      "INVALID_REQUEST",
      "type",
    );
    assertError(
      await api.request("POST", "/api/trackers/shop", {
        name: "x",
        conditions: [],
        target: 1,
        limiters: [{ type: "forever" }],
      }),
      400,
      "INVALID_REQUEST",
      "limiters[0].type",
    );
    const badTarget = await api.request("POST", "/api/trackers/shop", { name: "x", conditions: [], target: -1 });
    assertError(badTarget, 400, "INVALID_TRACKER", "body");
    const badCondition = await api.request("POST", "/api/trackers/shop", {
      tracker: { name: "x", conditions: [{ path: "a", op: "near" }], target: 1 },
    });
    assertError(badCondition, 400, "INVALID_CONDITION", "tracker");
    assertError(await api.request("POST", "/api/trackers/shop/track", {}), 400, "INVALID_REQUEST", "data");
    assertError(await api.request("POST", "/api/trackers/shop/track", { data: [] }), 400, "INVALID_REQUEST", "data");
    assertError(await api.request("POST", "/api/trackers/shop/track", "nope"), 400, "INVALID_REQUEST", "body");
    assertError(await api.request("POST", "/api/trackers/shop/nope/reset", {}), 404, "TRACKER_NOT_FOUND");
    assertError(
      await api.request("POST", "/api/trackers/shop/two-sales/reset", { policy: 7 }),
      400,
      "INVALID_REQUEST",
      "policy",
    );
    assertError(await api.request("GET", "/api/trackers/shop/nope"), 404, "TRACKER_NOT_FOUND", "name");
    assertError(await api.request("GET", "/api/trackers/%20"), 400, "INVALID_REQUEST", "group");
  });
});
