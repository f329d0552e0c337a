/**
 * Output for people and for machines. Human output is plain aligned tables (numbers right-aligned,
 * thousands separated, `-` for "no value"); `--json` prints exactly one JSON document on stdout so
 * scripts can pipe it to `jq`. Diagnostics and progress never go to stdout.
 */

export interface Output {
  json: boolean;
  /** Writes one line to stdout. */
  line(text?: string): void;
  /** Prints a document: JSON when `--json`, else the human rendering given. */
  result(doc: unknown, human: () => string): void;
}

export function makeOutput(json: boolean, write: (text: string) => void = (t) => process.stdout.write(t)): Output {
  return {
    json,
    line: (text = "") => write(`${text}\n`),
    result(doc, human) {
      write(json ? `${JSON.stringify(doc, null, 2)}\n` : `${human().replace(/\n?$/, "\n")}`);
    },
  };
}

const integerFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimalFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 });

/** 1240000 -> "1,240,000"; 0.1234 -> "0.123"; null/undefined -> "-". */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return String(value);
    return Number.isInteger(value) ? integerFormat.format(value) : decimalFormat.format(value);
  }
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** Renders rows as an aligned table with a header line; numeric columns align right. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((row) => headers.map((_, i) => formatValue(row[i])));
  const numeric = headers.map((_, i) =>
    rows.every((row) => row[i] === null || row[i] === undefined || typeof row[i] === "number"),
  );
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => (row[i] ?? "").length)));
  const render = (row: readonly string[]) =>
    row
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [render(headers), render(widths.map((w) => "-".repeat(w))), ...cells.map(render)].join("\n");
}

/** A two-column key/value table, for one summary or one definition. */
export function keyValues(entries: Record<string, unknown>): string {
  const width = Math.max(0, ...Object.keys(entries).map((k) => k.length));
  return Object.entries(entries)
    .map(([key, value]) => `${key.padEnd(width)}  ${formatValue(value)}`)
    .join("\n");
}
