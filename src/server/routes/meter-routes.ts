/**
 * Meter routes: record events, trigger processing, read reports.
 *
 *   GET  /api/meter/reports                  the reports this server processes, with pending counts
 *   POST /api/meter/events                   record one event or { events: [...] } (at most 1000)
 *   POST /api/meter/:name/process            process pending events of a report now
 *   GET  /api/meter/:name/summary            ?version&from&to&by.<param>=<value>
 *   GET  /api/meter/:name/series             ?version&every=minute|hour|day&from&to&by.<param>=…
 *   GET  /api/meter/:name/compare            ?version&before=FROM..TO&after=FROM..TO&by.<param>=…
 *   GET  /api/meter/:name/breakdown          ?version&by=p[,p]&from&to&sort&order&limit
 *   GET  /api/meter/:name/definition         ?version
 *
 * `version` may be omitted for a report this server processes. Times are RFC 3339, epoch ms, `now`
 * or relative (`-1h`).
 */

import { requireMeter, type ServerContext } from "../context.ts";
import {
  type Body,
  objectBody,
  optionalInt,
  optionalObject,
  optionalString,
  queryBy,
  queryInt,
  requiredString,
} from "../fields.ts";
import { badField, HttpError } from "../http-io.ts";
import type { ApiRequest, Router } from "../router.ts";
import { parseRange, parseTime } from "../time-args.ts";

const STATUSES = ["success", "failure", "skipped"] as const;
const MAX_EVENTS = 1000;

function versionOf(ctx: ServerContext, req: ApiRequest): number {
  const version = queryInt(req.query, "version") ?? ctx.reports.get(req.params.name ?? "")?.version;
  if (version === undefined) throw badField("version", "required: the report version, e.g. ?version=1");
  return version;
}

function windowOf(req: ApiRequest, now: number): { from: number; to: number } | null {
  const from = req.query.get("from");
  const to = req.query.get("to");
  if (from === null && to === null) return null;
  if (from === null || to === null) throw badField(from === null ? "from" : "to", "from and to go together");
  const window = { from: parseTime(from, now, "from"), to: parseTime(to, now, "to") };
  if (window.to <= window.from) throw badField("to", "must be after from");
  return window;
}

async function recordOne(
  ctx: ServerContext,
  body: Body,
  field: string,
): Promise<{ recorded: boolean; startedAt: string | null }> {
  const meter = requireMeter(ctx);
  const name = requiredString(body, "name", `${field}name`);
  const status = body.status ?? "success";
  if (!(STATUSES as readonly unknown[]).includes(status)) {
    throw badField(`${field}status`, `must be one of ${STATUSES.join(", ")}`);
  }
  const params = optionalObject(body, "params", `${field}params`) ?? {};
  const durationMs = optionalInt(body, "durationMs", { field: `${field}durationMs`, max: 366 * 86_400_000 }) ?? 0;
  const startedText = body.startedAt;
  const now = ctx.clock.now();
  let startedAt = now - durationMs;
  if (startedText !== undefined) {
    if (typeof startedText !== "string" && typeof startedText !== "number") {
      throw badField(`${field}startedAt`, "must be an RFC 3339 string or epoch ms");
    }
    startedAt = parseTime(String(startedText), now, `${field}startedAt`);
  }
  const reason = optionalString(body, "reason", `${field}reason`);
  const finish = (event: ReturnType<typeof meter.start>) =>
    status === "success"
      ? event.success()
      : status === "failure"
        ? event.failure(reason ?? null)
        : event.skip(reason ?? null);
  const clock = ctx.recordingClock;
  let result: Awaited<ReturnType<typeof finish>>;
  if (clock === null) {
    result = await finish(meter.start(name, params));
  } else {
    const event = clock.at(startedAt, () => meter.start(name, params));
    result = await clock.at(startedAt + durationMs, () => finish(event));
  }
  if (result.error !== null) {
    const code = result.error.code;
    if (code === "INVALID_NAME") throw badField(`${field}name`, result.error.message);
    if (code === "INVALID_PARAMS") throw badField(`${field}params`, result.error.message);
    throw result.error;
  }
  return { recorded: result.recorded, startedAt: result.payload?.startedAt ?? null };
}

