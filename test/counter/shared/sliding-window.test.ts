/**
 * finerRingReached: the bound under which a sliding window's estimate never reads the next finer
 * unit's ring (so a backend need not fetch it). Checked against slidingTerms itself at instants around
 * DST changes, in calendar time zones with whole-hour and half-hour shifts and in uniform time.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { makeLayout } from "../../../src/counter/config.ts";
import { finerRingReached, slidingTerms } from "../../../src/counter/shared/sliding-window.ts";
import { periodsFor, uniformPeriods } from "../../../src/time/calendar.ts";

describe("finerRingReached", () => {
  const preset = makeLayout({ seconds: 60, minutes: 60, hours: 24 });

  it("holds for the windows that can reach the finer ring and not for the longer ones", () => {
    assert.equal(finerRingReached(preset, 0, 10), false, "seconds: no finer unit");
    assert.equal(finerRingReached(preset, 1, 1), true);
    assert.equal(finerRingReached(preset, 1, 2), false);
    assert.equal(finerRingReached(preset, 2, 2), true);
    assert.equal(finerRingReached(preset, 2, 3), false);
  });

  it("is never false for a window whose estimate reads a finer bucket", () => {
    const layouts = [
      preset,
      makeLayout({ seconds: 5, minutes: 4, hours: 3 }),
      makeLayout({ minutes: 90, hours: 30, days: 10 }),
      makeLayout({ hours: 30, days: 9, weeks: 5 }),
    ];
    const zones = [
      periodsFor("calendar", "Europe/Berlin"),
      periodsFor("calendar", "Australia/Lord_Howe"),
      periodsFor("calendar", "America/St_Johns"),
      uniformPeriods(),
    ];
    // Around the 2026 spring and autumn changes of those zones, and anywhere in the year.
    const instants = fc.oneof(
      fc.integer({ min: Date.UTC(2026, 2, 27), max: Date.UTC(2026, 3, 7) }),
      fc.integer({ min: Date.UTC(2026, 9, 1), max: Date.UTC(2026, 10, 3) }),
      fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 0, 1) }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...layouts),
        fc.constantFrom(...zones),
        fc.nat(2),
        fc.integer({ min: 1, max: 9 }),
        instants,
        (layout, periods, unit, n, t) => {
          const u = 1 + (unit % (layout.units.length - 1));
          if (n >= layout.sizes[u]!) return;
          const readsFiner = slidingTerms(layout, periods, u, n, t).some((term) => term.unit === u - 1);
          if (readsFiner) assert.equal(finerRingReached(layout, u, n), true, `${layout.units[u]} x ${n} at ${t}`);
        },
      ),
      { numRuns: 3_000 },
    );
  });
});
