/**
 * Tracker routes on the server's TrackingManager (SQLite store).
 *
 *   GET    /api/trackers                        every known group with its trackers
 *   GET    /api/trackers/:group                 the group's trackers ([] for an unknown group)
 *   GET    /api/trackers/:group/:name           one tracker (404 when unknown)
 *   POST   /api/trackers/:group                 add: a tracker definition (see tracker-view.ts), 201
 *   POST   /api/trackers/:group/track           { data: {...}, eventId? } -> ok, dirtied, completed, limited, errors
 *   POST   /api/trackers/:group/:name/reset     { policy?: 0..3 }
 *   DELETE /api/trackers/:group/:name           remove
 */

import { isTallyError } from "../../errors.ts";
import { requireTrackers, type ServerContext } from "../context.ts";
import { objectBody, optionalInt, optionalObject, optionalString } from "../fields.ts";
import { badField, HttpError } from "../http-io.ts";
import { Reply, type Router } from "../router.ts";
import { trackerFromJson, trackerRow } from "../tracker-view.ts";

/** Names the `group` field when the manager rejects the group id. */
async function withGroup<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isTallyError(error) && error.code === "INVALID_ARGUMENT" && /group/i.test(error.message)) {
      throw badField("group", error.message);
    }
    throw error;
  }
}

export function trackerRoutes(router: Router, ctx: ServerContext): void {
  const groupOf = (params: Record<string, string>) => params.group ?? "";

  router.get("/api/trackers", async () => {
    const manager = requireTrackers(ctx);
    const groups = [];
    for (const groupId of [...ctx.trackerGroups].sort()) {
      groups.push({ groupId, trackers: (await manager.getTrackers(groupId)).map(trackerRow) });
    }
    return { groups };
  });

  router.get("/api/trackers/:group", async (req) => {
    const manager = requireTrackers(ctx);
    const groupId = groupOf(req.params);
    const trackers = await withGroup(() => manager.getTrackers(groupId));
    return { groupId, trackers: trackers.map(trackerRow) };
  });

  router.get("/api/trackers/:group/:name", async (req) => {
    const manager = requireTrackers(ctx);
    const name = req.params.name ?? "";
    const [tracker] = await withGroup(() => manager.getTrackers(groupOf(req.params), name));
    if (tracker === undefined)
      throw new HttpError(404, "TRACKER_NOT_FOUND", `no tracker "${name}" in this group`, "name");
    return trackerRow(tracker);
  });

  router.post("/api/trackers/:group", async (req) => {
    const manager = requireTrackers(ctx);
    const groupId = groupOf(req.params);
    const body = objectBody(await req.body());
    const definition = body.tracker === undefined ? body : body.tracker;
    const field = body.tracker === undefined ? "" : "tracker";
    const tracker = trackerFromJson(definition, field);
    const expire = optionalString(body, "expire");
    const added = await withGroup(() =>
      manager.addTracker(groupId, tracker, expire === undefined ? {} : { expire: expire as "1s" }),
    );
    ctx.trackerGroups.add(groupId);
    return new Reply(201, trackerRow(added));
  });

  router.post("/api/trackers/:group/track", async (req) => {
    const manager = requireTrackers(ctx);
    const groupId = groupOf(req.params);
    const body = objectBody(await req.body());
    const data = optionalObject(body, "data");
    if (data === undefined) throw badField("data", "required: the event as a JSON object");
    const eventId = optionalString(body, "eventId");
    const result = await withGroup(() => manager.track(groupId, data, eventId === undefined ? {} : { eventId }));
    ctx.trackerGroups.add(groupId);
    return {
      ok: result.ok,
      duplicate: result.duplicate,
      dirtied: result.dirtied.map(trackerRow),
      completed: result.completed.map(trackerRow),
      limited: result.limited.map(trackerRow),
      errors: result.errors.map((e) => ({ name: e.name, code: e.error.code, message: e.error.message })),
    };
  });

  router.post("/api/trackers/:group/:name/reset", async (req) => {
    const manager = requireTrackers(ctx);
    const body = objectBody(await req.body(), true);
    const policy = optionalInt(body, "policy", { max: 3 });
    const reset = await withGroup(() =>
      manager.resetTracker(
        groupOf(req.params),
        req.params.name ?? "",
        policy as Parameters<typeof manager.resetTracker>[2],
      ),
    );
    return trackerRow(reset);
  });

  router.delete("/api/trackers/:group/:name", async (req) => {
    const manager = requireTrackers(ctx);
    const name = req.params.name ?? "";
    const removed = await withGroup(() => manager.removeTracker(groupOf(req.params), name));
    if (removed === 0) throw new HttpError(404, "TRACKER_NOT_FOUND", `no tracker "${name}" in this group`, "name");
    return { removed };
  });
}
