import { mkdtempSync, rmSync } from "node:fs";
import { appendFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { minuteStamp, streamDirs } from "../../../src/storage/file/meter-file-layout.ts";
import { FileStream } from "../../../src/storage/file/meter-stream.ts";
import { meterStreamContract } from "../../../src/testing/meter-stream-contract.ts";
import { TestClock } from "../../../src/time/clock.ts";

const root = mkdtempSync(join(tmpdir(), "tally-file-stream-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

// The clock runs ahead of the wall clock so file mtimes always look old enough to claim.
const START = Date.UTC(2031, 0, 6, 10, 0, 5);

meterStreamContract("FileStream", async () => {
  const path = join(root, `s${++n}`);
  const clock = new TestClock(START);
  const options = { path, clock, malformedLines: "skip" as const };
  const stream = new FileStream(options);
  const peers: FileStream[] = [];
  return {
    stream,
    clock,
    peer: () => {
      const peer = new FileStream(options);
      peers.push(peer);
      return peer;
    },
    expireClaims: () => clock.advance("31s"),
    settle: () => clock.advance("2m"),
    multiEntryUnits: true,
    appendUnparsable: async (ref, text) => {
      const dirs = streamDirs(path, ref.namespace, ref.name);
      await mkdir(dirs.logs, { recursive: true });
      await appendFile(join(dirs.logs, `${minuteStamp(clock.now())}-zz-1-0-deadbeef.jsonl`), `${text}\n`);
    },
    close: async () => {
      for (const p of peers) await p.close();
      await stream.close();
    },
  };
});
