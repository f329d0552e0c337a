/**
 * The lifecycle of one unit of work. `start` reads the clock once; `success`, `skip` and `failure`
 * append one payload to the stream. None of this throws or rejects: instrumentation must never
 * break the code it measures, so every problem lands in `event.error` or the `WriteResult`.
 */

import { AlreadyRecordedError, isTallyError, TallyError } from "../errors.ts";
import type { Clock } from "../time/clock.ts";
import { buildPayload, type EventPayload, type EventStatus, isPlainObject, type Params } from "./payload.ts";

export interface WriteResult {
  /** Accepted by the stream at its durability level. */
  readonly recorded: boolean;
  readonly error: TallyError | null;
  readonly payload: EventPayload | null;
}

export interface MeterEvent {
  /** "tally.invalid" when the name was rejected. */
  readonly name: string;
  /** Epoch ms; null when the clock failed. */
  readonly startedAt: number | null;
  /** Set when start failed. */
  readonly error: TallyError | null;
  success(attrs?: Params): Promise<WriteResult>;
  skip(reasonOrAttrs?: unknown, attrs?: Params): Promise<WriteResult>;
  failure(errorOrAttrs?: unknown, attrs?: Params): Promise<WriteResult>;
}

/** What an event needs from its meter. */
export interface EventSink {
  readonly clock: Clock;
  /**
   * Appends one payload. The promise never rejects: it resolves with `WRITTEN` once the stream
   * accepted the payload, or with a `StreamFailure` holding what the stream threw or rejected
   * with. Appends that share one stream promise (a group commit) share one outcome promise, so
   * an event adds one reaction to it and no promise of its own but the one it returns. Every call
   * is followed by exactly one `settled()` call once its outcome is handled (the meter counts
   * in-flight writes for `close()` without an extra promise per event).
   */
  write(payload: EventPayload): Promise<unknown>;
  settled(): void;
}

/** What a sink's outcome resolves with when the stream accepted the payload. */
export const WRITTEN: unique symbol = Symbol("tally.written");

/** What a sink's outcome resolves with when the stream did not accept the payload. */
export class StreamFailure {
  constructor(readonly cause: unknown) {}
}

export const INVALID_NAME = "tally.invalid";

// Most processes record a handful of names over and over: the last name that passed is remembered
// so the regex runs once per name change, not once per event.
let lastGoodName: string | null = null;

function nameError(name: unknown): TallyError | null {
  if (name === lastGoodName) return null;
  if (typeof name !== "string" || name.trim() === "" || name.length > 200 || /\p{Cc}/u.test(name)) {
    return new TallyError(
      "INVALID_NAME",
      `invalid event name ${typeof name === "string" ? JSON.stringify(name) : String(name)}: pass a non-blank string of at most 200 characters without control characters`,
      { details: { name } },
    );
  }
  lastGoodName = name;
  return null;
}

function readClock(clock: Clock): number | TallyError {
  try {
    const now = clock.now();
    if (typeof now === "number" && Number.isFinite(now)) return Math.floor(now);
    return new TallyError("CLOCK_FAILED", `the meter clock returned ${String(now)}; it must return finite epoch ms`);
  } catch (cause) {
    return new TallyError("CLOCK_FAILED", "the meter clock threw; see cause", { cause });
  }
}

function invalidParams(what: string, cause?: unknown): TallyError {
  return new TallyError("INVALID_PARAMS", `${what}; pass a plain object of JSON-serialisable values`, {
    cause,
  });
}

const failed = (error: TallyError, payload: EventPayload | null = null): WriteResult => ({
  recorded: false,
  error,
  payload,
});

export class LifecycleEvent implements MeterEvent {
  readonly name: string;
  readonly startedAt: number | null;
  readonly error: TallyError | null;
  readonly #sink: EventSink | null;
  // A private shallow copy taken at start; finishing without extra fields reuses it as is.
  #params: Params;
  // "open" -> "writing" -> "done"; a failed write goes back to "open" so it may be retried.
  #state: "open" | "writing" | "done" = "open";

