/**
 * CountTracker and AccumulationTracker (spec §1.3).
 *
 * A Tracker object is always a **detached copy**: it wraps one immutable stored document and
 * copies on write (`progress`, `addTargets`), so changing it does nothing until it is passed to
 * `updateTracker`. Copies are cheap (one object pointing at shared frozen data), which is why the
 * manager can hand them out in every result and event.
 */

import { TallyError } from "../errors.ts";
import type { ConditionNode } from "./condition-node.ts";
import { limiterType } from "./limiter-runtime.ts";
import type { LimiterSnapshot } from "./limiters.ts";
import { SCHEMA_VERSION, type StoredTracker, type TrackerDefinition, type TrackerState } from "./stored-tracker.ts";
import {
  type AccumulationOptions,
  buildDefinition,
  checkTargets,
  compiledOf,
  type TrackerKind,
  type TrackerOptions,
} from "./tracker-definition.ts";

/** Internal: how copies are made from stored rows without re-parsing options. */
class Init {
  constructor(
    readonly row: StoredTracker,
    readonly now: number | null,
    readonly stageView: boolean,
  ) {}
}

abstract class TrackerBase {
  #row: StoredTracker;
  #now: number | null;
  #stageView: boolean;

  protected constructor(init: Init) {
    this.#row = init.row;
    this.#now = init.now;
    this.#stageView = init.stageView;
  }

  get type(): TrackerKind {
    return this.#row.type as TrackerKind;
  }
  get name(): string {
    return this.#row.name;
  }
  /** null until the tracker is stored in a group. */
  get groupId(): string | null {
    return this.#row.version === 0 ? null : this.#row.groupId;
  }
  /** The current stage's target. */
  get target(): number {
    return this.#def.targets[this.#state.stageIndex] as number;
  }
  /** The targets of the stages after the current one. */
  get multiTarget(): number[] {
    return this.#def.targets.slice(this.#state.stageIndex + 1);
  }
  /** 1-based. */
  get currentStage(): number {
    return this.#state.stageIndex + 1;
  }
  get stagesCompleted(): number {
    return this.#state.stagesCompleted;
  }
  get completed(): boolean {
    return this.#stageView || this.#state.completedAt !== null;
  }
  get completedAt(): number | null {
    return this.#state.completedAt;
  }
  get limited(): boolean {
    return this.#state.limited;
  }
  /** Live limiter state as of the call that produced this copy. */
  get limiters(): LimiterSnapshot[] {
    const now = this.#now ?? 0;
    const states = this.#state.limiters;
    return this.#def.limiters.map((def, i) => limiterType(def.type).snapshot(def, states[i] ?? {}, now));
  }
  get expiresAt(): number | null {
    return this.#row.expiresAt;
  }
  /** 0 until stored; bumped by every change. */
  get version(): number {
    return this.#row.version;
  }
  get createdAt(): number | null {
    return this.#row.version === 0 ? null : this.#row.createdAt;
  }
  get updatedAt(): number | null {
    return this.#row.version === 0 ? null : this.#row.updatedAt;
  }
  get conditions(): ConditionNode[] {
    return structuredClone(this.#def.conditions);
  }
  get resetPolicy(): number {
    return this.#def.resetPolicy;
  }
  get progressMode(): TrackerDefinition["progressMode"] {
    return this.#def.progressMode;
  }
  get loopForever(): boolean {
    return this.#def.loopForever;
  }
  get progress(): number {
    return this.#state.progress;
  }
  /** Sets progress on this copy (never completes a stage); store it with `updateTracker`. */
  set progress(value: number) {
    this.#writable();
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new TallyError("INVALID_TRACKER", `progress ${JSON.stringify(value)} must be a finite number`);
    }
    this.#row = { ...this.#row, state: { ...this.#state, progress: value } };
  }

  /** Appends stage targets to this copy; store it with `updateTracker`. */
  addTargets(targets: number | readonly number[]): void {
    this.#writable();
    const extra = typeof targets === "number" ? [targets] : [...targets];
    if (extra.length === 0) throw new TallyError("INVALID_TRACKER", "addTargets needs at least one target");
    const all = checkTargets([...this.#def.targets, ...extra], this.#def.progressMode);
    this.#row = { ...this.#row, definition: { ...this.#def, targets: all } };
  }

  /** The stored document (spec §4.2). */
  toJSON(): StoredTracker {
    return structuredClone(this.#row);
  }

  get #def(): TrackerDefinition {
    return this.#row.definition;
  }
  get #state(): TrackerState {
    return this.#row.state;
  }
  #writable(): void {
    if (this.completed) {
      throw new TallyError(
        "TRACKER_COMPLETED",
        `tracker "${this.name}" is completed: its progress and targets are final`,
      );
    }
  }

  /** @internal The document this copy wraps (manager and stores only). */
  static rowOf(tracker: TrackerBase): StoredTracker {
    return tracker.#row;
  }
}

/** Counts the events that match its conditions. */
export class CountTracker extends TrackerBase {
  constructor(options: TrackerOptions) {
    super(options instanceof Init ? options : fresh("count", options));
  }
}

/** Sums a numeric field (`key`) of the events that match its conditions. */
export class AccumulationTracker extends TrackerBase {
  constructor(options: AccumulationOptions) {
    super(options instanceof Init ? options : fresh("accumulation", options));
  }
  get key(): string | (string | number)[] {
    const def = TrackerBase.rowOf(this).definition;
    return structuredClone(def.key as string | (string | number)[]);
  }
}

/** A stored row this tally cannot read (unknown type, newer schema): only identity works. */
class UnreadableTracker extends TrackerBase {
  constructor(init: Init) {
    super(init);
  }
}

export type Tracker = CountTracker | AccumulationTracker;

function fresh(kind: TrackerKind, options: unknown): Init {
  const { name, def, state } = buildDefinition(kind, options);
  const row: StoredTracker = {
    schemaVersion: SCHEMA_VERSION,
    type: kind,
    groupId: "",
    name,
    seq: 0,
    version: 0,
    definition: def,
    state,
    expiresAt: null,
    createdAt: 0,
    updatedAt: 0,
  };
  return new Init(row, null, false);
}

/**
 * A detached copy of a stored row. `now` dates limiter snapshots; `stageView` marks the copy a
 * STAGE_COMPLETED event carries (`completed: true` for the finished stage).
 */
export function trackerFromRow(row: StoredTracker, now: number, stageView = false): Tracker {
  const init = new Init(row, now, stageView);
  if (row.type === "count") return new CountTracker(init as unknown as TrackerOptions);
  if (row.type === "accumulation") return new AccumulationTracker(init as unknown as AccumulationOptions);
  return new UnreadableTracker(init) as unknown as Tracker;
}

export function rowOf(tracker: Tracker): StoredTracker {
  if (!(tracker instanceof TrackerBase)) {
    throw new TallyError(
      "INVALID_ARGUMENT",
      "pass a CountTracker or AccumulationTracker (or a copy the manager returned)",
    );
  }
  return TrackerBase.rowOf(tracker);
}

/** Checks a row can be read (throws UNKNOWN_TYPE / UNSUPPORTED_SCHEMA) before handing it out. */
export function readableTracker(row: StoredTracker, now: number): Tracker {
  compiledOf(row);
  return trackerFromRow(row, now);
}
