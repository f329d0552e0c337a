/**
 * Writing one commit's rollup rows (`meter-rollup-rows.ts`) into `<p>_rollups` (schema in `meter-schema.sql`) with
 * multi-row upserts. Counters add, min/max keep the extreme (a corrupt non-numeric stored value is
 * replaced), histograms are added by the registered `tally_hist_add` (NULL is an empty histogram).
 *
 * Why multi-row: better-sqlite3 pays a fixed cost per statement run (the call into C++, reset,
 * VDBE setup) about as large as the B-tree work of a row. Upserting 64 rows per run pays it once
 * per 64 rows: 3.0 -> 1.9 µs CPU per new row on the reference machine (1 M rows, 10 k per commit).
 * The rows of one statement are inserted in order, so a key repeated within it still merges (its
 * DO UPDATE sees the earlier row); the remainder of a commit goes through 8-row and 1-row forms.
 *
 * What is left is about three quarters SQLite's own work (the key seek, the record, the page) and
 * one quarter binding (~0.1 µs per number, ~0.2 µs per string; callgrind, 110 k rows), so rows bind
 * as few values as they can. A delta without interval data uses a shape that binds 16 values
 * instead of 21 and leaves the interval columns alone. A delta of a single event without interval
 * data, the common case (a minute of a high-cardinality index), binds five numbers and a string: its
 * counters, min/max, sums and histogram text are derived in SQL from its status, start, duration
 * and bucket, and its report, tier and index name are bound once per statement (`INSERT ... SELECT
 * ... FROM (VALUES ...)`): ~3.3 k fewer instructions per row of ~25 k (callgrind, 110 k rows).
 */

import { histText, type RollupRows, textOf } from "./meter-rollup-rows.ts";
import type { SqliteDatabaseLike, SqliteStatement } from "./meter-sqlite-database.ts";

const isNum = (c: string): string => `typeof(${c}) IN ('integer','real')`;
const minMax = (c: string, fn: "min" | "max"): string =>
  `${c} = CASE WHEN NOT ${isNum(c)} THEN excluded.${c} WHEN excluded.${c} IS NULL THEN ${c} ELSE ${fn}(${c}, excluded.${c}) END`;
const add = (c: string): string => `${c} = ${c} + excluded.${c}`;
const hist = (c: string): string =>
  `${c} = CASE WHEN excluded.${c} IS NULL THEN ${c} WHEN ${c} IS NULL THEN excluded.${c} ELSE tally_hist_add(${c}, excluded.${c}) END`;

const SHORT_COLUMNS = `report, tier, index_name, bucket_start, index_key, count, success_count, failure_count,
  skipped_count, started_at_min, started_at_max, duration_ms_count, duration_ms_sum, duration_ms_min,
  duration_ms_max, duration_ms_hist`;
const FULL_COLUMNS = `${SHORT_COLUMNS}, interval_ms_count, interval_ms_sum, interval_ms_min, interval_ms_max,
  interval_ms_hist`;
const SHORT_SET = [
  add("count"),
  add("success_count"),
  add("failure_count"),
  add("skipped_count"),
  minMax("started_at_min", "min"),
  minMax("started_at_max", "max"),
  add("duration_ms_count"),
  add("duration_ms_sum"),
  minMax("duration_ms_min", "min"),
  minMax("duration_ms_max", "max"),
  hist("duration_ms_hist"),
];
const FULL_SET = [
  ...SHORT_SET,
  add("interval_ms_count"),
  add("interval_ms_sum"),
  minMax("interval_ms_min", "min"),
  minMax("interval_ms_max", "max"),
  hist("interval_ms_hist"),
];

/** NaN marks a null min/max in `RollupRows`. */
const orNull = (value: number): number | null => (Number.isNaN(value) ? null : value);
const SHORT_WIDTH = 16;
const FULL_WIDTH = 21;
/**
 * A single event's row: bucket start, index key, status (0 success, 1 failure, 2 skipped), start,
 * duration and its histogram bucket (both null for none), after the report, tier and index name,
 * bound once per statement (rows come in key order, so those change a few times per commit). The
 * histogram's text (`{"<bucket>":1}`, as `histText` makes it) is made in SQL: a number binds for
 * about a third of a string's cost.
 */
