/**
 * Example 1 (dictrack's "User Activity Tracker"): one tracker value added to three groups;
 * listeners hear milestones; `dirtied` lists what each event moved.
 * dictrack needed Redis + MongoDB here (its memory cache crashed on any non-completing progress);
 * tally runs it on the memory store, or any TrackerStore passed in.
 *   npx tsx examples/tracker-user-activity.ts
 */
import {
  CountTracker,
  KeyValueInList,
  MemoryTrackerStore,
  type TrackerStore,
  TrackingManager,
} from "../src/tracker.ts";

export async function main(store: TrackerStore = new MemoryTrackerStore()): Promise<Record<string, number>> {
  const manager = new TrackingManager({ store });
  manager.on("stageCompleted", (e) => console.log(`🎯 ${e.groupId} reached ${e.tracker.progress}/${e.tracker.target}`));
  manager.on("allCompleted", (e) => console.log(`🎉 ${e.groupId} completed all milestones (${e.tracker.target})`));

  const milestone = new CountTracker({
    name: "activity_milestone",
    target: [10, 50, 100, 500, 1000],
    conditions: [new KeyValueInList("event_type", ["login", "purchase", "comment", "share"])],
  });
  // The same value joins every group: addTracker stores a copy and never touches `milestone`.
  for (const user of ["user_001", "user_002", "user_003"]) await manager.addTracker(user, milestone);

  const activities = [
    { user_id: "user_001", event_type: "login", timestamp: 1699000000 },
    { user_id: "user_001", event_type: "purchase", timestamp: 1699000100 },
    { user_id: "user_001", event_type: "comment", timestamp: 1699000200 },
    { user_id: "user_002", event_type: "logout", timestamp: 1699000300 },
  ];
  for (const a of activities) {
    const { dirtied } = await manager.track(a.user_id, a);
    console.log(`Tracked: ${a.event_type} for ${a.user_id}`);
    for (const t of dirtied) console.log(`  Progress: ${t.progress}/${t.target}`);
  }

  const progress: Record<string, number> = {};
  for (const user of ["user_001", "user_002", "user_003"]) {
    progress[user] = (await manager.getTrackers(user, "activity_milestone"))[0]?.progress ?? -1;
  }
  await manager.close();
  return progress;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
