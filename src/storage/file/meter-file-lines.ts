/**
 * Parsing a claimed log file's lines into payloads (see `meter-stream.ts`). A line that is not
 * JSON gives `undefined`; the stream then quarantines the file or delivers the row as malformed.
 */

/**
 * Parses the lines of `text` (complete lines, each ending in "\n") from char offset `start`; a
 * line that is not JSON gives `undefined`. The common case is one `JSON.parse` of the lines joined
 * into an array, taken only when every line looks like one object (starts with "{", ends with "}")
 * and the array has exactly one element per line; anything else is parsed line by line.
 */
export function parseLines(text: string, start: number, count: number): unknown[] {
  if (count === 0) return [];
  let objects = text.charCodeAt(start) === 123;
  for (let i = text.indexOf("\n", start); objects && i >= 0; i = text.indexOf("\n", i + 1)) {
    objects = text.charCodeAt(i - 1) === 125 && (i + 1 === text.length || text.charCodeAt(i + 1) === 123);
  }
  if (objects) {
    try {
      const all = JSON.parse(`[${text.slice(start, -1).replaceAll("\n", ",")}]`) as unknown[];
      if (all.length === count) return all;
    } catch {
      // fall through: find the bad lines one by one
    }
  }
  const lines = text.slice(start).split("\n");
  lines.pop();
  return lines.map((line) => {
    try {
      return JSON.parse(line) as unknown;
    } catch {
      return undefined;
    }
  });
}

/** The char offset where line `n + 1` starts (0 for n = 0). */
export function lineOffset(text: string, n: number): number {
  let at = 0;
  for (let i = 0; i < n; i++) at = text.indexOf("\n", at) + 1;
  return at;
}
