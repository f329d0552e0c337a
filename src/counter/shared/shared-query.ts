/**
 * Queries of a `SharedEventStore` (spec §5, Promise-returning): a query object only remembers what
 * to read; each terminal is one atomic backend read of the events it names (no write, no
 * rotation). undefined vs 0 as in-process: undefined when the event does not exist in the backend
 * (never recorded or reserved, or expired after its longest coverage without writes) or the unit
 * is untracked. Without a fallback store a failed read rejects with `STORAGE_FAILED` whatever the
 * failure policy (a wrong answer must be visible); with one, the fallback answers.
 */

import type { TimeUnit } from "../../time/units.ts";
import { toTimeUnit } from "../../time/units.ts";
import { validateEventId } from "../event-id.ts";
import { checkCount, RangeMethods, type RangeSpec } from "../range-methods.ts";
import type { EvaluateReply, EventState } from "./counter-backend.ts";
import { type FallbackRange, type FallbackStore, type RangeSourceLike, replayRange } from "./fallback-store.ts";
import { periodsOf } from "./limit-plan.ts";
import type { SharedEngine } from "./shared-engine.ts";
import { isStorageFailure } from "./shared-limiter.ts";

export interface QueryContext {
  readonly engine: SharedEngine;
  readonly fallback: FallbackStore | undefined;
}

/** Reads `ids` with `depth` buckets of unit u (u < 0: no buckets), once, atomically. */
async function read(context: QueryContext, ids: readonly string[], u: number, depth: number): Promise<EvaluateReply> {
  const engine = context.engine;
  const now = engine.now();
  const row = new Array<number>(engine.layout.units.length).fill(0);
  if (u >= 0) row[u] = depth;
  return engine.call(
    (b) =>
      b.evaluate({
        time: engine.time(now),
        eventIds: ids,
        tests: [],
        action: "check",
        target: 0,
        count: 1,
        state: "always",
        depth: ids.map(() => row),
      }),
    `query of ${ids.map((id) => `"${id}"`).join(", ")}`,
  );
}

/** Runs `remote`; on a backend failure with a fallback store, answers with `local` instead. */
async function orFallback<T>(
  context: QueryContext,
  remote: () => Promise<T>,
  local: (f: FallbackStore) => T,
): Promise<T> {
  try {
    return await remote();
  } catch (error) {
    if (context.fallback === undefined || !isStorageFailure(error)) throw error;
    return local(context.fallback);
  }
}

export class SharedRangeQuery {
  readonly #context: QueryContext;
  readonly #ids: readonly string[];
  readonly #spec: RangeSpec;
  readonly #local: (f: FallbackStore) => FallbackRange;

  constructor(
    context: QueryContext,
    ids: readonly string[],
    spec: RangeSpec,
    local: (f: FallbackStore) => FallbackRange,
  ) {
    this.#context = context;
    this.#ids = ids;
    this.#spec = spec;
    this.#local = local;
  }

  /** Keeps at most the first m buckets of the range. */
  take(m: number): SharedRangeQuery {
    const n = checkCount(m, "take count");
    const spec = this.#spec;
    const next = { unit: spec.unit, start: spec.start, end: Math.min(spec.end, spec.start + n) };
    const ids = this.#ids;
    return new SharedRangeQuery(this.#context, ids, next, (f) =>
      replayRange<FallbackRange>(ids.length === 1 ? f.query(ids[0]!) : f.queryMany(ids), next),
    );
  }

  /** Counts per bucket, newest first (bucket-wise sum over the ids that exist). */
  buckets(): Promise<number[] | undefined> {
    return orFallback(
      this.#context,
      () => this.#buckets(),
      (f) => this.#local(f).buckets(),
    );
  }

  sum(): Promise<number | undefined> {
    return orFallback(
      this.#context,
      async () => {
        const b = await this.#buckets();
        return b === undefined ? undefined : total(b);
      },
      (f) => this.#local(f).sum(),
    );
  }

  average(): Promise<number | undefined> {
    return orFallback(
      this.#context,
      async () => {
        const b = await this.#buckets();
        return b === undefined || b.length === 0 ? undefined : total(b) / b.length;
      },
      (f) => this.#local(f).average(),
    );
  }

