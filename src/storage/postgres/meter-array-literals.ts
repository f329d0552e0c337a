/**
 * PostgreSQL array literals (`{1,NULL,"a b"}`) built as one string per column. The pg driver would
 * otherwise turn each JavaScript array into the same text element by element, escaping every
 * string with two regular expressions; a commit sends tens of thousands of elements (histogram
 * JSON is full of quotes), so the adapter writes the literal directly and quotes only what needs it.
 *
 * Contract: `toString()` is a literal `$n::bigint[]` / `$n::text[]` parses back to exactly the
 * pushed values (null -> NULL; every text element is double-quoted, `"` and `\` escaped).
 * `AsciiArrayLiteral` writes numbers and ASCII elements as bytes, for the large numeric columns.
 */

const NEEDS_ESCAPE = /["\\]/;

/** `s` as a double-quoted array element. */
export function quoteElement(s: string): string {
  return NEEDS_ESCAPE.test(s) ? `"${s.replace(/["\\]/g, "\\$&")}"` : `"${s}"`;
}

export class ArrayLiteral {
  // Parts joined once: thousands of `+=` would build a rope of as many nodes for the GC and the
  // socket write to walk.
  readonly #parts: string[] = [];

  /** Appends an element already in literal form (a number, NULL, or a quoted element). */
  raw(element: string): void {
    this.#parts.push(element);
  }

  number(n: number | null): void {
    this.raw(n === null ? "NULL" : String(n));
  }

  text(s: string | null): void {
    this.raw(s === null ? "NULL" : quoteElement(s));
  }

  toString(): string {
    return `{${this.#parts.join(",")}}`;
  }
}

const COMMA = 44;
const OPEN = 123;
const CLOSE = 125;
const NULL = Buffer.from("NULL", "latin1");

/**
 * An array literal of ASCII-only elements (numbers, NULL, histogram JSON), written as bytes: a
 * commit's histogram and count columns hold tens of thousands of numbers, and as JavaScript strings
 * they cost a string per number, a rope node per append and a flattening copy at the end.
 * `toString()` is the literal; only ASCII may be written.
 */
export class AsciiArrayLiteral {
  #buf: Buffer;
  #p = 1;
  #count = 0;

  constructor(size = 1 << 15) {
    this.#buf = Buffer.allocUnsafe(Math.max(64, size));
    this.#buf[0] = OPEN;
  }

  #room(bytes: number): void {
    if (this.#p + bytes <= this.#buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#p + bytes + 64));
    this.#buf.copy(grown, 0, 0, this.#p);
    this.#buf = grown;
  }

  /** Starts the next element, with room for at least `bytes` more. */
  element(bytes: number): void {
    this.#room(bytes + 2);
    if (this.#count++ > 0) this.#buf[this.#p++] = COMMA;
  }

  byte(b: number): void {
    this.#buf[this.#p++] = b;
  }

  bytes(b: Buffer): void {
    b.copy(this.#buf, this.#p);
    this.#p += b.length;
  }

  /** A number in decimal: small integers digit by digit, anything else as JavaScript prints it. */
  digits(n: number): void {
    const buf = this.#buf;
    if (n >= 0 && n < 100_000 && n % 1 === 0) {
      let p = this.#p;
      if (n >= 10_000) buf[p++] = 48 + Math.floor(n / 10_000);
      if (n >= 1000) buf[p++] = 48 + (Math.floor(n / 1000) % 10);
      if (n >= 100) buf[p++] = 48 + (Math.floor(n / 100) % 10);
      if (n >= 10) buf[p++] = 48 + (Math.floor(n / 10) % 10);
      buf[p++] = 48 + (n % 10);
      this.#p = p;
      return;
    }
    this.#p += buf.write(String(n), this.#p, "latin1");
  }

  number(n: number | null): void {
    this.element(24);
    if (n === null) this.bytes(NULL);
    else this.digits(n);
  }

  null(): void {
    this.element(4);
    this.bytes(NULL);
  }

  toString(): string {
    this.#room(1);
    this.#buf[this.#p] = CLOSE;
    return this.#buf.toString("latin1", 0, this.#p + 1);
  }
}
