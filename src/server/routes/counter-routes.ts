/**
 * Counter routes on the server's EventStore (auto-persisted to SQLite).
 *
 *   GET  /api/counters                 every counter with its last minute/hour/day/week and ever sums
 *   GET  /api/counters/:id             one counter; ?last=N&unit=minutes adds that window's sum and buckets
 *   POST /api/counters/:id/record      { count?: 1, at?: time }
 *   POST /api/counters/:id/limit       { rules: [{ kind: "atMost", limit, window, sliding? } |
 *                                        { kind: "cooldown" | "within", duration }], count?: 1, record?: false }
 *
 * A denied limit is a 200 with `ok: false` and `retryAfter` (denial is a value, not an error).
 */

import { isTallyError } from "../../errors.ts";
import type { EventStore } from "../../index.ts";
import { requireCounters, type ServerContext } from "../context.ts";
import { type CounterUnit, counterSums, parseWindow } from "../counter-view.ts";
import { type Body, objectBody, optionalBoolean, optionalInt, queryInt } from "../fields.ts";
import { badField, HttpError } from "../http-io.ts";
import type { Router } from "../router.ts";
import { parseTime } from "../time-args.ts";

const UNITS: readonly string[] = ["seconds", "minutes", "hours", "days", "weeks", "months", "years"];
const MAX_COUNT = 2 ** 32 - 1;

/** Runs a store call, naming the `id` field when the store rejects the id. */
function withId<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (isTallyError(error) && error.code === "INVALID_EVENT_ID") throw badField("id", error.message);
    throw error;
  }
}

function requireKnown(store: EventStore, id: string): void {
  if (withId(() => store.query(id).lastSeenAt()) === undefined) {
    throw new HttpError(404, "NOT_FOUND", `no counter "${id}" has been recorded`, "id");
  }
}

function applyRule(limiter: ReturnType<EventStore["limit"]>, id: string, rule: unknown, i: number): void {
  const field = `rules[${i}]`;
  if (typeof rule !== "object" || rule === null || Array.isArray(rule)) throw badField(field, "must be an object");
  const r = rule as Body;
  switch (r.kind) {
    case "atMost": {
      const limit = optionalInt(r, "limit", { field: `${field}.limit`, max: MAX_COUNT });
      if (limit === undefined) throw badField(`${field}.limit`, "required: an integer >= 0");
      if (r.window === undefined) throw badField(`${field}.window`, 'required: e.g. "1m", "1h" or "days"');
      const sliding = optionalBoolean(r, "sliding", `${field}.sliding`) ?? false;
      limiter.atMost(id, limit, parseWindow(r.window, `${field}.window`), { sliding });
      return;
    }
    case "atLeast": {
      const count = optionalInt(r, "count", { field: `${field}.count`, max: MAX_COUNT });
      if (count === undefined) throw badField(`${field}.count`, "required: an integer >= 0");
      limiter.atLeast(id, count, parseWindow(r.window, `${field}.window`));
      return;
    }
    case "cooldown":
    case "within": {
      if (r.duration === undefined) throw badField(`${field}.duration`, 'required: e.g. "30s"');
      try {
        if (r.kind === "cooldown") limiter.cooldown(id, r.duration as "1s");
        else limiter.within(id, r.duration as "1s");
      } catch (error) {
        if (isTallyError(error)) throw badField(`${field}.duration`, error.message);
        throw error;
      }
      return;
    }
    default:
      throw badField(`${field}.kind`, 'must be "atMost", "atLeast", "cooldown" or "within"');
  }
}

export function counterRoutes(router: Router, ctx: ServerContext): void {
  router.get("/api/counters", () => {
    const store = requireCounters(ctx);
    const ids = [...store.exportAll().keys()].sort();
    return { counters: ids.map((id) => counterSums(store, id)) };
  });

  router.get("/api/counters/:id", (req) => {
    const store = requireCounters(ctx);
    const id = req.params.id ?? "";
    requireKnown(store, id);
    const n = queryInt(req.query, "last");
    const unit = req.query.get("unit");
    if (unit !== null && !UNITS.includes(unit)) throw badField("unit", `must be one of ${UNITS.join(", ")}`);
    const last = n === undefined && unit === null ? null : { n: n ?? 1, unit: (unit ?? "minutes") as CounterUnit };
    return counterSums(store, id, last);
  });

  router.post("/api/counters/:id/record", async (req) => {
    const store = requireCounters(ctx);
    const id = req.params.id ?? "";
    const body = objectBody(await req.body(), true);
    const count = optionalInt(body, "count", { max: MAX_COUNT }) ?? 1;
    if (body.at !== undefined) {
      if (typeof body.at !== "string" && typeof body.at !== "number") throw badField("at", "must be a time");
      const at = parseTime(String(body.at), ctx.clock.now(), "at");
      withId(() => store.recordCountAt(id, count, at));
    } else {
      withId(() => store.recordCount(id, count));
    }
    return counterSums(store, id);
  });

  router.post("/api/counters/:id/limit", async (req) => {
    const store = requireCounters(ctx);
    const id = req.params.id ?? "";
    const body = objectBody(await req.body());
    if (!Array.isArray(body.rules) || body.rules.length === 0) {
      throw badField("rules", 'must be a non-empty array, e.g. [{ "kind": "atMost", "limit": 10, "window": "1m" }]');
    }
    const count = optionalInt(body, "count", { max: MAX_COUNT }) ?? 1;
    const record = optionalBoolean(body, "record") ?? false;
    const limiter = withId(() => store.limit());
    for (const [i, rule] of body.rules.entries()) withId(() => applyRule(limiter, id, rule, i));
    const result = withId(() => (record ? limiter.checkAndRecord(id, count) : limiter.check(id, count)));
    const hasAtMost = limiter.constraints.some((c) => c.kind === "atMost");
    return {
      id,
      ok: result.ok,
      recorded: record && result.ok ? count : 0,
      retryAfter: result.ok ? null : (result.error.retryAfter ?? null),
      violations: result.ok
        ? []
        : result.error.violations.map((v) => ({
            kind: v.constraint.kind,
            retryAfter: v.retryAfter ?? null,
            observed: v.observed ?? null,
          })),
      usage: hasAtMost ? limiter.usage(id) : null,
    };
  });
}
