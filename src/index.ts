/**
 * The root entry `tally`: the in-process counter, its time model and errors. It pulls in no
 * database client; adapters live under `tally/sqlite`, `tally/redis` and `tally/postgres`.
 */

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
export { type Alignment, type LocalTime, type Periods, periodsFor, systemTimeZone, TimeZone } from "./time/calendar.ts";
export { type Clock, type Instant, systemClock, TestClock } from "./time/clock.ts";
export { type Duration, formatDuration, toMs } from "./time/duration.ts";
export { TimeUnit } from "./time/units.ts";