const SINGLE_WIDTH = 6;
const SINGLE_LEAD = 3;
const SINGLE_SELECT = `?, ?, ?, column1, column2, 1, column3 = 0, column3 = 1, column3 = 2, column4, column4,
  column5 IS NOT NULL, coalesce(column5, 0), column5, column5, '{"' || CAST(column6 AS INTEGER) || '":1}'`;
/** Rows per statement run, largest first; the last must be 1. */
const SIZES = [64, 8, 1] as const;

const tuples = (width: number, rows: number): string => {
  const row = `(${Array.from({ length: width }, () => "?").join(", ")})`;
  return Array.from({ length: rows }, () => row).join(", ");
};

function upsertSql(p: string, columns: string, width: number, set: string[], rows: number): string {
  return `INSERT INTO ${p}_rollups (${columns}) VALUES ${tuples(width, rows)}
    ON CONFLICT DO UPDATE SET ${set.join(", ")}`;
}

// The rows come from a VALUES co-routine one at a time, each inserted before the next is read,
// so a key repeated within one statement still merges. `WHERE true` tells the parser that ON
// CONFLICT belongs to the INSERT, not to a join.
function singleSql(p: string, rows: number): string {
  return `INSERT INTO ${p}_rollups (${SHORT_COLUMNS}) SELECT ${SINGLE_SELECT} FROM (VALUES ${tuples(SINGLE_WIDTH, rows)})
    WHERE true ON CONFLICT DO UPDATE SET ${SHORT_SET.join(", ")}`;
}

/**
 * One row shape: its statements per size and the argument buffer rows are written into, after
 * `lead` values bound once per statement.
 */
class Shape {
  readonly width: number;
  readonly lead: number;
  readonly #statements: SqliteStatement[];
  readonly #args: unknown[];
  readonly #small: unknown[][];
  /** Rows written into `args` and not yet run. */
  rows = 0;

  constructor(width: number, lead: number, prepare: (rows: number) => SqliteStatement) {
    this.width = width;
    this.lead = lead;
    this.#statements = SIZES.map(prepare);
    this.#args = new Array<unknown>(lead + (SIZES[0] as number) * width);
    this.#small = SIZES.slice(1).map((rows) => new Array<unknown>(lead + rows * width));
  }

  /** The argument buffer; row r starts at `lead + r * width`. */
  get args(): unknown[] {
    return this.#args;
  }

