/**
 * The meter reports a server keeps processed and charts. A report either carries its definition
 * (indexes and interval rules, from the config file or the demo) or reuses the one stored for its
 * name and version. `defineFor` returns the `define` callback `processPending` takes.
 */

import type { EventMeter } from "../meter.ts";

export interface DefinitionSpec {
  indexes: string[][];
  intervals: { param: string; groupBy: string[] }[];
}

export interface ReportEntry {
  name: string;
  version: number;
  /** null: reuse the stored definition. */
  definition: DefinitionSpec | null;
}

interface Definer {
  indexBy(...params: Array<string | readonly string[]>): unknown;
  measureIntervalBy(param: string, options?: { groupBy?: string | readonly string[] }): unknown;
}

/** The `define` callback `processPending` takes, built from plain data. */
export function defineFrom(spec: DefinitionSpec): (report: Definer) => void {
  return (report) => {
    for (const index of spec.indexes) if (index.length > 0) report.indexBy(index);
    for (const rule of spec.intervals) report.measureIntervalBy(rule.param, { groupBy: rule.groupBy });
  };
}

export class ReportRegistry {
  readonly #reports = new Map<string, ReportEntry>();

  constructor(reports: readonly ReportEntry[] = []) {
    for (const report of reports) this.add(report);
  }

  add(report: ReportEntry): void {
    this.#reports.set(report.name, report);
  }

  get(name: string): ReportEntry | undefined {
    return this.#reports.get(name);
  }

  list(): ReportEntry[] {
    return [...this.#reports.values()];
  }

  /** The definition to process with: the configured one, else the stored one (rejects when none). */
  async defineFor(meter: EventMeter, report: ReportEntry): Promise<(report: Definer) => void> {
    if (report.definition !== null) return defineFrom(report.definition);
    const stored = await meter.reportDefinition(report.name, { version: report.version });
    return defineFrom({ indexes: stored.indexes, intervals: stored.intervals });
  }
}
