/**
 * Keeps the rollups of the registered reports current while the server runs: a pass calls
 * `processPending` for every report until its backlog is drained, then the next pass starts
 * `intervalMs` after the previous one ended (never two passes at once). A failing report is logged
 * and retried next pass; it never stops the others or the server. Note the file stream only hands
 * out a minute's file once that minute is over (plus its claim grace), so fresh events reach the
 * charts within about a minute.
 */

import type { EventMeter } from "../meter.ts";
import type { ReportRegistry } from "./report-registry.ts";

export interface PassResult {
  name: string;
  version: number;
  processed: number;
  malformed: number;
  locked: boolean;
  error: string | null;
}

export interface ProcessorOptions {
  intervalMs: number;
  log?: (line: string) => void;
  /** Called after every pass (the dashboard's "last processed" and tests). */
  onPass?: (results: PassResult[]) => void;
}

export class MeterProcessor {
  readonly #meter: EventMeter;
  readonly #registry: ReportRegistry;
  readonly #options: ProcessorOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<PassResult[]> | undefined;
  #stopped = true;
  lastPassAt: number | null = null;
  lastResults: PassResult[] = [];

  constructor(meter: EventMeter, registry: ReportRegistry, options: ProcessorOptions) {
    this.#meter = meter;
    this.#registry = registry;
    this.#options = options;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.runOnce().finally(() => this.#schedule(this.#options.intervalMs));
    }, delay);
    this.#timer.unref();
  }

  /** Runs one pass now, or joins the pass in flight. */
  runOnce(): Promise<PassResult[]> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #pass(): Promise<PassResult[]> {
    const results: PassResult[] = [];
    for (const report of this.#registry.list()) {
      const result: PassResult = {
        name: report.name,
        version: report.version,
        processed: 0,
        malformed: 0,
        locked: false,
        error: null,
      };
      try {
        const define = await this.#registry.defineFor(this.#meter, report);
        for (let round = 0; round < 100 && !this.#stopped; round++) {
          const r = await this.#meter.processPending(report.name, { version: report.version }, define);
          result.processed += r.processed;
          result.malformed += r.malformed;
          result.locked ||= r.locked;
          if (!r.hasMore || r.locked || !r.complete) break;
        }
      } catch (error) {
        result.error = error instanceof Error ? error.message : String(error);
        this.#options.log?.(`processing ${report.name} v${report.version} failed: ${result.error}`);
      }
      results.push(result);
    }
    this.lastPassAt = Date.now();
    this.lastResults = results;
    this.#options.onPass?.(results);
    return results;
  }

  /** Stops scheduling and waits for the pass in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
  }
}
