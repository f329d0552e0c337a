/**
 * Exit codes a shell user expects: 0 success, 1 a runtime or store error (message on stderr),
 * 2 a usage error (bad flag, bad value, missing argument). `UsageError` marks the third kind so the
 * dispatcher can tell it from a store failure without parsing messages.
 */

import { isTallyError } from "../errors.ts";

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

/** A mistake in the command line itself: exit 2, with a hint to `--help`. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Codes that mean the user's input was wrong (a value given on the command line), not the store. */
const INPUT_CODES = new Set([
  "INVALID_DURATION",
  "INVALID_UNIT",
  "INVALID_TIME_ZONE",
  "INVALID_TIMESTAMP",
  "INVALID_EVENT_ID",
  "INVALID_COUNT",
  "UNTRACKED_UNIT",
  "INVALID_WINDOW",
  "INVALID_RANGE",
  "INVALID_NAME",
  "INVALID_PARAMS",
  "INVALID_OPTION",
  "INVALID_QUERY",
  "UNSUPPORTED_QUERY",
  "TOO_MANY_BUCKETS",
  "INVALID_TRACKER",
  "INVALID_CONDITION",
  "INVALID_LIMITER",
  "INVALID_ARGUMENT",
  "INVALID_REQUEST",
]);

/** The exit code for an error that escaped a command. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return EXIT_USAGE;
  if (isTallyError(error) && INPUT_CODES.has(error.code)) return EXIT_USAGE;
  return EXIT_RUNTIME;
}

/** One line for stderr: the message, and the code when tally raised it. */
export function describeError(error: unknown): string {
  if (isTallyError(error)) return `error (${error.code}): ${error.message}`;
  if (error instanceof Error) return `error: ${error.message}`;
  return `error: ${String(error)}`;
}
