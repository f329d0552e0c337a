/**
 * Every error tally throws or returns is a `TallyError` with a stable `code`.
 *
 * Contract:
 * - `code` is one of `TallyErrorCode`; codes never change meaning between releases, so callers
 *   branch on `error.code`, never on the message.
 * - The message names the bad value and says what to do about it.
 * - `cause` carries the underlying error (a driver error, a thrown clock) when there is one.
 * - `isTallyError` recognises errors from another copy of tally in the same process (a brand under
 *   `Symbol.for`), because `instanceof` fails across duplicate installs.
 *
 * A rate-limit denial is never an error: it is a value (see the counter's `LimitResult`).
 */

export type TallyErrorCode =
  // time and shared input
  | "INVALID_DURATION"
  | "INVALID_UNIT"
  | "INVALID_TIME_ZONE"
  | "INVALID_TIMESTAMP"
  | "INVALID_SCHEDULE"
  // counter
  | "INVALID_EVENT_ID"
  | "INVALID_COUNT"
  | "UNTRACKED_UNIT"
  | "INVALID_WINDOW"
  | "INVALID_RANGE"
  | "FUTURE_EVENT"
  | "INVALID_CONFIG"
  | "INVALID_REPLICA_ID"
  | "NO_AT_MOST_CONSTRAINT"
  | "STORE_CLOSED"
  | "STORAGE_FAILED"
  | "CORRUPT_DATA"
  // meter
  | "INVALID_NAME"
  | "INVALID_PARAMS"
  | "INVALID_OPTION"
  | "INVALID_QUERY"
  | "UNSUPPORTED_QUERY"
  | "TOO_MANY_BUCKETS"
  | "CLOCK_FAILED"
  | "STORE_UNAVAILABLE"
  | "NOT_CONFIGURED"
  | "SCHEMA_MISMATCH"
  | "DEFINITION_CHANGED"
  | "DEFINITION_NOT_FOUND"
  | "ALREADY_RECORDED"
  | "LOCK_LOST"
  // tracker
  | "INVALID_TRACKER"
  | "INVALID_CONDITION"
  | "INVALID_LIMITER"
  | "INVALID_ARGUMENT"
  | "CONFLICTING_NAME"
  | "TRACKER_NOT_FOUND"
  | "TRACKER_COMPLETED"
  | "VERSION_CONFLICT"
  | "UNKNOWN_TYPE"
  | "UNSUPPORTED_SCHEMA"
  | "INVALID_VALUE"
  | "CONDITION_FAILED"
  | "STORE_FAILED"
  | "CLOSED"
  // cli and server
  | "INVALID_REQUEST"
  | "NOT_FOUND";

const brand = Symbol.for("tally.error");

export interface TallyErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class TallyError extends Error {
  readonly code: TallyErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: TallyErrorCode, message: string, options: TallyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "TallyError";
    this.code = code;
    if (options.details !== undefined) this.details = options.details;
    Object.defineProperty(this, brand, { value: true });
  }
}

export function isTallyError(error: unknown): error is TallyError {
  return typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[brand] === true;
}

/** Wraps anything thrown by a store or driver, keeping a TallyError as it is. */
export function asTallyError(code: TallyErrorCode, message: string, cause: unknown): TallyError {
  return isTallyError(cause) ? cause : new TallyError(code, message, { cause });
}

/** The query names no index of the report definition: add it with `indexBy` and bump the version. */
export class UnsupportedQueryError extends TallyError {
  constructor(message: string, options?: TallyErrorOptions) {
    super("UNSUPPORTED_QUERY", message, options);
    this.name = "UnsupportedQueryError";
  }
}

/** A stored report definition differs from the one given for the same version: bump the version. */
export class DefinitionChangedError extends TallyError {
  constructor(message: string, options?: TallyErrorOptions) {
    super("DEFINITION_CHANGED", message, options);
    this.name = "DefinitionChangedError";
  }
}

/** No report definition is stored for that name and version: run `processPending` first. */
export class DefinitionNotFoundError extends TallyError {
  constructor(message: string, options?: TallyErrorOptions) {
    super("DEFINITION_NOT_FOUND", message, options);
    this.name = "DefinitionNotFoundError";
  }
}

/** A meter event was finished twice. */
export class AlreadyRecordedError extends TallyError {
  constructor(message: string, options?: TallyErrorOptions) {
    super("ALREADY_RECORDED", message, options);
    this.name = "AlreadyRecordedError";
  }
}

/** A processor's lease was taken over; its commit was fenced off and applied nothing. */
export class LockLostError extends TallyError {
  constructor(message: string, options?: TallyErrorOptions) {
    super("LOCK_LOST", message, options);
    this.name = "LockLostError";
  }
}
