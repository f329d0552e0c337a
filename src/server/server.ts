/**
 * `tally serve`'s HTTP server on `node:http`: the JSON API (routes in `routes/`) and the dashboard
 * (static files in `dashboard/`, charts drawn by its own SVG code, no network). Every error is a
 * JSON body naming the field; unexpected errors are logged and answered with a bare 500.
 */

import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ServerContext } from "./context.ts";
import { errorReply, sendJson } from "./http-io.ts";
import { makeRequest, Reply, Router } from "./router.ts";
import { counterRoutes } from "./routes/counter-routes.ts";
import { meterRoutes } from "./routes/meter-routes.ts";
import { trackerRoutes } from "./routes/tracker-routes.ts";

export interface ServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Largest accepted request body in bytes. @default 1 MiB */
  bodyLimit?: number;
  log?: (line: string) => void;
}

export interface TallyServer {
  readonly url: string;
  readonly port: number;
  readonly router: Router;
  close(): Promise<void>;
}

const STATIC: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", type: "text/html; charset=utf-8" },
  "/dashboard.css": { file: "dashboard.css", type: "text/css; charset=utf-8" },
  "/dashboard.mjs": { file: "dashboard.mjs", type: "text/javascript; charset=utf-8" },
  "/charts.mjs": { file: "charts.mjs", type: "text/javascript; charset=utf-8" },
  "/favicon.svg": { file: "favicon.svg", type: "image/svg+xml" },
};

const DASHBOARD_DIR = new URL("./dashboard/", import.meta.url);

export function buildRouter(ctx: ServerContext): Router {
  const router = new Router();
  router.get("/api", () => ({ routes: router.list() }));
  router.get("/api/health", () => ({
    ok: true,
    namespace: ctx.namespace,
    demo: ctx.demo,
    meter: ctx.meter !== null,
    counters: ctx.counters !== null,
    trackers: ctx.trackers !== null,
    lastProcessedAt: ctx.processor?.lastPassAt == null ? null : new Date(ctx.processor.lastPassAt).toISOString(),
  }));
  meterRoutes(router, ctx);
  counterRoutes(router, ctx);
  trackerRoutes(router, ctx);
  return router;
}

export async function startServer(ctx: ServerContext, options: ServerOptions = {}): Promise<TallyServer> {
  const router = buildRouter(ctx);
  const bodyLimit = options.bodyLimit ?? 1024 * 1024;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const page = STATIC[url.pathname];
    if (page !== undefined && (req.method === "GET" || req.method === "HEAD")) {
      readFile(new URL(page.file, DASHBOARD_DIR))
        .then((content) => {
          res.writeHead(200, {
            "content-type": page.type,
            "content-length": content.length,
            "cache-control": "no-cache",
          });
          res.end(req.method === "HEAD" ? undefined : content);
        })
        .catch((error) => {
          log(`dashboard file ${page.file}: ${(error as Error).message}`);
          sendJson(res, 500, { error: { code: "INTERNAL", message: "dashboard file missing; run npm run build" } });
        });
      return;
    }
    (async () => {
      const { handler, params } = router.match(req.method ?? "GET", url.pathname);
      const result = await handler(makeRequest(req, url, params, bodyLimit));
      if (result instanceof Reply) sendJson(res, result.status, result.body);
      else sendJson(res, 200, result ?? null);
    })().catch((error: unknown) => {
      const reply = errorReply(error);
      if (reply.internal) log(`${req.method} ${url.pathname}: ${(error as Error)?.stack ?? String(error)}`);
      if (!res.headersSent) {
        // A rejected body may still be streaming in; close the connection instead of reading it all.
        if (reply.status === 413) res.setHeader("connection", "close");
        sendJson(res, reply.status, reply.body);
      }
    });
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 3000, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    router,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
