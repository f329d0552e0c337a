/**
 * Time and filter arguments shared by the CLI and the HTTP API: a time is strict RFC 3339, epoch
 * milliseconds, `now`, or relative to now (`-90m`, `-7d`, `+1h`); a window is `T..T`; a filter is
 * `key=value`. Everything resolves to integer epoch ms against the caller's `now`, so a whole
 * command uses one instant. Errors are `TallyError`s naming the flag or field (`details.field`):
 * the CLI exits 2 on them and the API answers 400.
 */

import { TallyError } from "../errors.ts";
import { toMs } from "../time/duration.ts";

/** A bad argument; `what` is the flag or field name, kept in `details.field` for API errors. */
function bad(
  code: "INVALID_TIMESTAMP" | "INVALID_WINDOW" | "INVALID_QUERY",
  what: string,
  message: string,
): TallyError {
  return new TallyError(code, message, { details: { field: what } });
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** Parses one time argument; `what` names the flag in the error. */
export function parseTime(text: string, now: number, what = "time"): number {
  const value = text.trim();
  if (value === "now") return now;
  if (/^[+-]/.test(value) && !/^[+-]?\d+$/.test(value)) {
    let ms: number;
    try {
      ms = toMs(value.slice(1), what);
    } catch {
      throw bad("INVALID_TIMESTAMP", what, `invalid ${what} "${text}": a relative time looks like -90m, -7d or +1h`);
    }
    return Math.round(value.startsWith("-") ? now - ms : now + ms);
  }
  if (/^\d+$/.test(value)) {
    const ms = Number(value);
    if (Number.isSafeInteger(ms)) return ms;
  }
  if (RFC3339.test(value) || DATE_ONLY.test(value)) {
    const ms = Date.parse(DATE_ONLY.test(value) ? `${value}T00:00:00Z` : value);
    if (Number.isFinite(ms)) return ms;
  }
  throw bad(
    "INVALID_TIMESTAMP",
    what,
    `invalid ${what} "${text}": pass RFC 3339 (2024-05-01T10:00:00Z), epoch ms, "now", or a relative time like -90m`,
  );
}

/** Parses `FROM..TO` into a window with `to > from`. */
export function parseRange(text: string, now: number, what = "window"): { from: number; to: number } {
  const parts = text.split("..");
  if (parts.length !== 2 || parts[0] === "" || parts[1] === "") {
    throw bad(
      "INVALID_WINDOW",
      what,
      `invalid ${what} "${text}": pass FROM..TO, e.g. -2h..-1h or 2024-05-01T10:00:00Z..now`,
    );
  }
  const from = parseTime(parts[0] ?? "", now, `${what} start`);
  const to = parseTime(parts[1] ?? "", now, `${what} end`);
  if (to <= from) throw bad("INVALID_WINDOW", what, `invalid ${what} "${text}": the end must be after the start`);
  return { from, to };
}

/** Parses `key=value` filters into a `by` object; the value may contain `=`. */
export function parseBy(pairs: readonly string[], what = "--by"): Record<string, string> | null {
  if (pairs.length === 0) return null;
  const by: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at <= 0)
      throw bad("INVALID_QUERY", what, `invalid ${what} "${pair}": pass key=value, e.g. ${what} queue=email`);
    const key = pair.slice(0, at);
    if (Object.hasOwn(by, key)) throw bad("INVALID_QUERY", what, `${what} names "${key}" twice`);
    by[key] = pair.slice(at + 1);
  }
  return by;
}

/** A positive safe integer from a flag (versions, row limits). */
export function parsePositiveInt(text: string | number, what: string): number {
  const n = typeof text === "number" ? text : /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new TallyError("INVALID_OPTION", `invalid ${what} "${text}": pass a positive integer`, {
      details: { field: what },
    });
  }
  return n;
}
