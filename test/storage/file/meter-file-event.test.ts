import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DefinitionBuilder } from "../../../src/meter/definition.ts";
import { compileDefinition, InternedBatch } from "../../../src/meter/interned-batch.ts";
import { addEntry, type EventSink, type ParsedEvent, parseRow } from "../../../src/meter/parse-row.ts";
import { FileEntry } from "../../../src/storage/file/meter-file-entry.ts";
import { readEventLine } from "../../../src/storage/file/meter-file-event.ts";

/** A sink that keeps the events it was given as `ParsedEvent`s. */
class Events implements EventSink {
  readonly events: ParsedEvent[] = [];
  #open: ParsedEvent | null = null;
  add(event: ParsedEvent): void {
    this.events.push(event);
  }
  start(status: ParsedEvent["status"], startedAt: number, durationMs: number): void {
    this.#open = { status, startedAt, durationMs, params: {} };
  }
  param(key: string, value: string | number | boolean | null): void {
    (this.#open as ParsedEvent).params[key] = value;
  }
  end(): void {
    this.events.push(this.#open as ParsedEvent);
    this.#open = null;
  }
}

/** The line's event read from its bytes; undefined when the fast path declined it. */
function parseEventLine(buf: Buffer, start: number, end: number, name: string): ParsedEvent | undefined {
  const sink = new Events();
  const read = readEventLine(buf, start, end, name, sink);
  assert.equal(sink.events.length, read ? 1 : 0);
  return sink.events[0];
}

const line = (payload: unknown): string => JSON.stringify(payload);
const row = (patch: Record<string, unknown> = {}, params: Record<string, unknown> = { a: 1, b: "x" }) =>
  line({ name: "job", status: "success", startedAt: "2026-05-06T10:00:00.123Z", durationMs: 12, params, ...patch });

/** What the slow path says: `parseRow` of the line's JSON (undefined payload when not JSON). */
function slow(text: string, name: string) {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    payload = undefined;
  }
  return parseRow(payload, name);
}

// Lines the fast path must read itself (the writer's shape).
const canonical = [
  row(),
  row({ status: "failure" }, { a: 1, b: "x", errorClass: "Error", errorMessage: "boom" }),
  row({ status: "skipped" }, {}),
  row({ durationMs: 0 }),
  row({ durationMs: -5 }),
  row({ durationMs: 999_999_999_999_999 }),
  row({}, { t: true, f: false, n: null, neg: -42, zero: 0, s: "", id: 123_456_789_012_345 }),
  row({ startedAt: "2024-02-29T23:59:59.999Z" }),
  row({}, { dup: 1, other: "y" }).replace('"other"', '"dup"'),
  row({ name: 'a \\"quoted\\" name' }),
  // Keys and values that differ from, or extend, what the same position held on the line before.
  row({}, { a: "abc", b: "x" }),
  row({}, { a: "ab", b: "x" }),
  row({}, { a: "abcd", b: "xy" }),
  row({}, { ab: "abcd", b: 1 }),
  row({}, { a: "abcd" }),
  row({}, { b: "abcd", a: "x" }),
];

// Lines it must hand to the slow path (or read with the same result).
const others = [
  row({ name: "other" }),
  row({ status: "done" }),
  row({ status: "succesx" }),
  row({ startedAt: "2026-05-06T10:00:00Z" }),
  row({ startedAt: "2026-02-30T10:00:00.000Z" }),
  row({ startedAt: "2026-05-06T24:00:00.000Z" }),
  row({ durationMs: 12.5 }),
  row({ durationMs: 1e3 }),
  row({ durationMs: 2 ** 53 }),
  row({ durationMs: "12" }),
  row({}, { a: { nested: 1 } }),
  row({}, { a: [1] }),
  row({}, { a: 1.5 }),
  row({}, { a: 1e21 }),
  row({}, { "a\nb": "x" }),
  row({}, { a: 'q"uote' }),
  row({}, { a: "é" }),
  row({}, { a: "\u2028" }),
  row().replace('"params":{', '"params":{"__proto__":{"x":1},'),
  row().replace('"a":1', '"a":-0'),
  row().replace('"a":1', '"a":01'),
  row().replace('"a":1', '"a":-'),
  row().replace('"a":1', '"a":tru'),
  row().replace("{", "{ "),
  `${row()}  `,
  `${row()}x`,
  row().slice(0, -1),
  row().slice(0, -2),
  line({ name: "job", status: "success", startedAt: "2026-05-06T10:00:00.123Z", params: { a: 1 } }),
  line({ name: "job", status: "success", startedAt: "2026-05-06T10:00:00.123Z", durationMs: 1 }),
  line({ status: "success", name: "job", startedAt: "2026-05-06T10:00:00.123Z", durationMs: 1, params: {} }),
  "not json",
  "",
];

describe("reading a log line's event from its bytes", () => {
  it("reads the writer's lines itself, with parseRow's result", () => {
    for (const text of canonical) {
      const name = (JSON.parse(text) as { name: string }).name;
      const buf = Buffer.from(`${text}\n`, "latin1");
      const fast = parseEventLine(buf, 0, buf.length - 1, name);
      assert.notEqual(fast, undefined, text);
      assert.deepStrictEqual(fast, slow(text, name), text);
    }
  });

  it("hands every other line to the slow path, or agrees with it", () => {
    for (const text of others) {
      const buf = Buffer.from(text, "utf8");
      const fast = parseEventLine(buf, 0, buf.length, "job");
      if (fast !== undefined) assert.deepStrictEqual(fast, slow(text, "job"), text);
    }
    // `-0` in params takes the slow path or keeps its sign, as JSON.parse does.
    const negZero = row().replace('"a":1', '"a":-0');
    const buf = Buffer.from(negZero, "latin1");
    const fast = parseEventLine(buf, 0, buf.length, "job");
    if (fast !== undefined) assert.ok(Object.is(fast.params.a, -0));
  });

  it("never reads past the line's end into the next one", () => {
    const first = row();
    const text = `${first.slice(0, -2)}\n${row()}\n`;
    const buf = Buffer.from(text, "latin1");
    const end = buf.indexOf(10);
    assert.equal(parseEventLine(buf, 0, end, "job"), undefined);
  });

  it("a FileEntry parses every line as parseRow(payload) does", () => {
    const all = [...canonical, ...others.filter((t) => !t.includes("\n"))];
    // The stream reads a file as latin1 only when it is all ASCII.
    const ascii = all.filter((t) => Buffer.from(t, "utf8").length === t.length);
    for (const [encoding, lines] of [
      ["latin1", ascii],
      ["utf8", all],
    ] as const) {
      const buf = Buffer.from(`${lines.join("\n")}\n`, encoding);
      let at = 0;
      for (let seq = 1; at < buf.length; seq++) {
        const end = buf.indexOf(10, at);
        const entry = new FileEntry("u", seq, buf, at, end, encoding);
        for (const name of ["job", "other"]) {
          const sink = new Events();
          const added = addEntry(sink, entry, name);
          const expected = parseRow(entry.payload, name);
          assert.equal(added, expected !== null, `line ${seq}`);
          assert.deepStrictEqual(sink.events, expected === null ? [] : [expected], `line ${seq}`);
        }
        at = end + 1;
      }
    }
  });

  it("a batch gets the same interned events from the bytes as from parsed rows", () => {
    const def = new DefinitionBuilder().indexBy("a").indexBy("b", "t").indexBy("toString").build("job", 1);
    const compiled = compileDefinition(def);
    const lines = canonical.filter((t) => t.includes('"name":"job"'));
    const buf = Buffer.from(`${lines.join("\n")}\n`, "latin1");
    const fromBytes = new InternedBatch(compiled, 2);
    const fromRows = new InternedBatch(compiled, 2);
    let at = 0;
    for (let seq = 1; at < buf.length; seq++) {
      const end = buf.indexOf(10, at);
      const entry = new FileEntry("u", seq, buf, at, end, "latin1");
      assert.equal(addEntry(fromBytes, entry, "job"), true);
      fromRows.add(parseRow(entry.payload, "job") as ParsedEvent);
      at = end + 1;
    }
    assert.equal(fromBytes.count, lines.length);
    for (const key of ["status", "startedAt", "durationMs", "row"] as const) {
      assert.deepEqual(fromBytes[key], fromRows[key], key);
    }
    assert.deepEqual(
      fromBytes.ids.map((ids) => ids.values),
      fromRows.ids.map((ids) => ids.values),
    );
  });
});
