import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTallyError } from "../../src/errors.ts";
import { periodsFor, systemTimeZone, TimeZone } from "../../src/time/calendar.ts";
import { valueText } from "../../src/time/value-text.ts";
import { HOUR } from "./intl-oracle.ts";

const invalidZone = (e: unknown) => isTallyError(e) && e.code === "INVALID_TIME_ZONE";

describe("TimeZone", () => {
  it("knows IANA names, aliases and UTC, and returns one instance per name", () => {
    assert.equal(TimeZone.of("Europe/Berlin"), TimeZone.of("Europe/Berlin"));
    assert.equal(TimeZone.of("UTC").offsetAt(Date.UTC(2024, 6, 1)), 0);
    assert.equal(TimeZone.of("Etc/UTC").offsetAt(Date.UTC(2024, 6, 1)), 0);
    assert.equal(TimeZone.of("Etc/GMT-3").offsetAt(0), 3 * HOUR, "POSIX-style names have inverted signs");
    assert.equal(TimeZone.of("Asia/Calcutta").offsetAt(Date.UTC(2024, 0, 1)), 5.5 * HOUR, "old alias");
    assert.equal(TimeZone.of("Europe/Berlin").name, "Europe/Berlin");
  });

  it("reads summer and winter offsets", () => {
    const berlin = TimeZone.of("Europe/Berlin");
    assert.equal(berlin.offsetAt(Date.UTC(2024, 0, 15)), HOUR);
    assert.equal(berlin.offsetAt(Date.UTC(2024, 6, 15)), 2 * HOUR);
    const newYork = TimeZone.of("America/New_York");
    assert.equal(newYork.offsetAt(Date.UTC(2024, 2, 10, 6, 59, 59, 999)), -5 * HOUR);
    assert.equal(newYork.offsetAt(Date.UTC(2024, 2, 10, 7)), -4 * HOUR);
    assert.equal(TimeZone.of("Asia/Kathmandu").offsetAt(Date.UTC(2024, 0, 1)), 5.75 * HOUR);
    assert.equal(TimeZone.of("Australia/Lord_Howe").offsetAt(Date.UTC(2024, 0, 1)), 11 * HOUR);
    assert.equal(TimeZone.of("Australia/Lord_Howe").offsetAt(Date.UTC(2024, 6, 1)), 10.5 * HOUR);
  });

  it("finds the next offset transition to the millisecond", () => {
    const berlin = TimeZone.of("Europe/Berlin");
    const spring = Date.UTC(2024, 2, 31, 1);
    assert.equal(berlin.nextTransition(Date.UTC(2024, 2, 1), Date.UTC(2024, 3, 1)), spring);
    assert.equal(berlin.nextTransition(spring - 1, spring), spring);
    assert.equal(berlin.nextTransition(spring, Date.UTC(2024, 9, 1)), undefined);
    assert.equal(berlin.nextTransition(spring - 1, spring - 1), undefined, "empty range");
    assert.equal(TimeZone.of("UTC").nextTransition(0, Date.UTC(2100, 0, 1)), undefined);
  });

  it("describes the local wall clock of an instant", () => {
    const local = TimeZone.of("America/New_York").local(Date.UTC(2024, 0, 1, 3, 4, 5, 6));
    assert.deepEqual(local, {
      year: 2023,
      month: 12,
      day: 31,
      hour: 22,
      minute: 4,
      second: 5,
      weekday: 7,
      dayNumber: Date.UTC(2023, 11, 31) / 86_400_000,
      msOfDay: ((22 * 60 + 4) * 60 + 5) * 1000 + 6,
    });
  });

  it("rejects unknown names with INVALID_TIME_ZONE, naming the value", () => {
    const bad: unknown[] = ["", "   ", "Mars/Olympus_Mons", "Europe/Berlinn", "+25:00", 42, null, undefined, {}, 10n];
    for (const value of bad) {
      assert.throws(() => TimeZone.of(value as string), invalidZone, `should reject ${valueText(value)}`);
      if (value !== undefined) assert.throws(() => periodsFor("calendar", value as string), invalidZone);
    }
    assert.throws(
      () => TimeZone.of("Mars/Olympus_Mons"),
      (e) => isTallyError(e) && e.message.includes('"Mars/Olympus_Mons"') && e.message.includes("Europe/Berlin"),
    );
  });

  it("reports the system zone, the default when no zone is given, and uniform periods never need one", () => {
    assert.equal(periodsFor("calendar").timeZone, systemTimeZone());
    assert.equal(typeof systemTimeZone(), "string");
    assert.doesNotThrow(() => TimeZone.of(systemTimeZone()));
    assert.equal(periodsFor("uniform", "not/checked").timeZone, "UTC");
    assert.equal(periodsFor("calendar", "Europe/Berlin"), periodsFor("calendar", "Europe/Berlin"));
  });
});
