/**
 * Persistence through every storage adapter: persist/build round trips, and a child process killed
 * while it persists, after which the next build() loads every event at its old or new value.
 */

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type EventSnapshot,
  EventStore,
  FilePerEvent,
  MemoryStorage,
  type Storage,
  TestClock,
} from "../../../src/index.ts";
import { PostgresStorage } from "../../../src/postgres.ts";
import { RedisStorage } from "../../../src/redis.ts";
import { SqliteStorage } from "../../../src/sqlite.ts";
import { startChild } from "../../support/child.ts";
import { usePostgres, useRedis } from "../../support/services.ts";

const EVENTS = 100;
const writer = fileURLToPath(new URL("./fixtures/persist-writer.ts", import.meta.url));

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "tally-persist-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Adapter {
  name: string;
  /** A storage for this test, plus the child-process arguments that reach the same data. */
  open(t: TestContext): Promise<{ storage: Storage; child: string[] } | undefined>;
}

const adapters: Adapter[] = [
  { name: "MemoryStorage", open: async () => ({ storage: new MemoryStorage(), child: [] }) },
  {
    name: "FilePerEvent",
    open: async (t) => {
      const dir = await tempDir(t);
      return { storage: new FilePerEvent(dir, ".bin"), child: ["file", dir] };
    },
  },
  {
    name: "SqliteStorage",
    open: async (t) => {
      const path = join(await tempDir(t), "tally.db");
      const storage = await SqliteStorage.open(path);
      t.after(() => storage.close());
      return { storage, child: ["sqlite", path] };
    },
  },
  {
    name: "RedisStorage",
    open: async (t) => {
      const redis = await useRedis(t);
      if (redis === undefined) return undefined;
      return {
        storage: new RedisStorage(redis.client, { prefix: redis.prefix }),
        child: ["redis", redis.url, redis.prefix],
      };
    },
  },
  {
    name: "PostgresStorage",
    open: async (t) => {
      const postgres = await usePostgres(t);
      if (postgres === undefined) return undefined;
      const storage = new PostgresStorage(postgres.pool);
      await storage.migrate();
      return { storage, child: ["postgres", postgres.urlWithSchema] };
    },
  },
];

/** Starts the writer, SIGKILLs it at a random moment during a persist, returns the last acknowledged k. */
async function killDuringPersist(args: readonly string[]): Promise<number> {
  const child = startChild(writer, [String(EVENTS), ...args]);
  let stdout = "";
  let stderr = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes("persisted 2\n") && !child.killed) {
        setTimeout(() => child.kill("SIGKILL"), Math.floor(Math.random() * 20));
      }
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (_code, signal) =>
      signal === "SIGKILL" ? resolve() : reject(new Error(`writer exited by itself: ${stderr.slice(-2000)}`)),
    );
  });
  const acknowledged = [...stdout.matchAll(/persisted (\d+)\n/g)].map((m) => Number(m[1]));
  return acknowledged.at(-1) ?? 0;
}

for (const adapter of adapters) {
  describe(`EventStore on ${adapter.name}`, () => {
    it("persist and build round-trip every event and the replica id", async (t) => {
      const opened = await adapter.open(t);
      if (opened === undefined) return;
      const clock = new TestClock("2024-03-31T00:30:00Z");
      const builder = () => EventStore.builder().withStorage(opened.storage).withClock(clock).timeZone("Europe/Berlin");
      const store = await builder().build();
      store.recordCount("page view", 7);
      store.recordAgo("page view", "26h");
      store.recordCountAgo("ключ/../x", 3, "3d");
      store.recordCount("Login", 1);
      store.recordCount("login", 2);
      const shape = store.exportAll().get("Login") as EventSnapshot;
      store.syncEvent("synced", {
        ...shape,
        replicas: [{ replicaId: "other-device", counts: shape.units.map(() => [4]) }],
      });
      assert.equal(await store.persist(), 5);
      clock.advance("2h");
      const again = await builder().build();
      assert.deepEqual(again.loadReport, { loaded: 5, converted: 0, failed: [] });
      assert.equal(again.replicaId, store.replicaId);
      assert.deepEqual(again.exportAll(), store.exportAll());
      assert.equal(again.query("synced").ever().sum(), 4);
      assert.equal(again.query("Login").ever().sum(), 1);
      assert.equal(again.query("login").ever().sum(), 2);
    });

    if (adapter.name !== "MemoryStorage") {
      it("a child killed while it persists leaves every event at its old or new value", async (t) => {
        const opened = await adapter.open(t);
        if (opened === undefined) return;
        const last = await killDuringPersist(opened.child);
        assert.ok(last >= 2, `the writer acknowledged ${last} persists`);
        const store = await EventStore.builder().withStorage(opened.storage).timeZone("UTC").build();
        assert.deepEqual(store.loadReport.failed, [], "nothing is corrupt");
        assert.equal(store.loadReport.loaded, EVENTS);
        const values = Array.from({ length: EVENTS }, (_, i) => store.query(`event:${i}`).ever().sum());
        for (const [i, value] of values.entries()) {
          assert.ok(value === last || value === last + 1, `event:${i} = ${value}, last acknowledged persist ${last}`);
        }
        if (opened.storage.capabilities?.atomicBatch === true) {
          assert.ok(
            values.every((v) => v === values[0]),
            "an atomic saveMany writes one persist whole",
          );
        }
      });
    }
  });
}
