/**
 * `EventMeter`: records lifecycle events into a stream, processes them into rollups and answers
 * reports. Every instance method also exists as a static that delegates to the module default set
 * by `EventMeter.configure`; until then static `start` returns events whose finish resolves with
 * `NOT_CONFIGURED` and the other statics reject with it, so a bare import never creates files.
 */

import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { isTallyError, TallyError } from "../errors.ts";
import { type Clock, systemClock } from "../time/clock.ts";
import { autoCleanup, type CleanupOptions, cleanupPlanOf } from "./cleanup.ts";
import { defaultRollups, defaultStream } from "./default-stores.ts";
import { DefinitionBuilder, type ReportDefiner } from "./definition.ts";
import { type EventSink, LifecycleEvent, type MeterEvent, StreamFailure, WRITTEN } from "./event.ts";
import { type EventMeterOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import type { Params } from "./payload.ts";
import { type ProcessProgress, type ProcessResult, runProcess } from "./processor.ts";
import { requireName, requireQuery, requireVersion } from "./report-query.ts";
import {
  type Breakdown,
  breakdown,
  type Comparison,
  compare,
  type ReportContext,
  reportDefinition,
  type SeriesPoint,
  series,
  summary,
} from "./reports.ts";
import type { CleanupResult, MeterRollups, StoredDefinition } from "./rollups.ts";
import type { MeterStream } from "./stream.ts";
import type { Summary } from "./summary.ts";

export interface ProcessOptions {
  /** Positive safe integer. */
  version: number;
  /** Rows read by this call in total. @default 100_000 */
  maxRows?: number;
  /** Rows per read-commit-ack cycle. @default 10_000 */
  batchRows?: number;
  /** Checked between batches. */
  signal?: AbortSignal;
  onProgress?: (p: ProcessProgress) => void;
}

function positiveInt(value: unknown, what: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) return value;
  throw new TallyError("INVALID_OPTION", `invalid ${what} ${String(value)}: pass a positive integer`);
}

function storeFailure(error: unknown): unknown {
  return isTallyError(error)
    ? error
    : new TallyError("STORE_UNAVAILABLE", "a meter store failed; see cause", { cause: error });
}

const NOTHING_APPENDED = Symbol("nothing appended yet");
const written = (): typeof WRITTEN => WRITTEN;
const streamFailure = (cause: unknown): StreamFailure => new StreamFailure(cause);

const notConfigured = (): TallyError =>
  new TallyError(
    "NOT_CONFIGURED",
    "EventMeter has no module default; call EventMeter.configure(options) first or use an instance",
  );

export class EventMeter {
  static #default: EventMeter | null = null;

  readonly #options: ResolvedOptions;
  readonly #stream: MeterStream;
  readonly #rollups: MeterRollups;
  readonly #clock: Clock;
  readonly #reader = `${hostname().replace(/[^A-Za-z0-9_.-]/g, "-")}-${process.pid}-${randomBytes(4).toString("hex")}`;
  readonly #sink: EventSink;
  #inFlight = 0;
  #idle: Array<() => void> = [];

