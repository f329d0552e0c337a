/**
 * onStoreError against a Redis that dies mid-run: a throwaway redis-server on its own free port,
 * killed by the test (SIGKILL), then started again on the same port.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { EventStore } from "../../../src/counter/event-store.ts";
import type { StoreErrorPolicy } from "../../../src/counter/shared/shared-engine.ts";
import { SharedEventStore } from "../../../src/counter/shared/shared-event-store.ts";
import { redisBackend } from "../../../src/storage/redis/counter-backend.ts";
import { fromIoRedis } from "../../../src/storage/redis/redis-client.ts";
import { TestClock } from "../../../src/time/clock.ts";
import { redisUnavailable, servicesRequired } from "../../support/services.ts";

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Starts redis-server on `port` and resolves once it accepts connections (its own log says so). */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn("redis-server", ["--port", String(port), "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes("Ready to accept connections")) resolve();
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`redis-server exited ${code}: ${log}`)));
  });
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

describe("onStoreError with the backend stopped", { timeout: 60_000 }, () => {
  it("throw / allow / deny / fallback each do what they say, and the backend is retried once per second", async (t) => {
    const reason = await redisUnavailable();
    const probe = spawn("redis-server", ["--version"]);
    const [code] = (await once(probe, "exit").catch(() => [1])) as [number | null];
    if (reason !== undefined || code !== 0) {
      if (servicesRequired) throw new Error(`redis-server not runnable: ${reason ?? "no redis-server binary"}`);
      t.skip("redis-server not available");
      return;
    }
    const port = await freePort();
    let server = await startRedis(port);
    // No offline queue: a command to a dead server fails at once instead of waiting for a reconnect.
    const client = new Redis({
      port,
      host: "127.0.0.1",
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      lazyConnect: true,
    });
    client.on("error", () => {});
    await client.connect();
    t.after(async () => {
      client.disconnect();
      await stop(server);
    });
    const clock = new TestClock();
    const backend = redisBackend(fromIoRedis(client), { prefix: "policy:" });
    const build = (policy: StoreErrorPolicy, fallback?: EventStore) => {
      const b = SharedEventStore.builder()
        .withClock(clock)
        .timeZone("UTC")
        .forRateLimiting()
        .withBackend(backend)
        .onStoreError(policy)
        .backendTimeout("30s");
      return (fallback === undefined ? b : b.fallback(fallback)).build();
    };
    const local = await EventStore.builder().withClock(clock).timeZone("UTC").forRateLimiting().build();
    const stores = {
      throw: await build("throw"),
      allow: await build("allow"),
      deny: await build("deny"),
      fallback: await build("deny", local),
    };
    const limiters = Object.fromEntries(
      Object.entries(stores).map(([name, store]) => [name, store.limit().atMost("api", 2, "minutes")]),
    ) as Record<keyof typeof stores, ReturnType<SharedEventStore["limit"]>>;
    assert.deepEqual(await limiters.throw.checkAndRecord("api"), { ok: true });

    await stop(server);

    await assert.rejects(limiters.throw.checkAndRecord("api"), { code: "STORAGE_FAILED" });
    assert.deepEqual(await limiters.allow.checkAndRecord("api"), { ok: true, degraded: true });
    assert.equal(await limiters.allow.allowed("api"), true);
    const denied = await limiters.deny.checkAndRecord("api");
    assert.equal(denied.ok, false);
    if (!denied.ok) {
      assert.deepEqual(denied.error.constraint, { kind: "unavailable" });
      assert.equal(denied.error.retryAfter, undefined);
    }
    assert.equal(await limiters.deny.allowed("api"), false);
    // The fallback enforces the same limit locally (per process), results marked degraded.
    assert.deepEqual(await limiters.fallback.checkAndRecord("api"), { ok: true, degraded: true });
    assert.deepEqual(await limiters.fallback.checkAndRecord("api"), { ok: true, degraded: true });
    const third = await limiters.fallback.checkAndRecord("api");
    assert.equal(third.ok, false);
    if (!third.ok) assert.equal(third.error.constraint.kind, "atMost");
    assert.equal(local.query("api").lastMinutes(1).sum(), 2);
    assert.equal(await stores.fallback.query("api").lastMinutes(1).sum(), 2);
    // Records and queries never pretend without a fallback, whatever the policy.
    for (const store of [stores.throw, stores.allow, stores.deny]) {
      await assert.rejects(store.record("api"), { code: "STORAGE_FAILED" });
      await assert.rejects(store.query("api").lastMinutes(1).sum(), { code: "STORAGE_FAILED" });
      await assert.rejects(store.limit().atMost("api", 2, "minutes").usage("api"), { code: "STORAGE_FAILED" });
    }
    // Reservations: "allow" hands out an unheld one whose commit must reach the backend.
    const held = await limiters.allow.reserve("api");
    assert.ok(held.ok && held.degraded === true);
    if (held.ok) await assert.rejects(held.reservation.commit(), { code: "STORAGE_FAILED" });
    const refused = await limiters.deny.reserve("api");
    assert.equal(refused.ok, false);
    await assert.rejects(limiters.throw.reserve("api"), { code: "STORAGE_FAILED" });

    // Back up on the same port: calls within a second of the last failure still fail without trying.
    server = await startRedis(port);
    // ioredis reconnects by itself; wait until it has (connect() covers a client that gave up).
    if (client.status !== "ready") {
      const ready = once(client, "ready");
      await client.connect().catch(() => undefined);
      await ready;
    }
    await assert.rejects(limiters.throw.check("api"), (e: Error & { code?: string }) => {
      assert.equal(e.code, "STORAGE_FAILED");
      assert.match(e.message, /at most once per second/);
      return true;
    });
    clock.advance("1s");
    assert.deepEqual(await limiters.throw.checkAndRecord("api"), { ok: true });
    // Nothing recorded while degraded was replayed: the fresh server holds only the new record.
    assert.equal(await stores.throw.query("api").lastMinutes(1).sum(), 1);
  });

  it("counts a call without an answer within backendTimeout as a failure", async (t) => {
    // A client whose commands wait in the offline queue for a server that never answers.
    const port = await freePort();
    const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => 50 });
    client.on("error", () => {});
    t.after(() => client.disconnect());
    const store = await SharedEventStore.builder()
      .withClock(new TestClock())
      .forRateLimiting()
      .timeZone("UTC")
      .withBackend(redisBackend(fromIoRedis(client)))
      .backendTimeout("100ms")
      .onStoreError("allow")
      .build();
    assert.deepEqual(await store.limit().atMost("a", 1, "minutes").checkAndRecord("a"), { ok: true, degraded: true });
    await assert.rejects(store.record("a"), (e: Error & { code?: string }) => {
      assert.equal(e.code, "STORAGE_FAILED");
      return true;
    });
  });
});