  averageNonzero(): Promise<number | undefined> {
    return orFallback(
      this.#context,
      async () => {
        const b = await this.#buckets();
        if (b === undefined) return undefined;
        const n = b.filter((x) => x !== 0).length;
        return n === 0 ? undefined : total(b) / n;
      },
      (f) => this.#local(f).averageNonzero(),
    );
  }

  countNonzero(): Promise<number | undefined> {
    return orFallback(
      this.#context,
      async () => {
        const b = await this.#buckets();
        return b === undefined ? undefined : b.filter((x) => x !== 0).length;
      },
      (f) => this.#local(f).countNonzero(),
    );
  }

  async #buckets(): Promise<number[] | undefined> {
    const engine = this.#context.engine;
    const spec = this.#spec;
    const u = spec.unit === undefined ? engine.layout.everIndex : engine.unitIndex(spec.unit);
    for (const id of this.#ids) validateEventId(id);
    if (u < 0) return undefined;
    const size = engine.layout.sizes[u]!;
    const end = Math.max(spec.start, Math.min(spec.end, size));
    const reply = await read(this.#context, this.#ids, u, end);
    const states = (reply.events ?? []).filter((s) => s.exists);
    if (states.length === 0) return undefined;
    const out = new Array<number>(end - spec.start).fill(0);
    for (const state of states) {
      const row = state.buckets[u] ?? [];
      for (let i = spec.start; i < end; i++) out[i - spec.start]! += row[i] ?? 0;
    }
    return out;
  }
}

/** `store.query(id)`: ranges plus the exact first/last seen answers. */
export class SharedQuery extends RangeMethods<SharedRangeQuery> {
  readonly #context: QueryContext;
  readonly #id: string;

  constructor(context: QueryContext, id: string) {
    super();
    this.#context = context;
    this.#id = id;
  }

  protected range(spec: RangeSpec): SharedRangeQuery {
    const id = this.#id;
    return new SharedRangeQuery(this.#context, [id], spec, (f) => replayRange<FallbackRange>(f.query(id), spec));
  }

  /** ms since the last recorded instant (exact, floored at 0), or undefined. */
  lastSeen(): Promise<number | undefined> {
    return this.#stamp(
      (s, now) => (s.lastSeenAt === undefined ? undefined : Math.max(0, now - s.lastSeenAt)),
      (q) => q.lastSeen(),
    );
  }

  /** ms since the first recorded instant ever, or undefined. */
  firstSeen(): Promise<number | undefined> {
    return this.#stamp(
      (s, now) => (s.firstSeenAt === undefined ? undefined : Math.max(0, now - s.firstSeenAt)),
      (q) => q.firstSeen(),
    );
  }

  lastSeenAt(): Promise<number | undefined> {
    return this.#stamp(
      (s) => s.lastSeenAt,
      (q) => q.lastSeenAt(),
    );
  }

  firstSeenAt(): Promise<number | undefined> {
    return this.#stamp(
      (s) => s.firstSeenAt,
      (q) => q.firstSeenAt(),
    );
  }

  /**
   * Age of the oldest non-zero bucket of `unit`: exact when the first instant lies in it, else the
   * age of the bucket's midpoint (floored at 0); undefined when untracked or all zero.
   */
  firstSeenIn(unit: TimeUnit): Promise<number | undefined> {
    const checked = toTimeUnit(unit, "firstSeenIn unit");
    const context = this.#context;
    const id = this.#id;
    return orFallback(
      context,
      async () => {
        validateEventId(id);
        const engine = context.engine;
        const u = engine.unitIndex(checked);
        if (u < 0) return undefined;
        const reply = await read(context, [id], u, engine.layout.sizes[u]!);
        const state = reply.events?.[0];
        if (state === undefined || !state.exists) return undefined;
        const row = state.buckets[u] ?? [];
        const periods = periodsOf(engine);
        const top = periods.ordinal(checked, reply.now);
        for (let i = row.length - 1; i >= 0; i--) {
          if (row[i] === 0) continue;
          const start = periods.start(checked, top - i);
          const end = periods.start(checked, top - i + 1);
          const first = state.firstSeenAt;
          const at = first !== undefined && first >= start && first < end ? first : start + (end - start) / 2;
          return Math.max(0, reply.now - at);
        }
        return undefined;
      },
      (f) => f.query(id).firstSeenIn(checked),
    );
  }

  #stamp(
    pick: (state: EventState, now: number) => number | undefined,
    local: (q: ReturnType<FallbackStore["query"]>) => number | undefined,
  ): Promise<number | undefined> {
    const context = this.#context;
    const id = this.#id;
    return orFallback(
      context,
      async () => {
        validateEventId(id);
        const reply = await read(context, [id], -1, 0);
        const state = reply.events?.[0];
        return state === undefined || !state.exists ? undefined : pick(state, reply.now);
      },
      (f) => local(f.query(id)),
    );
  }
}

