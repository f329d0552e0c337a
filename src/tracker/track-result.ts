/** What one `track` call reports (spec §1.1, §2.7). */

import type { TallyError } from "../errors.ts";
import type { Tracker } from "./tracker.ts";

export interface TrackError {
  name: string;
  error: TallyError;
  tracker: Tracker;
}

export interface TrackResult {
  /** true iff `errors` is empty. */
  ok: boolean;
  /** The eventId was already applied to this group: nothing evaluated, every list empty. */
  duplicate: boolean;
  /** Trackers whose conditions all matched, plus trackers that became limited in this call. */
  dirtied: Tracker[];
  /** Trackers that reached ALL_COMPLETED in this call. */
  completed: Tracker[];
  /** Every active tracker limited after the call. */
  limited: Tracker[];
  /** Trackers whose evaluation failed; their state is unchanged. */
  errors: TrackError[];
}

/** dictrack's tuple order: `const [isOk, dirtied, completed, limited] = toTuple(result)`. */
export function toTuple(r: TrackResult): [ok: boolean, dirtied: Tracker[], completed: Tracker[], limited: Tracker[]] {
  return [r.ok, r.dirtied, r.completed, r.limited];
}
