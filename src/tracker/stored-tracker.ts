/**
 * The stored document of one tracker (spec §4.2): versioned JSON that every store keeps as it is.
 *
 * - `definition`: compiled conditions, all targets, tagged limiter definitions and the options.
 * - `state`: progress, stage index, per-limiter state; `target`, `multiTarget` and `currentStage`
 *   are derived from `stageIndex`.
 * Stores never interpret `definition`/`state` (PostgreSQL copies a few fields into columns for
 * indexes); the manager reads rows through `compiledOf`, which fails loudly on unknown types and
 * newer schema versions and never rewrites such a row.
 */

import type { ConditionNode } from "./condition-node.ts";
import type { LimiterState } from "./limiter-runtime.ts";
import type { LimiterDefinition } from "./limiters.ts";

export const SCHEMA_VERSION = 1;

export type ProgressMode = "cumulative" | "perStage";
export type Overflow = "carry" | "drop";

export interface TrackerDefinition {
  conditions: ConditionNode[];
  targets: number[];
  limiters: LimiterDefinition[];
  resetPolicy: number;
  progressMode: ProgressMode;
  overflow: Overflow;
  catchUp: boolean;
  loopForever: boolean;
  coerceNumbers: boolean;
  initProgress: number;
  /** AccumulationTracker only: the path summed. */
  key?: string | (string | number)[];
  /** AccumulationTracker only. */
  allowNegative?: boolean;
}

export interface TrackerState {
  progress: number;
  stageIndex: number;
  stagesCompleted: number;
  limited: boolean;
  limiters: LimiterState[];
  completedAt: number | null;
}

export interface StoredTracker {
  schemaVersion: number;
  type: string;
  groupId: string;
  name: string;
  /** Insertion order within the group. */
  seq: number;
  /** Bumped on every change of this row (optimistic checks in updateTracker). */
  version: number;
  definition: TrackerDefinition;
  state: TrackerState;
  expiresAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** Whether a row is still active (not completed). */
export function isActive(row: StoredTracker): boolean {
  return row.state?.completedAt === null || row.state?.completedAt === undefined;
}

export function isExpired(row: StoredTracker, now: number): boolean {
  return row.expiresAt !== null && row.expiresAt <= now;
}
