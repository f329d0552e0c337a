import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { BinaryFormat } from "../../../src/counter/formats/binary-format.ts";
import { decodeSnapshot, detectFormat, type Format } from "../../../src/counter/formats/format.ts";
import { JsonFormat } from "../../../src/counter/formats/json-format.ts";
import type { EventSnapshot } from "../../../src/counter/snapshot.ts";
import { isTallyError } from "../../../src/errors.ts";
import { snapshotArbitrary, trimmed } from "./snapshot-arbitrary.ts";

const goldenBytes = new Uint8Array(readFileSync(new URL("./fixtures/golden-v1.tlyc", import.meta.url)));
const golden = JSON.parse(readFileSync(new URL("./fixtures/golden-v1.json", import.meta.url), "utf8")) as EventSnapshot;

const isCorrupt = (pattern?: RegExp) => (e: unknown) =>
  isTallyError(e) && e.code === "CORRUPT_DATA" && (pattern === undefined || pattern.test(e.message));

function patched(bytes: Uint8Array, offset: number, ...values: number[]): Uint8Array {
  const copy = bytes.slice();
  copy.set(values, offset);
  return copy;
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("BinaryFormat golden file", () => {
  it("decodes the checked-in fixture to the checked-in snapshot", () => {
    assert.deepEqual(BinaryFormat.decode(goldenBytes), trimmed(golden));
  });

  it("encodes the snapshot to exactly the checked-in bytes", () => {
    assert.deepEqual(BinaryFormat.encode(golden), goldenBytes);
  });

  it("has the documented layout at the documented offsets", () => {
    const view = new DataView(goldenBytes.buffer, goldenBytes.byteOffset, goldenBytes.byteLength);
    assert.equal(Buffer.from(goldenBytes.subarray(0, 4)).toString("latin1"), "TLYC");
    assert.equal(goldenBytes[4], 1, "version");
    assert.equal(goldenBytes[5], 0, "flags: calendar");
    assert.equal(goldenBytes[6], 13, "zone length");
    assert.equal(Buffer.from(goldenBytes.subarray(7, 20)).toString("utf8"), "Europe/Berlin");
    assert.equal(view.getFloat64(0x14, true), golden.savedAt);
    assert.equal(view.getFloat64(0x1c, true), golden.firstSeenAt);
    assert.equal(view.getFloat64(0x24, true), golden.lastSeenAt);
    assert.equal(goldenBytes[0x2c], 3, "unit count");
    assert.deepEqual([goldenBytes[0x2d], goldenBytes[0x3a], goldenBytes[0x47]], [1, 2, 3], "minutes, hours, days");
    assert.equal(view.getUint32(0x2e, true), 60);
    assert.equal(view.getFloat64(0x4c, true), golden.units[2]?.start);
    assert.equal(view.getUint16(0x54, true), 2, "replica count");
    assert.deepEqual([goldenBytes[0x5f], goldenBytes[0x78], goldenBytes[0x8d]], [0, 1, 0], "dense, sparse, dense");
    assert.equal(goldenBytes.length, 191);
  });

  it("writes NaN for missing first/last and flags uniform alignment", () => {
    const snapshot: EventSnapshot = { ...golden, alignment: "uniform", firstSeenAt: null, lastSeenAt: null };
    const bytes = BinaryFormat.encode(snapshot);
    const view = new DataView(bytes.buffer);
    assert.equal(bytes[5], 1);
    assert.ok(Number.isNaN(view.getFloat64(0x1c, true)) && Number.isNaN(view.getFloat64(0x24, true)));
    assert.deepEqual(BinaryFormat.decode(bytes), trimmed(snapshot));
  });

  it("picks the smaller row encoding: one count in 100 000 buckets stays tiny", () => {
    const row = new Array<number>(100_000).fill(0);
    row[99_999] = 5;
    const snapshot: EventSnapshot = {
      ...golden,
      units: [{ unit: "seconds", bucketCount: 100_000, start: 0 }],
      replicas: [{ replicaId: "r", counts: [row] }],
    };
    const bytes = BinaryFormat.encode(snapshot);
    assert.ok(bytes.length < 100, `${bytes.length} bytes`);
    assert.equal(BinaryFormat.decode(bytes).replicas[0]?.counts[0]?.[99_999], 5);
  });
});

describe("BinaryFormat rejects corrupt input with CORRUPT_DATA", () => {
  it("bad magic", () => {
    assert.throws(() => BinaryFormat.decode(patched(goldenBytes, 0, 0x58)), isCorrupt(/bad magic/));
  });

  it("unknown version and flags", () => {
    assert.throws(() => BinaryFormat.decode(patched(goldenBytes, 4, 2)), isCorrupt(/unknown version 2/));
    assert.throws(() => BinaryFormat.decode(patched(goldenBytes, 5, 4)), isCorrupt(/unknown flags/));
  });

  it("every truncation, and bytes after the end", () => {
    for (let length = 0; length < goldenBytes.length; length++) {
      assert.throws(() => BinaryFormat.decode(goldenBytes.subarray(0, length)), isCorrupt(), `length ${length}`);
    }
    const longer = new Uint8Array(goldenBytes.length + 1);
    longer.set(goldenBytes);
    assert.throws(() => BinaryFormat.decode(longer), isCorrupt(/unexpected bytes/));
  });

  it("an unknown unit code or row tag", () => {
    assert.throws(() => BinaryFormat.decode(patched(goldenBytes, 0x2d, 7)), isCorrupt(/unknown unit code 7/));
    assert.throws(() => BinaryFormat.decode(patched(goldenBytes, 0x5f, 2)), isCorrupt(/unknown row tag/));
  });

  it("rows longer than bucketCount, sparse indices out of range or order", () => {
    // minutes bucketCount 60 -> 4: the dense row of 5 no longer fits.
    assert.throws(() => BinaryFormat.decode(patched(goldenBytes, 0x2e, 4)), isCorrupt(/holds 5 counts for 4/));
    // hours sparse bucket 4 -> 80 (of 72).
    assert.throws(() => BinaryFormat.decode(patched(goldenBytes, 0x85, 80)), isCorrupt(/bucket 80 of 72/));
    // hours sparse bucket 4 -> 0, after bucket 0.
    assert.throws(() => BinaryFormat.decode(patched(goldenBytes, 0x85, 0)), isCorrupt(/out of order/));
  });

  it("a replica id the snapshot rules refuse", () => {
    assert.throws(() => BinaryFormat.decode(patched(goldenBytes, 0x57, 0x20)), isCorrupt(/replicaId/));
  });
});

describe("JsonFormat", () => {
  it("writes the snapshot document, signature first, rows without trailing zeros", () => {
    const text = new TextDecoder().decode(JsonFormat.encode(golden));
    assert.ok(text.startsWith('{"format":"tally.counter","version":1,'));
    assert.deepEqual(JSON.parse(text), trimmed(golden));
    assert.deepEqual(JsonFormat.decode(utf8(text)), trimmed(golden));
  });

  it("rejects invalid JSON, unknown versions and rows longer than bucketCount", () => {
    assert.throws(() => JsonFormat.decode(utf8('{"format":"tally.counter",')), isCorrupt(/JSON/));
    assert.throws(() => JsonFormat.decode(utf8(JSON.stringify({ ...golden, version: 2 }))), isCorrupt(/version/));
    const long = { ...golden, replicas: [{ replicaId: "a", counts: [new Array(61).fill(1), [], []] }] };
    assert.throws(() => JsonFormat.decode(utf8(JSON.stringify(long))), isCorrupt(/longer than its bucketCount/));
    const unit = { ...golden, units: [{ unit: "fortnights", bucketCount: 2, start: 0 }], replicas: [] };
    assert.throws(() => JsonFormat.decode(utf8(JSON.stringify(unit))), isCorrupt(/unit/));
  });
});

describe("format detection", () => {
  const custom: Format = {
    name: "reversed-json",
    extension: ".rjson",
    encode: (s) => utf8(JSON.stringify(s)).reverse(),
    decode: (b) => JSON.parse(new TextDecoder().decode(b.slice().reverse())) as EventSnapshot,
  };

  it("reads either built-in format whatever format is configured", () => {
    const json = JsonFormat.encode(golden);
    for (const configured of [BinaryFormat, JsonFormat, custom]) {
      assert.deepEqual(decodeSnapshot(goldenBytes, configured), trimmed(golden));
      assert.deepEqual(decodeSnapshot(json, configured), trimmed(golden));
    }
    assert.equal(detectFormat(goldenBytes), BinaryFormat);
    assert.equal(detectFormat(json), JsonFormat);
  });

  it("recognises pretty-printed JSON with a BOM", () => {
    const pretty = utf8(`\uFEFF\n  ${JSON.stringify(golden, null, 2)}`);
    assert.equal(detectFormat(pretty), JsonFormat);
    assert.deepEqual(decodeSnapshot(pretty), trimmed(golden));
  });

  it("asks a custom format only for bytes that are neither built-in, and checks what it returns", () => {
    assert.equal(detectFormat(custom.encode(golden)), undefined);
    assert.deepEqual(decodeSnapshot(custom.encode(golden), custom), golden);
    const broken: Format = { ...custom, decode: () => ({ ...golden, version: 3 }) as unknown as EventSnapshot };
    assert.throws(() => decodeSnapshot(custom.encode(golden), broken), isCorrupt(/version/));
    const throwing: Format = {
      ...custom,
      decode: () => {
        throw new RangeError("boom");
      },
    };
    assert.throws(
      () => decodeSnapshot(custom.encode(golden), throwing),
      (e) => isCorrupt(/reversed-json/)(e) && (e as Error).cause instanceof RangeError,
    );
  });

  it("rejects unrecognised bytes when a built-in format is configured", () => {
    assert.throws(() => decodeSnapshot(utf8("hello"), BinaryFormat), isCorrupt(/unrecognised/));
    assert.throws(() => decodeSnapshot(new Uint8Array(0), JsonFormat), isCorrupt(/unrecognised/));
  });
});

describe("format round trips (property)", () => {
  it("decode(encode(s)) = s up to trailing zeros, for both formats; encoding is deterministic", () => {
    fc.assert(
      fc.property(snapshotArbitrary, (snapshot) => {
        for (const format of [BinaryFormat, JsonFormat]) {
          const bytes = format.encode(snapshot);
          const decoded = decodeSnapshot(bytes);
          assert.deepEqual(decoded, trimmed(snapshot));
          assert.deepEqual(format.encode(decoded), bytes);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("any single-byte corruption of a binary value decodes to a valid snapshot or CORRUPT_DATA", () => {
    fc.assert(
      fc.property(snapshotArbitrary, fc.nat(), fc.integer({ min: 0, max: 255 }), (snapshot, at, value) => {
        const bytes = BinaryFormat.encode(snapshot);
        const damaged = patched(bytes, at % bytes.length, value);
        try {
          BinaryFormat.decode(damaged);
        } catch (error) {
          assert.ok(isCorrupt()(error), String(error));
        }
      }),
      { numRuns: 300 },
    );
  });
});
