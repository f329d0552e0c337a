/**
 * Listener registration and delivery (spec §1.2).
 *
 * - Each event reaches all its listeners, in registration order, before the next event; a
 *   returned promise is awaited. Duplicate registrations are called twice.
 * - A listener that throws or rejects changes neither state nor results: it yields an ERROR event
 *   (`source: "listener"`); errors inside ERROR listeners only reach `logger.error`.
 * - Deliveries from different calls are chained, so events reach listeners in generation order
 *   even when a listener is slow.
 */

import { TallyError } from "../errors.ts";
import {
  EVENT_NAMES,
  EVENT_TRACKER_ERROR,
  type EventCode,
  type EventName,
  eventCodeOf,
  type Listener,
  type TrackerEvent,
} from "./events.ts";

export interface Logger {
  warn(message: string, ...rest: unknown[]): void;
  error(message: string, ...rest: unknown[]): void;
}

export const consoleLogger: Logger = {
  warn: (message, ...rest) => console.error(message, ...rest),
  error: (message, ...rest) => console.error(message, ...rest),
};

export interface ListenerFilter {
  groupId?: string;
  name?: string;
}

interface Registration {
  cb: Listener;
  filter: ListenerFilter | undefined;
  once: boolean;
}

export class ListenerRegistry {
  readonly #byCode = new Map<EventCode, Registration[]>();
  readonly #logger: Logger;
  #tail: Promise<void> = Promise.resolve();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  add(event: EventCode | EventName, cb: Listener, filter?: ListenerFilter, once = false): () => void {
    const code = eventCodeOf(event);
    if (code === undefined) {
      throw new TallyError(
        "INVALID_ARGUMENT",
        `unknown event ${JSON.stringify(event)}: use a code 1001–1009 or a name (${Object.values(EVENT_NAMES).join(", ")})`,
      );
    }
    if (typeof cb !== "function") throw new TallyError("INVALID_ARGUMENT", "a listener must be a function");
    if (filter !== undefined && (typeof filter !== "object" || filter === null)) {
      throw new TallyError("INVALID_ARGUMENT", "a listener filter is { groupId?, name? }");
    }
    const registration: Registration = { cb, filter: filter === undefined ? undefined : { ...filter }, once };
    const list = [...(this.#byCode.get(code) ?? []), registration];
    this.#byCode.set(code, list);
    return () => {
      this.#remove(code, (r) => r === registration);
    };
  }

  off(event: EventCode | EventName, cb: Listener): boolean {
    const code = eventCodeOf(event);
    if (code === undefined) throw new TallyError("INVALID_ARGUMENT", `unknown event ${JSON.stringify(event)}`);
    return this.#remove(code, (r) => r.cb === cb);
  }

  #remove(code: EventCode, match: (r: Registration) => boolean): boolean {
    const list = this.#byCode.get(code);
    if (list === undefined) return false;
    const kept = list.filter((r) => !match(r));
    if (kept.length === list.length) return false;
    if (kept.length === 0) this.#byCode.delete(code);
    else this.#byCode.set(code, kept);
    return true;
  }

  /** Whether anyone listens to `code` (events nobody hears are not even built). */
  wants(code: EventCode): boolean {
    return this.#byCode.has(code);
  }

  get any(): boolean {
    return this.#byCode.size > 0;
  }

  /** Delivers after every earlier delivery; resolves when these events are delivered. */
  deliver(events: readonly TrackerEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    const run = this.#tail.then(() => this.#deliverAll(events));
    this.#tail = run.catch(() => {});
    return run;
  }

  /** Resolves when every delivery started so far has finished. */
  idle(): Promise<void> {
    return this.#tail;
  }

  async #deliverAll(events: readonly TrackerEvent[]): Promise<void> {
    for (const event of events) await this.#deliverOne(event);
  }

  async #deliverOne(event: TrackerEvent): Promise<void> {
    const list = this.#byCode.get(event.code);
    if (list === undefined) return;
    for (const registration of list) {
      const f = registration.filter;
      if (
        f !== undefined &&
        ((f.groupId !== undefined && f.groupId !== event.groupId) || (f.name !== undefined && f.name !== event.name))
      ) {
        continue;
      }
      if (registration.once) this.#remove(event.code, (r) => r === registration);
      try {
        const returned = registration.cb(event);
        if (returned !== undefined && typeof (returned as Promise<void>).then === "function") await returned;
      } catch (error) {
        await this.#listenerFailed(event, error);
      }
    }
  }

  async #listenerFailed(event: TrackerEvent, error: unknown): Promise<void> {
    if (event.code === EVENT_TRACKER_ERROR) {
      this.#logger.error(`tally tracker: an "error" listener threw`, error);
      return;
    }
    const failure: TrackerEvent = {
      code: EVENT_TRACKER_ERROR,
      type: "error",
      at: event.at,
      groupId: event.groupId,
      name: event.name,
      tracker: event.tracker,
      error,
      source: "listener",
      failed: event,
    };
    if (event.eventId !== undefined) failure.eventId = event.eventId;
    if (!this.wants(EVENT_TRACKER_ERROR)) {
      this.#logger.error(`tally tracker: a "${event.type}" listener threw`, error);
      return;
    }
    await this.#deliverOne(failure);
  }
}