export function meterRoutes(router: Router, ctx: ServerContext): void {
  router.get("/api/meter/reports", async () => {
    const meter = requireMeter(ctx);
    const reports = [];
    for (const report of ctx.reports.list()) {
      let definition = null;
      try {
        definition = await meter.reportDefinition(report.name, { version: report.version });
      } catch {
        // not processed yet: the first pass stores it
      }
      reports.push({
        name: report.name,
        version: report.version,
        indexes: definition?.indexes ?? report.definition?.indexes ?? [],
        intervals: definition?.intervals ?? report.definition?.intervals ?? [],
        pending: await meter.pendingCount(report.name),
      });
    }
    return {
      namespace: ctx.namespace,
      reports,
      lastProcessedAt: ctx.processor?.lastPassAt == null ? null : new Date(ctx.processor.lastPassAt).toISOString(),
    };
  });

  router.post("/api/meter/events", async (req) => {
    const body = objectBody(await req.body());
    if (body.events === undefined) return recordOne(ctx, body, "");
    if (!Array.isArray(body.events) || body.events.length === 0 || body.events.length > MAX_EVENTS) {
      throw badField("events", `must be an array of 1..${MAX_EVENTS} events`);
    }
    // Validate every event before recording any, so a bad one in the middle writes nothing.
    body.events.forEach((event, i) => {
      const item = objectBodyAt(event, `events[${i}]`);
      requiredString(item, "name", `events[${i}].name`);
    });
    const results = [];
    for (const [i, event] of body.events.entries()) results.push(await recordOne(ctx, event as Body, `events[${i}].`));
    return { recorded: results.filter((r) => r.recorded).length, results };
  });

  router.post("/api/meter/:name/process", async (req) => {
    const meter = requireMeter(ctx);
    const name = req.params.name ?? "";
    const body = objectBody(await req.body(), true);
    const version = optionalInt(body, "version", { min: 1 }) ?? ctx.reports.get(name)?.version;
    if (version === undefined) throw badField("version", "required for a report this server does not process");
    const entry = ctx.reports.get(name);
    const define = await ctx.reports.defineFor(
      meter,
      entry !== undefined && entry.version === version ? entry : { name, version, definition: null },
    );
    return meter.processPending(name, { version }, define);
  });

  router.get("/api/meter/:name/summary", (req) => {
    const window = windowOf(req, ctx.clock.now());
    return requireMeter(ctx).summary(req.params.name ?? "", {
      version: versionOf(ctx, req),
      by: queryBy(req.query),
      ...(window ?? {}),
    });
  });

  router.get("/api/meter/:name/series", (req) => {
    const every = req.query.get("every") ?? "minute";
    if (every !== "minute" && every !== "hour" && every !== "day") {
      throw badField("every", `must be minute, hour or day, got "${every}"`);
    }
    const window = windowOf(req, ctx.clock.now());
    return requireMeter(ctx).series(req.params.name ?? "", {
      version: versionOf(ctx, req),
      every,
      by: queryBy(req.query),
      ...(window ?? {}),
    });
  });

  router.get("/api/meter/:name/compare", (req) => {
    const now = ctx.clock.now();
    const before = req.query.get("before");
    const after = req.query.get("after");
    if (before === null) throw badField("before", "required: FROM..TO, e.g. -2h..-1h");
    if (after === null) throw badField("after", "required: FROM..TO, e.g. -1h..now");
    return requireMeter(ctx).compare(req.params.name ?? "", {
      version: versionOf(ctx, req),
      before: parseRange(before, now, "before"),
      after: parseRange(after, now, "after"),
      by: queryBy(req.query),
    });
  });

  router.get("/api/meter/:name/breakdown", (req) => {
    const by = req.query.get("by");
    if (by === null || by === "") throw badField("by", "required: the index params, e.g. by=queue");
    const window = windowOf(req, ctx.clock.now());
    if (window === null) throw badField("from", "required with to: the window to break down");
    const order = req.query.get("order");
    if (order !== null && order !== "asc" && order !== "desc") throw badField("order", "must be asc or desc");
    const sort = req.query.get("sort");
    const limit = queryInt(req.query, "limit");
    return requireMeter(ctx).breakdown(req.params.name ?? "", {
      version: versionOf(ctx, req),
      by: by.split(","),
      ...window,
      ...(sort === null ? {} : { sort: sort as "count" }),
      ...(order === null ? {} : { order }),
      ...(limit === undefined ? {} : { limit }),
    });
  });

  router.get("/api/meter/:name/definition", (req) =>
    requireMeter(ctx).reportDefinition(req.params.name ?? "", { version: versionOf(ctx, req) }),
  );
}

function objectBodyAt(value: unknown, field: string): Body {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HttpError(400, "INVALID_REQUEST", `${field}: must be a JSON object`, field);
  }
  return value as Body;
}
