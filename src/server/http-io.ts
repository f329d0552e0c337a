/**
 * Request and response plumbing for the API on `node:http`: JSON bodies with a size limit, JSON
 * replies, and one error shape for every failure:
 * `{ "error": { "code": "INVALID_REQUEST", "message": "...", "field": "count" } }`.
 * A TallyError thrown by a module maps to a status by its code; anything else is a 500 whose
 * message is logged, not leaked.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { isTallyError, type TallyError } from "../errors.ts";

export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;

  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** A 400 naming the request field that was wrong. */
export function badField(field: string, message: string): HttpError {
  return new HttpError(400, "INVALID_REQUEST", `${field}: ${message}`, field);
}

const STATUS_BY_CODE: Record<string, number> = {
  NOT_FOUND: 404,
  DEFINITION_NOT_FOUND: 404,
  TRACKER_NOT_FOUND: 404,
  CONFLICTING_NAME: 409,
  VERSION_CONFLICT: 409,
  DEFINITION_CHANGED: 409,
  TRACKER_COMPLETED: 409,
  ALREADY_RECORDED: 409,
  NOT_CONFIGURED: 501,
  STORE_UNAVAILABLE: 503,
  STORE_FAILED: 503,
  STORAGE_FAILED: 503,
  STORE_CLOSED: 503,
  CLOSED: 503,
  LOCK_LOST: 503,
  CLOCK_FAILED: 500,
  CORRUPT_DATA: 500,
};

function statusOf(error: TallyError): number {
  const mapped = STATUS_BY_CODE[error.code];
  if (mapped !== undefined) return mapped;
  return error.code.startsWith("INVALID_") ||
    error.code === "UNSUPPORTED_QUERY" ||
    error.code === "TOO_MANY_BUCKETS" ||
    error.code === "UNTRACKED_UNIT" ||
    error.code === "FUTURE_EVENT" ||
    error.code === "NO_AT_MOST_CONSTRAINT"
    ? 400
    : 500;
}

export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

/** The status and body for any thrown value. */
export function errorReply(error: unknown): { status: number; body: ErrorBody; internal: boolean } {
  if (error instanceof HttpError) {
    const body: ErrorBody = { error: { code: error.code, message: error.message } };
    if (error.field !== undefined) body.error.field = error.field;
    return { status: error.status, body, internal: false };
  }
  if (isTallyError(error)) {
    const status = statusOf(error);
    const body: ErrorBody = { error: { code: error.code, message: error.message } };
    const field = error.details?.field;
    if (typeof field === "string") body.error.field = field;
    return { status, body, internal: status >= 500 };
  }
  return {
    status: 500,
    body: { error: { code: "INTERNAL", message: "internal error; see the server log" } },
    internal: true,
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

/**
 * Reads a JSON body. An empty body is `undefined`; a body over `limit` bytes is a 413, a
 * non-JSON content type a 415, unparsable JSON a 400 naming `body`.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers["content-type"];
  if (type !== undefined && !/^application\/(.+\+)?json\b/i.test(type)) {
    throw new HttpError(415, "INVALID_REQUEST", `content-type must be application/json, got "${type}"`, "content-type");
  }
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new HttpError(413, "INVALID_REQUEST", `request body over ${limit} bytes`, "body");
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      req.resume();
      throw new HttpError(413, "INVALID_REQUEST", `request body over ${limit} bytes`, "body");
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, "INVALID_REQUEST", `body is not valid JSON: ${(error as Error).message}`, "body");
  }
}
