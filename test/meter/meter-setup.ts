/** Shared setup for meter unit tests: a meter on memory stores with a TestClock. */

import { EventMeter } from "../../src/meter/event-meter.ts";
import type { EventMeterOptions } from "../../src/meter/options.ts";
import type { Params } from "../../src/meter/payload.ts";
import { MemoryRollups } from "../../src/storage/memory/meter-rollups.ts";
import { MemoryStream } from "../../src/storage/memory/meter-stream.ts";
import { TestClock } from "../../src/time/clock.ts";

export const T = (iso: string): number => Date.parse(iso);

export function memoryMeter(options: Partial<EventMeterOptions> = {}, start = "2026-05-06T10:00:00Z") {
  const clock = new TestClock(start);
  const stream = new MemoryStream({ clock });
  const rollups = new MemoryRollups();
  const meter = new EventMeter({ stream, rollups, clock, ...options });
  /** Records one event that started at `at` and took `durationMs`. */
  const record = async (
    name: string,
    at: string | number,
    params: Params = {},
    status: "success" | "failure" | "skip" = "success",
    durationMs = 0,
  ) => {
    const now = clock.now();
    clock.set(typeof at === "number" ? at : T(at));
    const event = meter.start(name, params);
    clock.advance(durationMs);
    const result = await (status === "success"
      ? event.success()
      : status === "failure"
        ? event.failure("boom")
        : event.skip("off"));
    clock.set(now);
    if (!result.recorded) throw result.error;
    return result;
  };
  return { clock, stream, rollups, meter, record };
}
