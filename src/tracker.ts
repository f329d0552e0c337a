/**
 * The `tally/tracker` entry: curated public exports only (no `export *`). Each module adds its
 * exports here as it lands.
 */

export { MemoryTrackerStore } from "./storage/memory/tracker-store.ts";
export { evaluateCondition } from "./tracker/condition-compile.ts";
export type { ConditionInput, ConditionNode, CustomNode, LeafNode, LeafOp } from "./tracker/condition-node.ts";
export {
  Condition,
  KeyExists,
  KeyNotExists,
  KeyValueContained,
  KeyValueEQ,
  KeyValueGE,
  KeyValueGT,
  KeyValueInList,
  KeyValueLE,
  KeyValueListHasItem,
  KeyValueListIntersectList,
  KeyValueListNotHasItem,
  KeyValueListNotIntersectList,
  KeyValueLT,
  KeyValueNE,
  KeyValueNotContained,
  KeyValueNotInList,
} from "./tracker/conditions.ts";
export { type CustomConditionContext, type CustomConditionFn, defineCondition } from "./tracker/custom-conditions.ts";
export {
  EVENT_ALL,
  EVENT_NAMES,
  EVENT_TRACKER_ADDED,
  EVENT_TRACKER_ALL_COMPLETED,
  EVENT_TRACKER_ERROR,
  EVENT_TRACKER_EXPIRED,
  EVENT_TRACKER_LIMITED,
  EVENT_TRACKER_PROGRESSED,
  EVENT_TRACKER_REMOVED,
  EVENT_TRACKER_RESET,
  EVENT_TRACKER_STAGE_COMPLETED,
  type EventCode,
  type EventName,
  type Listener,
  type TrackerEvent,
} from "./tracker/events.ts";
export type { Json, JsonObject } from "./tracker/json-value.ts";
export type { Lookup, Path } from "./tracker/key-path.ts";
export {
  type CalendarPer,
  CountLimiter,
  type Limiter,
  type LimiterDefinition,
  type LimiterSnapshot,
  QuotaLimiter,
  TimeLimiter,
} from "./tracker/limiters.ts";
export type { ListenerFilter, Logger } from "./tracker/listeners.ts";
export { type AddOptions, TrackingManager, type TrackingManagerOptions } from "./tracker/manager.ts";
export { ResetPolicy, type ResetPolicyValue } from "./tracker/reset-policy.ts";
export {
  SCHEMA_VERSION,
  type StoredTracker,
  type TrackerDefinition,
  type TrackerState,
} from "./tracker/stored-tracker.ts";
export { type TrackError, type TrackResult, toTuple } from "./tracker/track-result.ts";
export { AccumulationTracker, CountTracker, type Tracker } from "./tracker/tracker.ts";
export type { AccumulationOptions, TrackerOptions } from "./tracker/tracker-definition.ts";
export type {
  TrackerStore,
  TrackerStorePlan,
  TrackerStoreView,
  TransactOptions,
} from "./tracker/tracker-store.ts";
