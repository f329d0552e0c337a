/**
 * SQL text for PostgresTrackerStore's round trips. A `transact` is two round trips: the opening
 * one (BEGIN, the group lock, the applied ids, the rows unless the cached copy is current) and
 * the closing one (the write and COMMIT). Only pg's simple query protocol runs several statements
 * in one round trip, and it takes no parameters, so values are inlined as literals here:
 *
 * - strings by pg's own `escapeLiteral` rules: quotes doubled; with a backslash, the `E''` form
 *   with backslashes doubled, which reads the same whatever `standard_conforming_strings` says;
 * - numbers only when finite (anything else throws: it would be a bug upstream, never data);
 * - `$n` placeholders are filled in one pass, so a value that contains `$2` is never re-read.
 */

import { TallyError } from "../../errors.ts";

/** A string as a SQL literal. */
export function literal(text: string): string {
  let out = "'";
  let backslash = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "'") out += "''";
    else if (c === "\\") {
      out += "\\\\";
      backslash = true;
    } else out += c;
  }
  out += "'";
  return backslash ? ` E${out}` : out;
}

/** A finite number as a SQL literal. */
export function numberLiteral(n: number): string {
  if (typeof n !== "number" || !Number.isFinite(n)) {
    throw new TallyError("INVALID_ARGUMENT", `${String(n)} is not a finite number: it cannot be written to PostgreSQL`);
  }
  return String(n);
}

/** A text[] literal. */
export function textArray(items: readonly string[]): string {
  if (items.length === 0) return "'{}'::text[]";
  let out = "ARRAY[";
  for (let i = 0; i < items.length; i++) out += (i === 0 ? "" : ",") + literal(items[i] as string);
  return `${out}]::text[]`;
}

/** Replaces `$1`… in `sql` with the given literal texts, in one pass. */
export function fill(sql: string, values: readonly string[]): string {
  return sql.replace(/\$(\d+)/g, (whole, n: string) => values[Number(n) - 1] ?? whole);
}
