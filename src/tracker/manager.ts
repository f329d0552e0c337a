/**
 * TrackingManager (spec §1.1, §2.3): trackers of many groups on one `TrackerStore`.
 *
 * - Calls for one group run in arrival order within a process: while a group has a `transact` in
 *   flight, later calls queue and then run together as one batch (one `transact`, each call with
 *   its own result; duplicate eventIds are checked between them). A failed batch rejects them all.
 *   On a durable store the group stays busy for one macrotask after each transact, so callers
 *   resolved by it can queue and share the next commit (group commit; see `#after`).
 * - Events are collected inside the plan and delivered only after the commit, in generation
 *   order; the call resolves after its events are delivered.
 * - Every Tracker handed out is a detached copy.
 */

import { asTallyError, TallyError } from "../errors.ts";
import { type Clock, systemClock } from "../time/clock.ts";
import { type Duration, toMs } from "../time/duration.ts";
import { ConditionMemo } from "./condition-memo.ts";
import type { EventCode, EventName, Listener, TrackerEvent } from "./events.ts";
import {
  addStep,
  readStep,
  removeStep,
  resetStep,
  type Step,
  type StepEnv,
  sweepStep,
  trackStep,
  updateStep,
} from "./group-ops.ts";
import { isPlainObject } from "./key-path.ts";
import { consoleLogger, type ListenerFilter, ListenerRegistry, type Logger } from "./listeners.ts";
import type { ResetPolicyValue } from "./reset-policy.ts";
import { isExpired, type StoredTracker } from "./stored-tracker.ts";
import type { TrackResult } from "./track-result.ts";
import { readableTracker, rowOf, type Tracker } from "./tracker.ts";
import { checkName } from "./tracker-definition.ts";
import type { TrackerStore } from "./tracker-store.ts";
import { WorkingGroup } from "./working-group.ts";

export interface TrackingManagerOptions {
  /** Required; the manager never builds one. */
  store: TrackerStore;
  /** @default systemClock */
  clock?: Clock;
  /** @default warn/error to console.error */
  logger?: Logger;
  /** @default unset; "dictrack" only emits RESET before STAGE_COMPLETED at stage advances. */
  compat?: "dictrack";
  /** How long applied eventIds are remembered. @default "7d" */
  eventIdTtl?: Duration;
  /** Background expiry sweep period (timer unref'd). @default off */
  sweepInterval?: Duration;
  /** Most calls of one group merged into one transact. @default 256 */
  maxBatch?: number;
}

export interface AddOptions {
  /** Expire this long after now. */
  expire?: Duration;
  /** Expire at this epoch ms. */
  expireAt?: number;
}

interface Entry {
  step: Step<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface Outcome {
  ok: boolean;
  value?: unknown;
  error?: unknown;
  events: TrackerEvent[];
}

const MAX_ID = 200;

export class TrackingManager {
  readonly #store: TrackerStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #compat: boolean;
  readonly #ttlMs: number;
  readonly #maxBatch: number;
  /** Wait one macrotask between a group's transacts (durable stores): see `#after`. */
  readonly #gather: boolean;
  readonly #listeners: ListenerRegistry;
  readonly #memo = new ConditionMemo();
  readonly #queues = new Map<string, Entry[]>();
  readonly #wants = (code: EventCode): boolean => this.#listeners.wants(code);
  #active = 0;
  #idle: (() => void)[] = [];
  #closed = false;
  #sweepTimer: NodeJS.Timeout | undefined;

  constructor(opts: TrackingManagerOptions) {
    if (opts === undefined || opts === null || typeof opts.store?.transact !== "function") {
      throw new TallyError("INVALID_ARGUMENT", "TrackingManager needs { store }: e.g. new MemoryTrackerStore()");
    }
    this.#store = opts.store;
    this.#clock = opts.clock ?? systemClock;
    this.#logger = opts.logger ?? consoleLogger;
    if (opts.compat !== undefined && opts.compat !== "dictrack") {
      throw new TallyError("INVALID_ARGUMENT", `compat ${JSON.stringify(opts.compat)} must be "dictrack" or unset`);
    }
    this.#compat = opts.compat === "dictrack";
    this.#ttlMs = toMs(opts.eventIdTtl ?? "7d", "eventIdTtl");
    this.#maxBatch = opts.maxBatch ?? 256;
    this.#gather = opts.store.capabilities?.durable === true;
    this.#listeners = new ListenerRegistry(this.#logger);
    if (opts.sweepInterval !== undefined) {
      const every = toMs(opts.sweepInterval, "sweepInterval");
      this.#sweepTimer = setInterval(() => {
        this.sweepExpired().catch((error) => this.#logger.warn("tally tracker: expiry sweep failed", error));
      }, every);
      this.#sweepTimer.unref();
    }
  }

