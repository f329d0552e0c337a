/**
 * The benchmark harness. A bench file is a script that calls `benchmark(name, async () => rows)`;
 * it runs in its own process (so heap figures are its own) and prints its rows as one JSON line,
 * which `bench/run.ts` collects into a table and `bench/results.json`.
 *
 * Targets are ratios against a peer measured in the same run, or figures with a stated target;
 * nothing here asserts: a row says whether it met its target and the README records the run.
 */

export interface BenchRow {
  /** What was measured, e.g. "record(id), default config, 10 000 ids". */
  name: string;
  /** The measured figure. */
  value: number;
  /** Its unit: "ops/s", "events/s", "bytes/event", "reads", "x" for a ratio. */
  unit: string;
  /** The target as text, e.g. ">= 5 M ops/s" or ">= 2x RateLimiterMemory". */
  target?: string;
  /** Whether the target was met (absent when the row has no target). */
  met?: boolean;
  /** Anything a reader needs: the peer's figure, sizes, caveats. */
  note?: string;
}

export const BENCH_PREFIX = "TALLY_BENCH_ROWS ";

/** Runs the rows function and prints its rows for the runner. */
export async function benchmark(file: string, rows: () => Promise<BenchRow[]> | BenchRow[]): Promise<void> {
  const result = await rows();
  process.stdout.write(`${BENCH_PREFIX}${JSON.stringify({ file, rows: result })}\n`);
}

export interface MeasureOptions {
  /** Time to keep measuring, after warm-up. @default 1000 */
  ms?: number;
  /** Calls per timed batch (amortises reading the clock). @default 1000 */
  batch?: number;
}

/**
 * Calls `fn(i)` in batches until `ms` have passed and returns calls per second. A warm-up of the
 * same length lets the JIT settle first.
 */
export function opsPerSecond(fn: (i: number) => unknown, options: MeasureOptions = {}): number {
  const ms = options.ms ?? 1000;
  const batch = options.batch ?? 1000;
  let sink: unknown;
  const run = (budget: number): number => {
    let calls = 0;
    let i = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < budget) {
      for (let k = 0; k < batch; k++) sink = fn(i++);
      calls += batch;
      elapsed = performance.now() - start;
    }
    return (calls / elapsed) * 1000;
  };
  run(Math.min(ms, 300));
  const result = run(ms);
  if (sink === Symbol.for("never")) console.log(sink);
  return result;
}

/** Like `opsPerSecond` for async work: runs `fn` with `concurrency` calls in flight for `ms`. */
export async function asyncOpsPerSecond(
  fn: (i: number) => Promise<unknown>,
  options: { ms?: number; concurrency?: number } = {},
): Promise<number> {
  const ms = options.ms ?? 1000;
  const concurrency = options.concurrency ?? 1;
  const run = async (budget: number): Promise<number> => {
    let calls = 0;
    let next = 0;
    const start = performance.now();
    const worker = async (): Promise<void> => {
      while (performance.now() - start < budget) {
        await fn(next++);
        calls++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return (calls / (performance.now() - start)) * 1000;
  };
  await run(Math.min(ms, 300));
  return run(ms);
}

/** Formats 5_234_000 as "5.23 M". */
export function human(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return value.toFixed(value < 10 ? 2 : 0);
}
