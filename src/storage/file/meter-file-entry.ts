/**
 * A delivered log line as a `StreamEntry` whose `payload` is parsed from the claimed file's bytes
 * on each read and whose `id` is built on demand.
 *
 * Why: a processor reads each payload once (again only when a commit conflicts and it redoes the
 * batch), interns what it needs and drops it. Parsed on read, a payload dies young; parsed up front
 * and held by the batch, ten thousand of them were copied by every young-generation collection
 * until the batch ended. Each read returns a fresh object, equal to the last.
 *
 * A processor asks `addEventTo` instead (see `addEntry` in `parse-row.ts`): a line of an
 * all-ASCII file in the shape the writer makes is read from its bytes straight into the batch,
 * without building the payload (`meter-file-event.ts`); any other line takes `parseRow(payload)`,
 * with the same result.
 */

import { type EventSink, type EventSource, parseRow } from "../../meter/parse-row.ts";
import type { StreamEntry } from "../../meter/stream.ts";
import { readEventLine } from "./meter-file-event.ts";
import { type LineEncoding, parseLine } from "./meter-file-lines.ts";

export class FileEntry implements StreamEntry, EventSource {
  readonly unit: string;
  readonly seq: number;
  readonly #buffer: Buffer;
  readonly #start: number;
  readonly #end: number;
  readonly #encoding: LineEncoding;

  constructor(unit: string, seq: number, buffer: Buffer, start: number, end: number, encoding: LineEncoding) {
    this.unit = unit;
    this.seq = seq;
    this.#buffer = buffer;
    this.#start = start;
    this.#end = end;
    this.#encoding = encoding;
  }

  get id(): string {
    return `${this.unit}:${this.seq}`;
  }

  /** The line parsed now; `undefined` when it is not JSON. */
  get payload(): unknown {
    return parseLine(this.#buffer, this.#start, this.#end, this.#encoding);
  }

  addEventTo(sink: EventSink, name: string): boolean {
    if (this.#encoding === "latin1" && readEventLine(this.#buffer, this.#start, this.#end, name, sink)) return true;
    const event = parseRow(this.payload, name);
    if (event === null) return false;
    sink.add(event);
    return true;
  }
}
