/**
 * The `tally/meter` entry: curated public exports only (no `export *`). Each module adds its
 * exports here as it lands.
 */

export {
  AlreadyRecordedError,
  DefinitionChangedError,
  DefinitionNotFoundError,
  LockLostError,
  TallyError,
  UnsupportedQueryError,
} from "./errors.ts";
export type { CleanupOptions } from "./meter/cleanup.ts";
export type { ReportDefiner } from "./meter/definition.ts";
export type { MeterEvent, WriteResult } from "./meter/event.ts";
export {
  type BreakdownQuery,
  type ByQuery,
  type CompareQuery,
  EventMeter,
  type ProcessOptions,
  type SeriesQuery,
  type SummaryQuery,
  type TimeInput,
} from "./meter/event-meter.ts";
export type { IndexValue } from "./meter/index-key.ts";
export type { EventMeterOptions, RetentionByTier } from "./meter/options.ts";
export type { EventPayload, EventStatus, Params } from "./meter/payload.ts";
export type { ProcessResult } from "./meter/processor.ts";
export type { Breakdown, BreakdownRow, Comparison, SeriesPoint } from "./meter/reports.ts";
export {
  type CleanupPlan,
  type CleanupResult,
  type CommitBatch,
  type CommitResult,
  type Histogram,
  type IntervalStateUpdate,
  type Lease,
  type MarkerUpdate,
  type MeterRollups,
  type ReportRef,
  type RollupDelta,
  type RollupRecord,
  type StoredDefinition,
  stateKey,
  TIER_MS,
  type Tier,
} from "./meter/rollups.ts";
export type { AckResult, MeterStream, StreamBatch, StreamEntry, StreamRef } from "./meter/stream.ts";
export type { NumericField, Summary } from "./meter/summary.ts";
export { FileStream, type FileStreamOptions } from "./storage/file/meter-stream.ts";
export { MemoryRollups } from "./storage/memory/meter-rollups.ts";
export { MemoryStream, type MemoryStreamOptions } from "./storage/memory/meter-stream.ts";
