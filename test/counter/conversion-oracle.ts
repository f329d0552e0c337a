/**
 * What a store holds after recording a list of (instant, count) records, computed the naive way:
 * bucket i of unit u sums the records whose period is ord(u, now) − i. The conversion tests build
 * "stored" snapshots with it and compare conversions against the records themselves.
 */

import type { EventSnapshot } from "../../src/counter/snapshot.ts";
import { type Alignment, periodsFor } from "../../src/time/calendar.ts";
import type { TimeUnit } from "../../src/time/units.ts";

export interface Config {
  alignment: Alignment;
  timeZone: string;
  units: Array<{ unit: TimeUnit; bucketCount: number }>;
}

export interface Rec {
  at: number;
  count: number;
}

export function rowsFor(records: readonly Rec[], config: Config, now: number): number[][] {
  const periods = periodsFor(config.alignment, config.timeZone);
  return config.units.map(({ unit, bucketCount }) => {
    const row = new Array<number>(bucketCount).fill(0);
    const current = periods.ordinal(unit, now);
    for (const r of records) {
      const i = current - periods.ordinal(unit, r.at);
      if (i >= 0 && i < bucketCount) row[i] = (row[i] ?? 0) + r.count;
    }
    return row;
  });
}

export function recordedSnapshot(replicas: Record<string, readonly Rec[]>, config: Config, now: number): EventSnapshot {
  const periods = periodsFor(config.alignment, config.timeZone);
  const all = Object.values(replicas).flat();
  const instants = all.map((r) => r.at);
  return {
    format: "tally.counter",
    version: 1,
    alignment: config.alignment,
    timeZone: config.timeZone,
    savedAt: now,
    firstSeenAt: instants.length === 0 ? null : Math.min(...instants),
    lastSeenAt: instants.length === 0 ? null : Math.max(...instants),
    units: config.units.map(({ unit, bucketCount }) => ({
      unit,
      bucketCount,
      start: periods.start(unit, periods.ordinal(unit, now)),
    })),
    replicas: Object.entries(replicas).map(([replicaId, records]) => ({
      replicaId,
      counts: rowsFor(records, config, now),
    })),
  };
}

/** The row of `unit` for replica r, or undefined when the snapshot does not track it. */
export function rowOf(snapshot: EventSnapshot, unit: TimeUnit, r = 0): number[] | undefined {
  const u = snapshot.units.findIndex((x) => x.unit === unit);
  if (u === -1) return undefined;
  const row = snapshot.replicas[r]?.counts[u] ?? [];
  const full = new Array<number>(snapshot.units[u]?.bucketCount ?? 0).fill(0);
  row.forEach((c, i) => {
    full[i] = c;
  });
  return full;
}

export const total = (row: readonly number[] | undefined): number => (row ?? []).reduce((a, b) => a + b, 0);

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
