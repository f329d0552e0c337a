/**
 * A slot held by `SharedLimiter.reserve` (spec §6, §10): the pending entry lives in the backend,
 * counts in every atMost check of its event (in every process) and in cooldown until committed,
 * cancelled or expired (expiry is judged by the backend's now against `expiresAt`).
 *
 * - `commit()` records the count at commit time and resolves true; once expired it still records
 *   (the work happened) but resolves false; after commit or cancel it does nothing (false).
 * - `cancel()` releases the slot (true), or releases nothing (false) when it had expired (the
 *   reservation is cancelled all the same) or was already committed or cancelled.
 * - `await using r = …` cancels a still-pending reservation when the scope ends.
 * - A commit or cancel that fails rejects with `STORAGE_FAILED` and leaves the state "pending":
 *   a lost reply may hide a commit that happened, so retrying a failed commit may count twice.
 */

import type { Clock } from "../../time/clock.ts";
import type { SharedEngine } from "./shared-engine.ts";

export type ReservationState = "pending" | "committed" | "cancelled" | "expired";

/** What a shared reservation must do; backend-held, fallback-held and degraded ones implement it. */
export interface SharedReservation {
  readonly eventId: string;
  readonly count: number;
  readonly expiresAt: number;
  readonly state: ReservationState;
  commit(): Promise<boolean>;
  cancel(): Promise<boolean>;
  [Symbol.asyncDispose](): Promise<void>;
}

abstract class BaseReservation implements SharedReservation {
  readonly eventId: string;
  readonly count: number;
  readonly expiresAt: number;
  protected settled: "committed" | "cancelled" | undefined;
  readonly #clock: Clock;

  constructor(clock: Clock, eventId: string, count: number, expiresAt: number) {
    this.#clock = clock;
    this.eventId = eventId;
    this.count = count;
    this.expiresAt = expiresAt;
  }

  get state(): ReservationState {
    if (this.settled !== undefined) return this.settled;
    return this.#clock.now() >= this.expiresAt ? "expired" : "pending";
  }

  abstract commit(): Promise<boolean>;
  abstract cancel(): Promise<boolean>;

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.state === "pending") await this.cancel();
  }
}

/** A reservation held in the backend. */
export class BackendReservation extends BaseReservation {
  readonly #engine: SharedEngine;
  readonly #token: string;

  constructor(engine: SharedEngine, eventId: string, count: number, expiresAt: number, token: string) {
    super(engine.clock, eventId, count, expiresAt);
    this.#engine = engine;
    this.#token = token;
  }

  async commit(): Promise<boolean> {
    if (this.settled !== undefined) return false;
    const reply = await this.#settle("commit");
    this.settled = "committed";
    return reply;
  }

  async cancel(): Promise<boolean> {
    if (this.settled !== undefined) return false;
    const released = await this.#settle("cancel");
    // Settled either way, as in the in-process store: a cancel after expiry releases nothing (false)
    // and still ends the reservation, so a later commit records nothing.
    this.settled = "cancelled";
    return released;
  }

  async #settle(action: "commit" | "cancel"): Promise<boolean> {
    const engine = this.#engine;
    const time = engine.time(engine.now());
    const reply = await engine.call(
      (b) => b.settle({ eventId: this.eventId, token: this.#token, count: this.count, action, time }),
      `reservation ${action} of "${this.eventId}"`,
    );
    return reply.wasPending;
  }
}

/**
 * The reservation an "allow" policy hands out while the backend is down: nothing is held; commit
 * records the count in the backend (rejecting with `STORAGE_FAILED` if it is still down), cancel
 * has nothing to release.
 */
export class UnheldReservation extends BaseReservation {
  readonly #record: () => Promise<void>;

  constructor(clock: Clock, eventId: string, count: number, expiresAt: number, record: () => Promise<void>) {
    super(clock, eventId, count, expiresAt);
    this.#record = record;
  }

  async commit(): Promise<boolean> {
    if (this.settled !== undefined) return false;
    const live = this.state === "pending";
    await this.#record();
    this.settled = "committed";
    return live;
  }

  async cancel(): Promise<boolean> {
    if (this.settled !== undefined || this.state !== "pending") return false;
    this.settled = "cancelled";
    return true;
  }
}

/** The synchronous reservation of a fallback `EventStore`, made async. */
export interface SyncReservation {
  readonly eventId: string;
  readonly count: number;
  readonly expiresAt: number;
  readonly state: ReservationState;
  commit(): boolean;
  cancel(): boolean;
}

export class FallbackReservation implements SharedReservation {
  readonly #inner: SyncReservation;

  constructor(inner: SyncReservation) {
    this.#inner = inner;
  }

  get eventId(): string {
    return this.#inner.eventId;
  }
  get count(): number {
    return this.#inner.count;
  }
  get expiresAt(): number {
    return this.#inner.expiresAt;
  }
  get state(): ReservationState {
    return this.#inner.state;
  }
  async commit(): Promise<boolean> {
    return this.#inner.commit();
  }
  async cancel(): Promise<boolean> {
    return this.#inner.cancel();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#inner.state === "pending") this.#inner.cancel();
  }
}