  /** Sets the values bound once per statement. */
  setLead(i: number, value: unknown): void {
    this.#args[i] = value;
    for (const small of this.#small) small[i] = value;
  }

  /** Call after writing `width` values at `rows * width`: runs a full buffer. */
  added(): void {
    this.rows++;
    if (this.rows === SIZES[0]) {
      (this.#statements[0] as SqliteStatement).run(...this.#args);
      this.rows = 0;
    }
  }

  /** Runs the rows still buffered through the smaller statements. */
  flush(): void {
    const w = this.width;
    const lead = this.lead;
    let at = 0;
    for (let s = 1; s < SIZES.length; s++) {
      const size = SIZES[s] as number;
      const statement = this.#statements[s] as SqliteStatement;
      const small = this.#small[s - 1] as unknown[];
      while (this.rows - at >= size) {
        for (let i = 0; i < size * w; i++) small[lead + i] = this.#args[lead + at * w + i];
        statement.run(...small);
        at += size;
      }
    }
    this.rows = 0;
  }
}

export class RollupUpserts {
  readonly #single: Shape;
  readonly #short: Shape;
  readonly #full: Shape;

  constructor(db: SqliteDatabaseLike, p: string) {
    this.#single = new Shape(SINGLE_WIDTH, SINGLE_LEAD, (rows) => db.prepare(singleSql(p, rows)));
    this.#short = new Shape(SHORT_WIDTH, 0, (rows) =>
      db.prepare(upsertSql(p, SHORT_COLUMNS, SHORT_WIDTH, SHORT_SET, rows)),
    );
    this.#full = new Shape(FULL_WIDTH, 0, (rows) => db.prepare(upsertSql(p, FULL_COLUMNS, FULL_WIDTH, FULL_SET, rows)));
  }

  /** Merges the rows into report `report`'s rollups; call inside the commit's transaction. */
  write(report: number, rows: RollupRows): void {
    const single = this.#single;
    single.setLead(0, report);
    // The tier and index name the single shape's buffered rows have (-1: none yet).
    let singleTier = -1;
    let singleName = -1;
    try {
      for (let k = 0; k < rows.size; k++) {
        const intervalMin = rows.intervalMsMin[k] as number;
        const intervalMax = rows.intervalMsMax[k] as number;
        const histFrom = rows.histFrom[k] as number;
        const histSplit = histFrom + (rows.durationPairs[k] as number);
        const histTo = rows.histFrom[k + 1] as number;
        const interval =
          (rows.intervalMsCount[k] as number) !== 0 ||
          (rows.intervalMsSum[k] as number) !== 0 ||
          !Number.isNaN(intervalMin) ||
          !Number.isNaN(intervalMax) ||
          histSplit < histTo;
        if (!interval && rows.count[k] === 1) {
          const tier = rows.tier[k] as number;
          const name = rows.indexName[k] as number;
          if (tier !== singleTier || name !== singleName) {
            single.flush();
            single.setLead(1, tier);
            single.setLead(2, textOf(rows, name));
            singleTier = tier;
            singleName = name;
          }
          const a = single.args;
          const b = SINGLE_LEAD + single.rows * SINGLE_WIDTH;
          a[b] = rows.bucketStart[k];
          a[b + 1] = textOf(rows, rows.indexKey[k] as number);
          a[b + 2] = rows.successCount[k] === 1 ? 0 : rows.failureCount[k] === 1 ? 1 : 2;
          a[b + 3] = rows.startedAtMin[k];
          a[b + 4] = rows.durationMsCount[k] === 1 ? rows.durationMsSum[k] : null;
          a[b + 5] = histSplit > histFrom ? rows.hist[histFrom * 2] : null;
          single.added();
          continue;
        }
        const shape = interval ? this.#full : this.#short;
        const a = shape.args;
        const b = shape.rows * shape.width;
        a[b] = report;
        a[b + 1] = rows.tier[k];
        a[b + 2] = textOf(rows, rows.indexName[k] as number);
        a[b + 3] = rows.bucketStart[k];
        a[b + 4] = textOf(rows, rows.indexKey[k] as number);
        a[b + 5] = rows.count[k];
        a[b + 6] = rows.successCount[k];
        a[b + 7] = rows.failureCount[k];
        a[b + 8] = rows.skippedCount[k];
        a[b + 9] = orNull(rows.startedAtMin[k] as number);
        a[b + 10] = orNull(rows.startedAtMax[k] as number);
        a[b + 11] = rows.durationMsCount[k];
        a[b + 12] = rows.durationMsSum[k];
        a[b + 13] = orNull(rows.durationMsMin[k] as number);
        a[b + 14] = orNull(rows.durationMsMax[k] as number);
        a[b + 15] = histText(rows, histFrom, histSplit);
        if (interval) {
          a[b + 16] = rows.intervalMsCount[k];
          a[b + 17] = rows.intervalMsSum[k];
          a[b + 18] = orNull(intervalMin);
          a[b + 19] = orNull(intervalMax);
          a[b + 20] = histText(rows, histSplit, histTo);
        }
        shape.added();
      }
      single.flush();
      this.#short.flush();
      this.#full.flush();
    } finally {
      // A failed statement rolls the whole transaction back: nothing buffered may leak into the next.
      this.#single.rows = 0;
      this.#short.rows = 0;
      this.#full.rows = 0;
    }
  }
}