  constructor(options?: EventMeterOptions) {
    this.#options = resolveOptions(options);
    this.#clock = options?.clock ?? systemClock;
    this.#stream = options?.stream ?? defaultStream(this.#clock);
    this.#rollups = options?.rollups ?? defaultRollups();
    const namespace = this.#options.namespace;
    const stream = this.#stream;
    // The outcome of the last stream promise seen: appends that share one promise (FileStream's
    // group commit) share one never-rejecting outcome, so each event adds a single reaction.
    let lastAppended: unknown = NOTHING_APPENDED;
    let lastOutcome: Promise<unknown> = Promise.resolve(WRITTEN);
    this.#sink = {
      clock: this.#clock,
      write: (payload) => {
        let appended: unknown;
        try {
          appended = stream.append(namespace, [payload]);
        } catch (error) {
          appended = Promise.reject(error);
        }
        this.#inFlight++;
        if (appended !== lastAppended) {
          lastAppended = appended;
          // A custom stream returning a non-promise must not make instrumentation throw.
          lastOutcome = (appended instanceof Promise ? appended : Promise.resolve(appended)).then(
            written,
            streamFailure,
          );
        }
        return lastOutcome;
      },
      settled: () => this.#settled(),
    };
  }

  #settled(): void {
    if (--this.#inFlight === 0 && this.#idle.length > 0) {
      const waiters = this.#idle;
      this.#idle = [];
      for (const wake of waiters) wake();
    }
  }

  get namespace(): string {
    return this.#options.namespace;
  }

  #context(): ReportContext {
    return {
      rollups: this.#rollups,
      clock: this.#clock,
      namespace: this.#options.namespace,
      retention: this.#options.retention,
      summaryKeyLimit: this.#options.summaryKeyLimit,
    };
  }

  /** Sets and returns the module default (the old one is not closed). */
  static configure(options: EventMeterOptions): EventMeter {
    const meter = new EventMeter(options);
    EventMeter.#default = meter;
    return meter;
  }

  static #meter(): Promise<EventMeter> {
    return EventMeter.#default === null ? Promise.reject(notConfigured()) : Promise.resolve(EventMeter.#default);
  }

  static start(name: string, params?: Params | null): MeterEvent {
    if (EventMeter.#default === null) return new LifecycleEvent(null, name, params, notConfigured());
    return EventMeter.#default.start(name, params);
  }

  static processPending(
    name: string,
    options: ProcessOptions,
    define?: (report: ReportDefiner) => void,
  ): Promise<ProcessResult> {
    return EventMeter.#meter().then((m) => m.processPending(name, options, define));
  }

  static summary(name: string, query: SummaryQuery): Promise<Summary> {
    return EventMeter.#meter().then((m) => m.summary(name, query));
  }

  static series(name: string, query: SeriesQuery): Promise<SeriesPoint[]> {
    return EventMeter.#meter().then((m) => m.series(name, query));
  }

  static compare(name: string, query: CompareQuery): Promise<Comparison> {
    return EventMeter.#meter().then((m) => m.compare(name, query));
  }

  static breakdown(name: string, query: BreakdownQuery): Promise<Breakdown> {
    return EventMeter.#meter().then((m) => m.breakdown(name, query));
  }

  static reportDefinition(name: string, options: { version: number }): Promise<StoredDefinition> {
    return EventMeter.#meter().then((m) => m.reportDefinition(name, options));
  }

  static cleanupHistory(options: CleanupOptions): Promise<CleanupResult> {
    return EventMeter.#meter().then((m) => m.cleanupHistory(options));
  }

  static pendingCount(name: string): Promise<number> {
    return EventMeter.#meter().then((m) => m.pendingCount(name));
  }

  static close(): Promise<void> {
    return EventMeter.#meter().then((m) => m.close());
  }

  /** Captures the start time; never throws (problems land in `event.error`). */
  start(name: string, params?: Params | null): MeterEvent {
    return new LifecycleEvent(this.#sink, name, params);
  }

  async processPending(
    name: string,
    options: ProcessOptions,
    define?: (report: ReportDefiner) => void,
  ): Promise<ProcessResult> {
    requireName(name);
    const o = requireQuery(options, "processPending") as Partial<ProcessOptions>;
    const version = requireVersion(o.version);
    const maxRows = positiveInt(o.maxRows, "maxRows", 100_000);
    const batchRows = positiveInt(o.batchRows, "batchRows", 10_000);
    if (define !== undefined && typeof define !== "function") {
      throw new TallyError(
        "INVALID_OPTION",
        "the report definer must be a function like (report) => report.indexBy('x')",
      );
    }
    if (o.onProgress !== undefined && typeof o.onProgress !== "function") {
      throw new TallyError("INVALID_OPTION", "onProgress must be a function");
    }
    const ref = { namespace: this.#options.namespace, name, version };
    let definition: StoredDefinition;
    try {
      if (define === undefined) {
        definition = (await this.#rollups.getDefinition(ref)) ?? new DefinitionBuilder().build(name, version);
      } else {
        const builder = new DefinitionBuilder();
        define(builder);
        definition = builder.build(name, version);
      }
      await this.#rollups.ensureDefinition(ref, definition);
      const result = await runProcess({
        stream: this.#stream,
        rollups: this.#rollups,
        clock: this.#clock,
        ref,
        definition,
        reader: this.#reader,
        lockTtlMs: this.#options.lockTtlMs,
        maxRows,
        batchRows,
        signal: o.signal,
        onProgress: o.onProgress,
        warn: (message, cause) => process.emitWarning(cause === undefined ? message : `${message}: ${String(cause)}`),
      });
      if (this.#options.autoCleanupHistory && !result.locked) {
        await autoCleanup({
          rollups: this.#rollups,
          clock: this.#clock,
          namespace: this.#options.namespace,
          retention: this.#options.retention,
          intervalMs: this.#options.cleanupIntervalMs,
          lockTtlMs: this.#options.lockTtlMs,
          onError: this.#options.onAutoCleanupError,
        });
      }
      return result;
    } catch (error) {
      throw storeFailure(error);
    }
  }

  summary(name: string, query: SummaryQuery): Promise<Summary> {
    return this.#report(() => summary(this.#context(), requireName(name), query));
  }

  series(name: string, query: SeriesQuery): Promise<SeriesPoint[]> {
    return this.#report(() => series(this.#context(), requireName(name), query));
  }

  compare(name: string, query: CompareQuery): Promise<Comparison> {
    return this.#report(() => compare(this.#context(), requireName(name), query));
  }

  breakdown(name: string, query: BreakdownQuery): Promise<Breakdown> {
    return this.#report(() => breakdown(this.#context(), requireName(name), query));
  }

  reportDefinition(name: string, options: { version: number }): Promise<StoredDefinition> {
    return this.#report(() =>
      reportDefinition(this.#context(), requireName(name), requireQuery(options, "reportDefinition").version),
    );
  }

  cleanupHistory(options: CleanupOptions): Promise<CleanupResult> {
    return this.#report(() => this.#rollups.cleanup(this.#options.namespace, cleanupPlanOf(options)));
  }

  pendingCount(name: string): Promise<number> {
    return this.#report(() =>
      this.#stream.pendingCount({ namespace: this.#options.namespace, name: requireName(name) }),
    );
  }

  /** Awaits in-flight writes, then closes the stores (each closes what it owns). */
  async close(): Promise<void> {
    if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
    await this.#stream.close();
    await this.#rollups.close();
  }

  async #report<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw storeFailure(error);
    }
  }
}

export type TimeInput = number | Date | string;
export type ByQuery = Record<string, string | number | boolean>;
export interface SummaryQuery {
  version: number;
  from?: TimeInput;
  to?: TimeInput;
  by?: ByQuery | null;
}
export interface SeriesQuery extends SummaryQuery {
  /** @default "minute" */
  every?: "minute" | "hour" | "day";
}
export interface CompareQuery {
  version: number;
  before: { from: TimeInput; to: TimeInput };
  after: { from: TimeInput; to: TimeInput };
  by?: ByQuery | null;
}
export interface BreakdownQuery {
  version: number;
  by: string | readonly string[];
  from: TimeInput;
  to: TimeInput;
  /** @default "count" */
  sort?: import("./summary.ts").NumericField;
  /** @default "desc" */
  order?: "desc" | "asc";
  /** @default 10, at most 1000 */
  limit?: number;
}
