/**
 * Event and replica id validation, shared by the in-process and the shared counters.
 *
 * Contract:
 * - An event id is a string of 1..512 UTF-16 units, not whitespace only, without control characters
 *   (U+0000–U+001F, U+007F) and well-formed UTF-16 (no lone surrogates); anything else is
 *   `INVALID_EVENT_ID`. Control characters are excluded so reserved storage keys (which start with
 *   U+0001) can never collide with an event.
 * - A replica id matches `[A-Za-z0-9._:-]{1,128}`; anything else is `INVALID_REPLICA_ID`.
 * Stores validate an id fully only when it creates an event: the hot path looks the id up first.
 */

import { TallyError } from "../errors.ts";

export const MAX_EVENT_ID_LENGTH = 512;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is rejected
const CONTROL = /[\u0000-\u001f\u007f]/;
const REPLICA_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why the id is invalid, or undefined when it is a valid event id. */
export function eventIdProblem(id: unknown): string | undefined {
  if (typeof id !== "string") return `must be a string, got ${id === null ? "null" : typeof id}`;
  if (id.length === 0) return "must not be empty";
  if (id.length > MAX_EVENT_ID_LENGTH) return `must be at most ${MAX_EVENT_ID_LENGTH} characters, got ${id.length}`;
  if (id.trim() === "") return "must not be whitespace only";
  if (CONTROL.test(id)) return "must not contain control characters (U+0000–U+001F, U+007F)";
  if (LONE_SURROGATE.test(id)) return "must be well-formed UTF-16 (no lone surrogates)";
  return undefined;
}

/** Returns the id, or throws `INVALID_EVENT_ID` naming the problem. */
export function validateEventId(id: unknown): string {
  const problem = eventIdProblem(id);
  if (problem === undefined) return id as string;
  const shown = typeof id === "string" ? JSON.stringify(id.length > 60 ? `${id.slice(0, 60)}…` : id) : String(id);
  throw new TallyError("INVALID_EVENT_ID", `invalid event id ${shown}: it ${problem}`, { details: { id } });
}

export function isValidReplicaId(id: unknown): id is string {
  return typeof id === "string" && REPLICA_ID.test(id);
}

/** Returns the id, or throws `INVALID_REPLICA_ID`. */
export function validateReplicaId(id: unknown): string {
  if (isValidReplicaId(id)) return id;
  throw new TallyError(
    "INVALID_REPLICA_ID",
    `invalid replica id ${JSON.stringify(id) ?? String(id)}: use 1 to 128 characters from A-Z a-z 0-9 . _ : - (unique per writer)`,
    { details: { id } },
  );
}