  // --- listeners -----------------------------------------------------------------------------

  addListener(event: EventCode | EventName, cb: Listener, filter?: ListenerFilter): () => void {
    return this.#listeners.add(event, cb, filter);
  }
  on(event: EventCode | EventName, cb: Listener, filter?: ListenerFilter): () => void {
    return this.#listeners.add(event, cb, filter);
  }
  once(event: EventCode | EventName, cb: Listener, filter?: ListenerFilter): () => void {
    return this.#listeners.add(event, cb, filter, true);
  }
  off(event: EventCode | EventName, cb: Listener): boolean {
    return this.#listeners.off(event, cb);
  }

  // --- trackers ------------------------------------------------------------------------------

  async addTracker(groupId: string, tracker: Tracker, opts: AddOptions = {}): Promise<Tracker> {
    const [stored] = await this.addTrackers(groupId, [tracker], opts);
    return stored as Tracker;
  }

  addTrackers(groupId: string, trackers: readonly Tracker[], opts: AddOptions = {}): Promise<Tracker[]> {
    try {
      checkGroup(groupId);
      if (!Array.isArray(trackers)) throw new TallyError("INVALID_ARGUMENT", "addTrackers takes an array of trackers");
      const rows = trackers.map((t) => rowOf(t));
      const seen = new Set<string>();
      for (const row of rows) {
        if (seen.has(row.name)) {
          throw new TallyError("CONFLICTING_NAME", `two trackers named "${row.name}" in one addTrackers call`, {
            details: { name: row.name },
          });
        }
        seen.add(row.name);
      }
      const now = this.#clock.now();
      const expiresAt = expiry(opts, now);
      if (rows.length === 0) return Promise.resolve([]);
      return this.#submit(groupId, addStep(rows, now, expiresAt));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async getTrackers(groupId: string, name?: string | readonly string[]): Promise<Tracker[]> {
    checkGroup(groupId);
    this.#checkOpen();
    const names = name === undefined ? undefined : typeof name === "string" ? [name] : [...name];
    const now = this.#clock.now();
    let rows: StoredTracker[];
    if (this.#queues.has(groupId)) {
      rows = (await this.#submit(groupId, readStep(names, now))) as StoredTracker[];
    } else {
      try {
        rows = await this.#store.read(groupId, names);
      } catch (error) {
        throw asTallyError("STORE_FAILED", `reading trackers of group "${groupId}" failed: ${String(error)}`, error);
      }
      rows = rows.filter((r) => !isExpired(r, now)).sort((a, b) => a.seq - b.seq);
    }
    return rows.map((row) => readableTracker(row, now));
  }

  updateTracker(groupId: string, tracker: Tracker, opts: { force?: boolean } = {}): Promise<Tracker> {
    try {
      checkGroup(groupId);
      const row = rowOf(tracker);
      return this.#submit(groupId, updateStep(row, this.#clock.now(), opts.force === true));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  removeTracker(groupId: string, name?: string | readonly string[]): Promise<number> {
    try {
      checkGroup(groupId);
      const names = name === undefined ? undefined : typeof name === "string" ? [name] : [...name];
      return this.#submit(groupId, removeStep(names, this.#clock.now()));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  resetTracker(
    groupId: string,
    name: string,
    resetPolicy?: ResetPolicyValue | number,
    opts: { resetCount?: number; now?: number } = {},
  ): Promise<Tracker> {
    try {
      checkGroup(groupId);
      checkName(name, "INVALID_ARGUMENT");
      if (resetPolicy !== undefined && (!Number.isInteger(resetPolicy) || resetPolicy < 0 || resetPolicy > 3)) {
        throw new TallyError(
          "INVALID_ARGUMENT",
          `reset policy ${JSON.stringify(resetPolicy)} must be an integer 0–3 (ResetPolicy)`,
        );
      }
      const rc = opts.resetCount;
      if (rc !== undefined && (typeof rc !== "number" || !Number.isInteger(rc) || rc < 0)) {
        throw new TallyError("INVALID_ARGUMENT", `resetCount ${JSON.stringify(rc)} must be an integer >= 0`);
      }
      const now = checkNow(opts.now) ?? this.#clock.now();
      return this.#submit(groupId, resetStep(name, resetPolicy, rc, now));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Evaluates one event against the group's active trackers (spec §2.3). */
  track(
    groupId: string,
    data: Record<string, unknown>,
    opts?: { eventId?: string; now?: number },
  ): Promise<TrackResult> {
    try {
      checkGroup(groupId);
      if (!isPlainObject(data))
        throw new TallyError("INVALID_ARGUMENT", "track data must be a plain object (a JSON event)");
      let eventId: string | undefined;
      let now: number;
      if (opts === undefined) now = this.#clock.now();
      else {
        eventId = opts.eventId;
        if (
          eventId !== undefined &&
          (typeof eventId !== "string" || eventId.trim().length === 0 || eventId.length > MAX_ID)
        ) {
          throw new TallyError(
            "INVALID_ARGUMENT",
            `eventId ${JSON.stringify(eventId)} must be a non-blank string of at most ${MAX_ID} chars`,
          );
        }
        now = checkNow(opts.now) ?? this.#clock.now();
      }
      return this.#submit(groupId, trackStep(data, now, eventId));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Deletes expired trackers (re-checked under each group's lock), with EXPIRED; returns how many. */
  async sweepExpired(opts: { limit?: number } = {}): Promise<number> {
    this.#checkOpen();
    const limit = opts.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1)
      throw new TallyError("INVALID_ARGUMENT", "sweepExpired limit must be an integer >= 1");
    const now = this.#clock.now();
    let found: { groupId: string; name: string }[];
    try {
      found = await this.#store.listExpired(now, limit);
    } catch (error) {
      throw asTallyError("STORE_FAILED", `listing expired trackers failed: ${String(error)}`, error);
    }
    const groups = [...new Set(found.map((f) => f.groupId))];
    const counts = await Promise.all(groups.map((g) => this.#submit(g, sweepStep(now))));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Deletes every tracker and remembered eventId in the store's namespace; emits nothing. */
  async flush(opts: { confirm: true }): Promise<void> {
    if (opts?.confirm !== true) {
      throw new TallyError(
        "INVALID_ARGUMENT",
        "flush deletes every tracker in the store: call flush({ confirm: true })",
      );
    }
    this.#checkOpen();
    await this.#whenIdle();
    try {
      await this.#store.flush();
    } catch (error) {
      throw asTallyError("STORE_FAILED", `flush failed: ${String(error)}`, error);
    }
  }

  /** Stops the sweep, waits for calls in flight and their events, then closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    await this.#whenIdle();
    await this.#listeners.idle();
    await this.#store.close();
  }

  // --- batching ------------------------------------------------------------------------------

  #checkOpen(): void {
    if (this.#closed) throw new TallyError("CLOSED", "this TrackingManager is closed: create a new one");
  }

  #whenIdle(): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Runs a step in its group's order. An idle group runs it at once (the fast path: one transact,
   * no queue); a busy group queues it, and the queue drains in batches when the transact in flight
   * has finished.
   */
  #submit<T>(groupId: string, step: Step<T>): Promise<T> {
    if (this.#closed)
      return Promise.reject(new TallyError("CLOSED", "this TrackingManager is closed: create a new one"));
    const queue = this.#queues.get(groupId);
    if (queue !== undefined) {
      return new Promise<T>((resolve, reject) => {
        queue.push({ step, resolve: resolve as (v: unknown) => void, reject });
      });
    }
    this.#queues.set(groupId, []);
    this.#active++;
    return this.#transact(groupId, [step]).then(
      (outcomes) => {
        this.#after(groupId);
        const outcome = outcomes[0] as Outcome;
        if (!outcome.ok) throw outcome.error;
        if (outcome.events.length === 0) return outcome.value as T;
        return this.#listeners.deliver(outcome.events).then(() => outcome.value as T);
      },
      (error) => {
        this.#after(groupId);
        throw storeFailed(groupId, error);
      },
    );
  }

  /**
   * After a transact. On a durable store every transact pays a commit (an fsync, round trips), so
   * the group stays busy for one more macrotask: the callers just resolved (and anyone whose I/O
   * callback is due) queue meanwhile and share the next commit instead of alternating half-full
   * batches. The memory store commits for free and keeps to microtasks (no timers, spec §1.1).
   */
  #after(groupId: string): void {
    if (this.#gather) setImmediate(this.#nextOf, groupId);
    else this.#next(groupId);
  }

  readonly #nextOf = (groupId: string): void => this.#next(groupId);

  /** Runs the calls that queued meanwhile as one batch, or marks the group idle. */
  #next(groupId: string): void {
    const queue = this.#queues.get(groupId) as Entry[];
    if (queue.length === 0) {
      this.#queues.delete(groupId);
      this.#active--;
      if (this.#active === 0 && this.#idle.length > 0) {
        const waiting = this.#idle;
        this.#idle = [];
        for (const resolve of waiting) resolve();
      }
      return;
    }
    const batch = queue.splice(0, this.#maxBatch);
    this.#transact(
      groupId,
      batch.map((e) => e.step),
    ).then(
      (outcomes) => {
        this.#after(groupId);
        for (let i = 0; i < batch.length; i++) {
          const entry = batch[i] as Entry;
          const outcome = outcomes[i] as Outcome;
          if (!outcome.ok) entry.reject(outcome.error);
          else if (outcome.events.length === 0) entry.resolve(outcome.value);
          else this.#listeners.deliver(outcome.events).then(() => entry.resolve(outcome.value), entry.reject);
        }
      },
      (error) => {
        this.#after(groupId);
        const failure = storeFailed(groupId, error);
        for (const entry of batch) entry.reject(failure);
      },
    );
  }

  /** One store transaction for a batch of steps; each step gets its own outcome. */
  #transact(groupId: string, steps: Step<unknown>[]): Promise<Outcome[]> {
    let now = 0;
    let ids: string[] | undefined;
    for (const step of steps) {
      if (step.now > now) now = step.now;
      if (step.eventId === undefined) continue;
      if (ids === undefined) ids = [];
      ids.push(step.eventId);
    }
    const env: StepEnv = { now, compat: this.#compat, wants: this.#wants, memo: this.#memo };
    const opts =
      ids === undefined ? { now, eventIdTtlMs: this.#ttlMs } : { now, eventIds: ids, eventIdTtlMs: this.#ttlMs };
    let promise: Promise<Outcome[]>;
    try {
      promise = this.#store.transact(groupId, opts, (view) => {
        const w = new WorkingGroup(groupId, view);
        const results: Outcome[] = [];
        for (const step of steps) {
          const events: TrackerEvent[] = [];
          env.now = step.now;
          try {
            results.push({ ok: true, value: step.run(w, env, events), events });
          } catch (error) {
            results.push({ ok: false, error, events: NO_EVENTS });
          }
        }
        const changes = w.changes();
        return { upsert: changes.upsert, remove: changes.remove, record: changes.record, result: results };
      });
    } catch (error) {
      promise = Promise.reject(error);
    }
    return promise;
  }
}

const NO_EVENTS: TrackerEvent[] = [];

function storeFailed(groupId: string, error: unknown): TallyError {
  return asTallyError("STORE_FAILED", `the tracker store failed for group "${groupId}": ${String(error)}`, error);
}

function checkGroup(groupId: unknown): void {
  if (typeof groupId !== "string" || groupId.trim().length === 0 || groupId.length > MAX_ID) {
    throw new TallyError(
      "INVALID_ARGUMENT",
      `groupId ${JSON.stringify(groupId)} must be a non-blank string of 1–${MAX_ID} chars`,
      {
        details: { groupId },
      },
    );
  }
}

function checkNow(now: unknown): number | undefined {
  if (now === undefined) return undefined;
  if (typeof now !== "number" || !Number.isFinite(now)) {
    throw new TallyError("INVALID_ARGUMENT", `now ${JSON.stringify(now)} must be epoch milliseconds`);
  }
  return now;
}

function expiry(opts: AddOptions, now: number): number | null {
  if (opts.expire !== undefined && opts.expireAt !== undefined) {
    throw new TallyError("INVALID_ARGUMENT", "pass expire (a duration from now) or expireAt (epoch ms), not both");
  }
  if (opts.expire !== undefined) {
    let ms: number;
    try {
      ms = toMs(opts.expire, "expire");
    } catch (cause) {
      throw new TallyError("INVALID_ARGUMENT", `expire ${JSON.stringify(opts.expire)} is not a duration`, { cause });
    }
    return now + ms;
  }
  if (opts.expireAt !== undefined) {
    if (typeof opts.expireAt !== "number" || !Number.isFinite(opts.expireAt)) {
      throw new TallyError("INVALID_ARGUMENT", `expireAt ${JSON.stringify(opts.expireAt)} must be epoch milliseconds`);
    }
    return opts.expireAt;
  }
  return null;
}
