/**
 * How error messages show a bad input: strings quoted, everything else as JS would print it. Never
 * throws, whatever it is given (BigInts, symbols, objects without a prototype), because it runs
 * while building an error.
 */
export function valueText(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  try {
    if (typeof value === "object" && value !== null && !(value instanceof Date))
      return JSON.stringify(value) ?? "an object";
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
