/**
 * The summary shape. Every key is always present, in this order, and `null` means "no value"
 * (the gem omitted keys). Averages and percentiles are computed from the merged counters and
 * histograms, never stored or averaged.
 */

import { percentile } from "./histogram.ts";
import type { RollupRecord } from "./rollups.ts";
import { isoOf } from "./time-input.ts";

export interface Summary {
  count: number;
  successCount: number;
  failureCount: number;
  skippedCount: number;
  startedAtMin: string | null;
  startedAtMax: string | null;
  rateWindowSeconds: number;
  perSecond: number | null;
  perMinute: number | null;
  durationMsCount: number;
  durationMsSum: number;
  durationMsAvg: number | null;
  durationMsMin: number | null;
  durationMsMax: number | null;
  durationMsP50: number | null;
  durationMsP90: number | null;
  durationMsP95: number | null;
  durationMsP99: number | null;
  intervalMsCount: number;
  intervalMsSum: number;
  intervalMsAvg: number | null;
  intervalMsMin: number | null;
  intervalMsMax: number | null;
  intervalMsP50: number | null;
  intervalMsP90: number | null;
  intervalMsP95: number | null;
  intervalMsP99: number | null;
}

export type NumericField = Exclude<keyof Summary, "startedAtMin" | "startedAtMax">;

export const NUMERIC_FIELDS: readonly NumericField[] = [
  "count",
  "successCount",
  "failureCount",
  "skippedCount",
  "rateWindowSeconds",
  "perSecond",
  "perMinute",
  "durationMsCount",
  "durationMsSum",
  "durationMsAvg",
  "durationMsMin",
  "durationMsMax",
  "durationMsP50",
  "durationMsP90",
  "durationMsP95",
  "durationMsP99",
  "intervalMsCount",
  "intervalMsSum",
  "intervalMsAvg",
  "intervalMsMin",
  "intervalMsMax",
  "intervalMsP50",
  "intervalMsP90",
  "intervalMsP95",
  "intervalMsP99",
];

/** A summary of a merged record over a rate window in seconds (0 gives null rates). */
export function summaryOf(record: RollupRecord, rateWindowSeconds: number): Summary {
  const r = record;
  const hasDuration = r.durationMsCount > 0;
  const hasInterval = r.intervalMsCount > 0;
  const dp = (q: number): number | null =>
    hasDuration ? percentile(r.durationMsHist, q, r.durationMsMin, r.durationMsMax) : null;
  const ip = (q: number): number | null =>
    hasInterval ? percentile(r.intervalMsHist, q, r.intervalMsMin, r.intervalMsMax) : null;
  return {
    count: r.count,
    successCount: r.successCount,
    failureCount: r.failureCount,
    skippedCount: r.skippedCount,
    startedAtMin: isoOf(r.startedAtMin),
    startedAtMax: isoOf(r.startedAtMax),
    rateWindowSeconds,
    perSecond: rateWindowSeconds > 0 ? r.count / rateWindowSeconds : null,
    perMinute: rateWindowSeconds > 0 ? (r.count * 60) / rateWindowSeconds : null,
    durationMsCount: r.durationMsCount,
    durationMsSum: r.durationMsSum,
    durationMsAvg: hasDuration ? r.durationMsSum / r.durationMsCount : null,
    durationMsMin: hasDuration ? r.durationMsMin : null,
    durationMsMax: hasDuration ? r.durationMsMax : null,
    durationMsP50: dp(0.5),
    durationMsP90: dp(0.9),
    durationMsP95: dp(0.95),
    durationMsP99: dp(0.99),
    intervalMsCount: r.intervalMsCount,
    intervalMsSum: r.intervalMsSum,
    intervalMsAvg: hasInterval ? r.intervalMsSum / r.intervalMsCount : null,
    intervalMsMin: hasInterval ? r.intervalMsMin : null,
    intervalMsMax: hasInterval ? r.intervalMsMax : null,
    intervalMsP50: ip(0.5),
    intervalMsP90: ip(0.9),
    intervalMsP95: ip(0.95),
    intervalMsP99: ip(0.99),
  };
}