/** `store.queryMany(ids)`: one event whose buckets are the bucket-wise sum of the ids that exist. */
export class SharedRangeSource extends RangeMethods<SharedRangeQuery> {
  readonly #context: QueryContext;
  readonly #ids: readonly string[];

  constructor(context: QueryContext, ids: readonly string[]) {
    super();
    this.#context = context;
    this.#ids = [...new Set(ids)];
  }

  protected range(spec: RangeSpec): SharedRangeQuery {
    const ids = this.#ids;
    return new SharedRangeQuery(this.#context, ids, spec, (f) => replayRange<FallbackRange>(f.queryMany(ids), spec));
  }
}

/** `store.queryRatio(num, den).<range>`: num sum / den sum (undefined when den is missing or 0). */
export class SharedRatioQuery extends RangeMethods<Promise<number | undefined>> {
  readonly #source: (id: string) => RangeSourceLike<SharedRangeQuery>;
  readonly #numerator: string;
  readonly #denominator: string;

  constructor(source: (id: string) => RangeSourceLike<SharedRangeQuery>, numerator: string, denominator: string) {
    super();
    this.#source = source;
    this.#numerator = numerator;
    this.#denominator = denominator;
  }

  protected async range(spec: RangeSpec): Promise<number | undefined> {
    const [num, den] = await Promise.all([
      replayRange(this.#source(this.#numerator), spec).sum(),
      replayRange(this.#source(this.#denominator), spec).sum(),
    ]);
    if (den === undefined || den === 0) return undefined;
    return (num ?? 0) / den;
  }
}

export interface SharedDeltaRangeQuery {
  /** sum(positive) - sum(negative); missing events and untracked units count as 0. */
  sum(): Promise<number>;
  /** The delta / buckets in range (0 when the range holds no buckets). */
  average(): Promise<number>;
}

/** `store.queryDelta(pos, neg).<range>`. */
export class SharedDeltaQuery extends RangeMethods<SharedDeltaRangeQuery> {
  readonly #engine: SharedEngine;
  readonly #source: (id: string) => RangeSourceLike<SharedRangeQuery>;
  readonly #positive: string;
  readonly #negative: string;

  constructor(
    engine: SharedEngine,
    source: (id: string) => RangeSourceLike<SharedRangeQuery>,
    positive: string,
    negative: string,
  ) {
    super();
    this.#engine = engine;
    this.#source = source;
    this.#positive = positive;
    this.#negative = negative;
  }

  protected range(spec: RangeSpec): SharedDeltaRangeQuery {
    const sum = async (): Promise<number> => {
      const [p, n] = await Promise.all([
        replayRange(this.#source(this.#positive), spec).sum(),
        replayRange(this.#source(this.#negative), spec).sum(),
      ]);
      return (p ?? 0) - (n ?? 0);
    };
    const engine = this.#engine;
    return {
      sum,
      average: async () => {
        const u = spec.unit === undefined ? engine.layout.everIndex : engine.unitIndex(spec.unit);
        const size = u < 0 ? 0 : engine.layout.sizes[u]!;
        const n = Math.max(0, Math.min(spec.end, size) - spec.start);
        return n === 0 ? 0 : (await sum()) / n;
      },
    };
  }
}

function total(buckets: readonly number[]): number {
  let sum = 0;
  for (const b of buckets) sum += b;
  return sum;
}
