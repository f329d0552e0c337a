/**
 * A rate-limited HTTP endpoint with node:http: 5 requests per minute per client (fixed window) and
 * 20 per hour, with `Retry-After`, `RateLimit-Policy` and `RateLimit` headers
 * (draft-ietf-httpapi-ratelimit-headers). Run: npx tsx examples/counter-http-rate-limit.ts
 */

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type Clock, EventStore, type Limiter, rateLimitHeaders, systemClock } from "../src/index.ts";

export function startServer(clock: Clock = systemClock): Promise<Server> {
  const store = new EventStore({ clock, timeZone: "UTC", units: { seconds: 60, minutes: 60, hours: 24 } });
  // Limiters are reusable: build one per client once, call it per request.
  const limiters = new Map<string, Limiter>();
  const server = createServer((req, res) => {
    const client = `client:${req.headers["x-client-id"] ?? req.socket.remoteAddress ?? "unknown"}`;
    let limiter = limiters.get(client);
    if (limiter === undefined) {
      limiter = store.limit().atMost(client, 5, "minutes").atMost(client, 20, "hours");
      limiters.set(client, limiter);
    }
    const result = limiter.checkAndRecord(client);
    const headers = rateLimitHeaders(limiter, client, result);
    if (result.ok) {
      res.writeHead(200, { ...headers, "content-type": "text/plain" }).end("hello\n");
    } else {
      res.writeHead(429, { ...headers, "content-type": "text/plain" }).end("slow down\n");
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

export async function main(clock?: Clock) {
  const server = await startServer(clock);
  const { port } = server.address() as AddressInfo;
  const responses: Array<{
    status: number;
    retryAfter: string | null;
    rateLimit: string | null;
    policy: string | null;
  }> = [];
  for (let i = 0; i < 6; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { "x-client-id": "alice" } });
    await res.text();
    responses.push({
      status: res.status,
      retryAfter: res.headers.get("retry-after"),
      rateLimit: res.headers.get("ratelimit"),
      policy: res.headers.get("ratelimit-policy"),
    });
  }
  await new Promise((resolve) => server.close(resolve));
  return responses;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await main());
