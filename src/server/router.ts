/**
 * A small router: `METHOD /path/:param` patterns matched segment by segment, decoded params, a 405
 * with `allow` when the path exists under another method, a JSON 404 otherwise. Handlers return a
 * JSON-serialisable value (sent as 200) or a `Reply` for another status.
 */

import type { IncomingMessage } from "node:http";
import { HttpError, readJsonBody } from "./http-io.ts";

export interface ApiRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The parsed JSON body (`undefined` when empty); read at most once. */
  body(): Promise<unknown>;
  raw: IncomingMessage;
}

export class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

export type Handler = (req: ApiRequest) => Promise<unknown> | unknown;

interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

export class Router {
  readonly #routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    this.#routes.push({ method, segments: pattern.split("/").filter((s) => s !== ""), handler });
    return this;
  }

  get(pattern: string, handler: Handler): this {
    return this.add("GET", pattern, handler);
  }

  post(pattern: string, handler: Handler): this {
    return this.add("POST", pattern, handler);
  }

  delete(pattern: string, handler: Handler): this {
    return this.add("DELETE", pattern, handler);
  }

  /** The patterns, for the API index. */
  list(): { method: string; path: string }[] {
    return this.#routes.map((r) => ({ method: r.method, path: `/${r.segments.join("/")}` }));
  }

  /** Finds the handler, or throws the 404/405 HttpError. */
  match(method: string, path: string): { handler: Handler; params: Record<string, string> } {
    const parts = path.split("/").filter((s) => s !== "");
    const allowed: string[] = [];
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, parts);
      if (params === null) continue;
      if (route.method === method || (method === "HEAD" && route.method === "GET"))
        return { handler: route.handler, params };
      allowed.push(route.method);
    }
    if (allowed.length > 0) {
      throw new HttpError(405, "INVALID_REQUEST", `${method} is not allowed on ${path}; use ${allowed.join(" or ")}`);
    }
    throw new HttpError(404, "NOT_FOUND", `no route ${method} ${path}; GET /api lists the routes`);
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i] as string;
    const got = parts[i] as string;
    if (want.startsWith(":")) {
      let decoded: string;
      try {
        decoded = decodeURIComponent(got);
      } catch {
        throw new HttpError(
          400,
          "INVALID_REQUEST",
          `path segment "${got}" is not valid percent-encoding`,
          want.slice(1),
        );
      }
      params[want.slice(1)] = decoded;
    } else if (want !== got) {
      return null;
    }
  }
  return params;
}

export function makeRequest(
  raw: IncomingMessage,
  url: URL,
  params: Record<string, string>,
  bodyLimit: number,
): ApiRequest {
  let body: Promise<unknown> | undefined;
  return {
    method: raw.method ?? "GET",
    path: url.pathname,
    params,
    query: url.searchParams,
    body: () => {
      body ??= readJsonBody(raw, bodyLimit);
      return body;
    },
    raw,
  };
}
