/**
 * Tracker events (spec §1.2): dictrack's codes and names. Events are delivered only after the
 * state they describe has committed, in generation order; see `listeners.ts` for delivery.
 */

import type { TallyError } from "../errors.ts";
import type { LimiterSnapshot } from "./limiters.ts";
import type { Tracker } from "./tracker.ts";

export const EVENT_TRACKER_ADDED = 1001;
export const EVENT_TRACKER_STAGE_COMPLETED = 1002;
export const EVENT_TRACKER_ALL_COMPLETED = 1003;
export const EVENT_TRACKER_RESET = 1004;
export const EVENT_TRACKER_LIMITED = 1005;
export const EVENT_TRACKER_PROGRESSED = 1006;
export const EVENT_TRACKER_EXPIRED = 1007;
export const EVENT_TRACKER_REMOVED = 1008;
export const EVENT_TRACKER_ERROR = 1009;

export const EVENT_NAMES = Object.freeze({
  1001: "added",
  1002: "stageCompleted",
  1003: "allCompleted",
  1004: "reset",
  1005: "limited",
  1006: "progressed",
  1007: "expired",
  1008: "removed",
  1009: "error",
} as const);

export type EventCode = keyof typeof EVENT_NAMES;
export type EventName = (typeof EVENT_NAMES)[EventCode];

export const EVENT_ALL: readonly EventCode[] = Object.freeze([1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009]);

const CODE_BY_NAME = new Map<string, EventCode>(
  Object.entries(EVENT_NAMES).map(([code, name]) => [name, Number(code) as EventCode]),
);

export function eventCodeOf(event: unknown): EventCode | undefined {
  if (typeof event === "number") return event in EVENT_NAMES ? (event as EventCode) : undefined;
  if (typeof event === "string") return CODE_BY_NAME.get(event);
  return undefined;
}

export interface TrackerEvent {
  code: EventCode;
  /** The event's name ("stageCompleted", …). */
  type: EventName;
  /** When it happened (the `now` of the call), epoch ms. */
  at: number;
  groupId: string;
  name: string;
  tracker: Tracker;
  eventId?: string;
  /** STAGE_COMPLETED / ALL_COMPLETED: the 1-based stage completed. */
  stage?: number;
  /** LIMITED: the limiter responsible. */
  limiter?: LimiterSnapshot;
  /** PROGRESSED: the change of progress. */
  delta?: number;
  /** RESET: why. */
  reason?: "stage" | "manual";
  /** ERROR: what failed. */
  error?: TallyError | unknown;
  source?: "track" | "listener";
  /** ERROR from a listener: the event whose listener threw. */
  failed?: TrackerEvent;
}

export type Listener = (event: TrackerEvent) => void | Promise<void>;
