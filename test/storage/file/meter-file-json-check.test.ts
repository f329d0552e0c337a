import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isJsonText } from "../../../src/storage/file/meter-file-json-check.ts";

/** What the check must agree with: JSON.parse of the bytes decoded as the stream decodes them. */
const parses = (bytes: Buffer): boolean => {
  try {
    JSON.parse(bytes.toString("utf8"));
    return true;
  } catch {
    return false;
  }
};

const check = (bytes: Buffer): void => {
  // Surrounded by other bytes, as a line inside a file is.
  const padded = Buffer.concat([Buffer.from("x\n"), bytes, Buffer.from("\ny")]);
  assert.equal(isJsonText(padded, 2, 2 + bytes.length), parses(bytes), JSON.stringify(bytes.toString("utf8")));
};

describe("isJsonText", () => {
  it("agrees with JSON.parse on JSON texts, with and without whitespace", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (value, spaced) => {
        check(Buffer.from(JSON.stringify(value, null, spaced ? 1 : 0) ?? "null"));
      }),
      { numRuns: 500 },
    );
  });

  it("agrees with JSON.parse on JSON texts with a byte changed, inserted or cut", () => {
    const alphabet = [...'{}[]":,\\ \t\r-+.0123456789eEtrufalsn/bx\u0000\u001f'].map((c) => c.charCodeAt(0));
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.nat(),
        fc.constantFrom(...alphabet, 0x80, 0xc3, 0xff),
        fc.constantFrom("set", "insert", "cut"),
        (value, at, byte, how) => {
          const bytes = Buffer.from(JSON.stringify(value) ?? "null");
          const i = at % (bytes.length + 1);
          const changed =
            how === "cut"
              ? Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)])
              : how === "insert"
                ? Buffer.concat([bytes.subarray(0, i), Buffer.of(byte), bytes.subarray(i)])
                : Buffer.concat([bytes.subarray(0, i), Buffer.of(byte), bytes.subarray(i + 1)]);
          check(changed);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("agrees on the corner cases", () => {
    for (const text of [
      "",
      " ",
      "{}",
      "[]",
      "[ ]",
      "{ }",
      "0",
      "-0",
      "01",
      "-",
      "1.",
      ".5",
      "1e5",
      "1E+5",
      "1e",
      "1e+",
      '"\\u00e9"',
      '"\\u00g9"',
      '"\\x"',
      '"\\/"',
      '"a',
      "[1,]",
      "[,1]",
      '{"a":1,}',
      '{"a" 1}',
      '{"a":}',
      "{1:2}",
      "tru",
      "nulll",
      "true false",
      '{"a":[{"b":[[[]]]}]}',
      "[".repeat(200) + "]".repeat(200),
      '"zoë ✓"',
      "\u00a0{}",
      "\ufeff{}",
      '{"name":"invoice_delivery","status":"success","startedAt":"2031-01-06T00:00:00.240Z","durationMs":6,"params":{"customer_id":1}}\r',
    ]) {
      check(Buffer.from(text));
    }
  });
});