  constructor(sink: EventSink | null, name: unknown, params: unknown, startError: TallyError | null = null) {
    let error = startError;
    const badName = nameError(name);
    this.name = badName === null ? (name as string) : INVALID_NAME;
    error ??= badName;
    let copied: Params = {};
    if (params !== undefined && params !== null) {
      if (isPlainObject(params)) copied = { ...params };
      else error ??= invalidParams(`invalid params ${Object.prototype.toString.call(params)}`);
    }
    this.#params = copied;
    let startedAt: number | null = null;
    if (sink !== null) {
      const now = readClock(sink.clock);
      if (typeof now === "number") startedAt = now;
      else error ??= now;
    }
    this.startedAt = startedAt;
    this.error = error;
    this.#sink = sink;
  }

  success(attrs?: Params): Promise<WriteResult> {
    return this.#finish("success", undefined, attrs);
  }

  skip(reasonOrAttrs?: unknown, attrs?: Params): Promise<WriteResult> {
    return this.#finish("skipped", reasonOrAttrs, attrs);
  }

  failure(errorOrAttrs?: unknown, attrs?: Params): Promise<WriteResult> {
    return this.#finish("failure", errorOrAttrs, attrs);
  }

  #finish(status: EventStatus, first: unknown, attrs: unknown): Promise<WriteResult> {
    if (this.error !== null || this.#sink === null || this.startedAt === null) {
      return Promise.resolve(failed(this.error ?? new TallyError("NOT_CONFIGURED", "the meter is not configured")));
    }
    if (this.#state !== "open") {
      return Promise.resolve(
        failed(new AlreadyRecordedError(`event ${this.name} was already finished; an event records at most once`)),
      );
    }
    let payload: EventPayload;
    try {
      const now = readClock(this.#sink.clock);
      if (typeof now !== "number") return Promise.resolve(failed(now));
      let params = this.#params;
      if ((first !== undefined && first !== null) || (attrs !== undefined && attrs !== null)) {
        params = { ...params };
        if (first !== undefined && first !== null) mergeFirst(status, first, params);
        if (attrs !== undefined && attrs !== null) {
          if (!isPlainObject(attrs)) {
            return Promise.resolve(failed(invalidParams(`invalid attrs ${Object.prototype.toString.call(attrs)}`)));
          }
          Object.assign(params, attrs);
        }
      }
      const duration = Math.round(now - this.startedAt);
      payload = buildPayload(this.name, status, this.startedAt, Math.max(duration, 0), params);
    } catch (cause) {
      return Promise.resolve(failed(invalidParams("the event's params could not be serialised", cause)));
    }
    this.#state = "writing";
    let outcome: Promise<unknown>;
    try {
      outcome = this.#sink.write(payload);
    } catch (cause) {
      this.#state = "open";
      return Promise.resolve(failed(storeError(cause), payload));
    }
    // One closure per event: the outcome never rejects, so no rejection handler is needed.
    return outcome.then((result) => this.#written(result, payload));
  }

  #written(result: unknown, payload: EventPayload): WriteResult {
    (this.#sink as EventSink).settled();
    if (result === WRITTEN) {
      this.#state = "done";
      return { recorded: true, error: null, payload };
    }
    this.#state = "open";
    // The caller may retry; keep the retry's params apart from the payload handed out here.
    if (payload.params === this.#params) this.#params = { ...this.#params };
    return failed(storeError((result as StreamFailure).cause), payload);
  }
}

function storeError(cause: unknown): TallyError {
  if (isTallyError(cause) && (cause.code === "NOT_CONFIGURED" || cause.code === "STORE_UNAVAILABLE")) return cause;
  return new TallyError("STORE_UNAVAILABLE", "the meter stream did not accept the event; see cause", { cause });
}

function mergeFirst(status: EventStatus, first: unknown, params: Params): void {
  if (isPlainObject(first)) {
    Object.assign(params, first);
    return;
  }
  if (status === "skipped") {
    params.skipReason = String(first);
    return;
  }
  if (status === "failure") {
    if (typeof first === "object") {
      // Reading `message` may throw (a getter): the caller turns that into INVALID_PARAMS.
      const message = (first as { message?: unknown }).message;
      if (typeof message === "string") {
        const named = (first as { name?: unknown }).name;
        params.errorClass = typeof named === "string" && named !== "" ? named : constructorName(first);
        params.errorMessage = message;
        return;
      }
    }
    params.errorClass = constructorName(first);
    params.errorMessage = String(first);
  }
}

function constructorName(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  const ctor = (Object(value) as { constructor?: { name?: unknown } }).constructor;
  return typeof ctor?.name === "string" && ctor.name !== "" ? ctor.name : typeof value;
}
