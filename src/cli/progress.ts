/**
 * A progress bar on stderr for long work (processing a backlog, cleanup, import). On a TTY it
 * redraws one line in place; elsewhere (with `--progress`) it prints a line about once a second,
 * so logs stay readable. It never writes to stdout, so `--json` output stays one clean document.
 */

import { formatValue } from "./output.ts";

export interface ProgressOptions {
  /** Whether to draw at all (default: stderr is a TTY). */
  enabled?: boolean;
  /** Expected total, for the bar and the percentage; null draws counts only. */
  total?: number | null;
  /** What is being counted ("processed", "imported"). */
  label: string;
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  now?: () => number;
}

const BAR_WIDTH = 24;

export class Progress {
  readonly #enabled: boolean;
  readonly #tty: boolean;
  readonly #stream: NodeJS.WritableStream;
  readonly #now: () => number;
  readonly #label: string;
  readonly #started: number;
  #total: number | null;
  #lastDraw = Number.NEGATIVE_INFINITY;
  #drawn = false;

  constructor(options: ProgressOptions) {
    const stream = options.stream ?? process.stderr;
    this.#stream = stream;
    this.#tty = (stream as { isTTY?: boolean }).isTTY === true;
    this.#enabled = options.enabled ?? this.#tty;
    this.#now = options.now ?? Date.now;
    this.#label = options.label;
    this.#total = options.total ?? null;
    this.#started = this.#now();
  }

  set total(total: number | null) {
    this.#total = total;
  }

  /** Reports `done` units so far; draws when due (throttled). `extra` is appended as is. */
  update(done: number, extra = ""): void {
    if (!this.#enabled) return;
    const now = this.#now();
    if (now - this.#lastDraw < (this.#tty ? 250 : 1000)) return;
    this.#lastDraw = now;
    this.#draw(done, extra, false);
  }

  /** Draws the final state and ends the line. */
  finish(done: number, extra = ""): void {
    if (!this.#enabled) return;
    this.#draw(done, extra, true);
  }

  /** The text of one progress line (exported for tests through `render`). */
  render(done: number, extra = ""): string {
    const seconds = Math.max((this.#now() - this.#started) / 1000, 0.001);
    const rate = `${compact(done / seconds)}/s`;
    const parts: string[] = [];
    if (this.#total !== null && this.#total > 0) {
      const ratio = Math.min(1, done / this.#total);
      const filled = Math.round(ratio * BAR_WIDTH);
      parts.push(
        `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}%`,
      );
    }
    parts.push(`${this.#label} ${formatValue(done)} (${rate})`);
    if (extra !== "") parts.push(extra);
    return parts.join(" ");
  }

  #draw(done: number, extra: string, final: boolean): void {
    const text = this.render(done, extra);
    if (this.#tty) {
      this.#stream.write(`\r\x1b[2K${text}${final ? "\n" : ""}`);
    } else {
      this.#stream.write(`${text}\n`);
    }
    this.#drawn = true;
  }

  get drawn(): boolean {
    return this.#drawn;
  }
}

/** 212345 -> "212k", 1500000 -> "1.5M". */
export function compact(n: number): string {
  if (!Number.isFinite(n)) return "0";
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}k`;
  return String(Math.round(n));
}
