/**
 * Structural validation of an `EventSnapshot` from outside (an import, a merge, a sync, a file):
 * anything malformed is `CORRUPT_DATA` naming the field, so a bad set is rejected before any of it
 * is applied. Geometry (units, bucket counts, alignment, zone) may differ from the store's: that is
 * what conversion is for.
 */

import { TallyError } from "../errors.ts";
import { isTimeUnit } from "../time/units.ts";
import { MAX_BUCKETS } from "./config.ts";
import { MAX_COUNT } from "./constraints.ts";
import { isValidReplicaId } from "./event-id.ts";
import type { EventSnapshot } from "./snapshot.ts";

export function corrupt(what: string, details?: Record<string, unknown>): TallyError {
  return new TallyError("CORRUPT_DATA", `invalid event snapshot: ${what}`, details === undefined ? {} : { details });
}

const isInstant = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Returns the snapshot when it is well-formed, else throws `CORRUPT_DATA`. */
export function validateSnapshot(value: unknown, id?: string): EventSnapshot {
  const where = id === undefined ? "" : ` (event ${JSON.stringify(id)})`;
  if (typeof value !== "object" || value === null) throw corrupt(`not an object${where}`);
  const s = value as Record<string, unknown>;
  if (s.format !== "tally.counter") throw corrupt(`format must be "tally.counter"${where}`);
  if (s.version !== 1) throw corrupt(`unknown version ${String(s.version)}${where}`);
  if (s.alignment !== "calendar" && s.alignment !== "uniform") throw corrupt(`bad alignment${where}`);
  if (typeof s.timeZone !== "string" || s.timeZone === "") throw corrupt(`bad timeZone${where}`);
  if (!isInstant(s.savedAt)) throw corrupt(`bad savedAt${where}`);
  for (const key of ["firstSeenAt", "lastSeenAt"] as const) {
    if (s[key] !== null && !isInstant(s[key])) throw corrupt(`bad ${key}${where}`);
  }
  if (!Array.isArray(s.units) || s.units.length === 0) throw corrupt(`units must be a non-empty array${where}`);
  const seen = new Set<string>();
  for (const entry of s.units as unknown[]) {
    const e = entry as Record<string, unknown> | null;
    if (typeof e !== "object" || e === null || !isTimeUnit(e.unit) || seen.has(e.unit)) {
      throw corrupt(`unknown or repeated unit${where}`);
    }
    seen.add(e.unit);
    const n = e.bucketCount;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_BUCKETS) {
      throw corrupt(`bad bucketCount for ${e.unit}${where}`);
    }
    if (!isInstant(e.start)) throw corrupt(`bad start for ${e.unit}${where}`);
  }
  if (!Array.isArray(s.replicas)) throw corrupt(`replicas must be an array${where}`);
  const replicaIds = new Set<string>();
  const units = s.units as Array<{ bucketCount: number }>;
  for (const entry of s.replicas as unknown[]) {
    const r = entry as Record<string, unknown> | null;
    if (typeof r !== "object" || r === null || !isValidReplicaId(r.replicaId) || replicaIds.has(r.replicaId)) {
      throw corrupt(`bad or repeated replicaId${where}`);
    }
    replicaIds.add(r.replicaId);
    if (!Array.isArray(r.counts) || r.counts.length > units.length) throw corrupt(`bad counts${where}`);
    (r.counts as unknown[]).forEach((row, u) => {
      if (!Array.isArray(row) || row.length > units[u]!.bucketCount) {
        throw corrupt(`count row ${u} is longer than its bucketCount${where}`);
      }
      for (const c of row as unknown[]) {
        if (typeof c !== "number" || !Number.isInteger(c) || c < 0 || c > MAX_COUNT) {
          throw corrupt(`bad count ${String(c)}${where}`);
        }
      }
    });
  }
  return value as EventSnapshot;
}
