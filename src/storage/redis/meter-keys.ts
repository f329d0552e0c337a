/**
 * Redis key names of the meter's rollups. Every key of one report shares one hash tag, the
 * report's lease key `{<ns>:report:<name>:v<N>}`, so the commit script (which also reads the
 * report lease for its fence) touches a single Cluster slot. Index keys are URI-encoded already, so
 * the parts after the tag never need parsing.
 */

import { leaseKeyOf } from "../../meter/processor.ts";
import type { ReportRef, Tier } from "../../meter/rollups.ts";

export const TIER_NUMBER: Readonly<Record<Tier, number>> = { minute: 1, hour: 2, day: 3 };

export class ReportKeys {
  readonly base: string;

  constructor(prefix: string, ref: ReportRef) {
    this.base = `${prefix}{${leaseKeyOf(ref)}}`;
  }

  get markers(): string {
    return `${this.base}:m`;
  }
  get state(): string {
    return `${this.base}:s`;
  }
  get definition(): string {
    return `${this.base}:def`;
  }
  get indexNames(): string {
    return `${this.base}:in`;
  }
  /** Sorted set of the tier's bucket starts (cleanup). */
  tierStarts(tier: Tier): string {
    return `${this.base}:t:${tier}`;
  }
  row(tier: Tier, start: number, indexKey: string): string {
    return `${this.base}:r:${tier}:${start}:${indexKey}`;
  }
  /** Set of the index keys with a bucket at (tier, start) in one index (readIndex). */
  indexSet(tier: Tier, start: number, indexName: string): string {
    return `${this.base}:ix:${tier}:${start}:${indexName}`;
  }
  /** Sorted set of the starts of one index value set in a tier (listBuckets). */
  starts(tier: Tier, indexKey: string): string {
    return `${this.base}:z:${tier}:${indexKey}`;
  }
}

/** The lease string and its fence counter for an opaque lease key (a report's shares its tag). */
export function leaseKeys(prefix: string, key: string): { lease: string; fence: string } {
  return { lease: `${prefix}{${key}}:lease`, fence: `${prefix}{${key}}:fence` };
}

export function watermarkKey(prefix: string, key: string): string {
  return `${prefix}{${key}}:wm`;
}

/** The set of the namespace's reports (members `[name, version]` JSON), read by cleanup. */
export function reportsKey(prefix: string, namespace: string): string {
  return `${prefix}{${namespace}}:meter-reports`;
}
