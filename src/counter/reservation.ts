/**
 * A pending claim made by `Limiter.reserve` (spec §6). While pending it counts in every atMost
 * check of its event and in cooldown; expiry is lazy (now >= expiresAt), never a timer.
 * `commit()` records the count at commit time (true; false once expired, though it still records
 * because the work happened); `cancel()` releases; both do nothing after commit or cancel.
 * `[Symbol.dispose]` cancels, so `using r = …` releases a slot the holder forgot.
 */

import type { CounterCore } from "./core.ts";
import type { PendingEntry } from "./event-table.ts";

export type ReservationState = "pending" | "committed" | "cancelled" | "expired";

export class Reservation {
  readonly eventId: string;
  readonly count: number;
  readonly expiresAt: number;
  readonly #core: CounterCore;
  readonly #entry: PendingEntry;
  #settled: "committed" | "cancelled" | undefined;

  constructor(core: CounterCore, eventId: string, entry: PendingEntry) {
    this.#core = core;
    this.eventId = eventId;
    this.count = entry.count;
    this.expiresAt = entry.expiresAt;
    this.#entry = entry;
  }

  get state(): ReservationState {
    if (this.#settled !== undefined) return this.#settled;
    return this.#core.clock.now() >= this.expiresAt ? "expired" : "pending";
  }

  /** Records the count now; true unless the reservation had expired. */
  commit(): boolean {
    if (this.#settled !== undefined) return false;
    const core = this.#core;
    const now = core.now();
    this.#settled = "committed";
    this.#entry.settled = true;
    core.refresh(now);
    core.addNow(core.ensure(this.eventId), this.count, now);
    return now < this.expiresAt;
  }

  /** Releases the claim; false when it was already settled or had expired. */
  cancel(): boolean {
    if (this.#settled !== undefined) return false;
    const expired = this.#core.clock.now() >= this.expiresAt;
    this.#settled = "cancelled";
    this.#entry.settled = true;
    return !expired;
  }

  [Symbol.dispose](): void {
    this.cancel();
  }
}
