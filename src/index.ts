/**
 * The root entry `tally`: the in-process counter, its time model and errors. It pulls in no
 * database client; adapters live under `tally/sqlite`, `tally/redis` and `tally/postgres`.
 */

export type { EventStoreBuilder } from "./counter/builder.ts";
export type { Constraint, ScheduleLike } from "./counter/constraints.ts";
export { EventStore, type EventStoreOptions, type LoadReport } from "./counter/event-store.ts";
export { BinaryFormat } from "./counter/formats/binary-format.ts";
export { decodeSnapshot, detectFormat, type Format } from "./counter/formats/format.ts";
export { JsonFormat } from "./counter/formats/json-format.ts";
export {
  ALLOWED,
  type LimitExceeded,
  type LimitResult,
  type LimitUsage,
  type Violation,
} from "./counter/limit-result.ts";
export type { Limiter, PolicyState, ReserveResult } from "./counter/limiter.ts";
export type { DeltaQuery, DeltaRangeQuery, Query, RangeQuery, RangeSource, RatioQuery } from "./counter/query.ts";
export {
  policyName,
  rateLimitHeader,
  rateLimitHeaders,
  rateLimitPolicyHeader,
  retryAfterHeader,
  retryAfterSeconds,
} from "./counter/rate-limit-headers.ts";
export type { Reservation } from "./counter/reservation.ts";
export type {
  BackendTest,
  BoundCounterBackend,
  CounterBackend,
  CounterLayout,
  EvaluateOp,
  EvaluateReply,
  EventState,
  OpTime,
  PendingEntry,
  RecordInstant,
  RecordOp,
  SettleOp,
  SettleReply,
} from "./counter/shared/counter-backend.ts";
export type { FallbackStore } from "./counter/shared/fallback-store.ts";
export type { SharedEventStoreBuilder } from "./counter/shared/shared-builder.ts";
export type { ClockSource, StoreErrorPolicy } from "./counter/shared/shared-engine.ts";
export { SharedEventStore } from "./counter/shared/shared-event-store.ts";
export type { SharedLimiter, SharedLimitResult, SharedReserveResult } from "./counter/shared/shared-limiter.ts";
export type {
  SharedDeltaQuery,
  SharedDeltaRangeQuery,
  SharedQuery,
  SharedRangeQuery,
  SharedRangeSource,
  SharedRatioQuery,
} from "./counter/shared/shared-query.ts";
export type { ReservationState, SharedReservation } from "./counter/shared/shared-reservation.ts";
export type { EventSnapshot, SnapshotSet } from "./counter/snapshot.ts";
export type { Window, WindowSpec } from "./counter/window.ts";
export {
  AlreadyRecordedError,
  DefinitionChangedError,
  DefinitionNotFoundError,
  isTallyError,
  LockLostError,
  TallyError,
  type TallyErrorCode,
  UnsupportedQueryError,
} from "./errors.ts";
export { FilePerEvent } from "./storage/file/counter-storage.ts";
export { MemoryStorage } from "./storage/memory/counter-storage.ts";
export type { Storage, StorageCapabilities } from "./storage/storage.ts";
export { type Alignment, type LocalTime, type Periods, periodsFor, systemTimeZone, TimeZone } from "./time/calendar.ts";
export { type Clock, type Instant, systemClock, TestClock } from "./time/clock.ts";
export { type Duration, formatDuration, toMs } from "./time/duration.ts";
export {
  type BetweenOptions,
  type DayInput,
  type DayName,
  type DaysOptions,
  Schedule,
  type ScheduleDescription,
  type ScheduleKind,
} from "./time/schedule.ts";
export { TimeUnit } from "./time/units.ts";
