/**
 * HTTP headers from limit decisions: `Retry-After` (RFC 9110, delay-seconds) and the IETF
 * `RateLimit-Policy` / `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers (structured
 * field lists: `"name";q=<quota>;w=<window seconds>` and `"name";r=<remaining>;t=<seconds to reset>`).
 *
 * Seconds are rounded up, so a client that waits what the header says never retries early.
 */

import type { LimitResult } from "./limit-result.ts";
import type { Limiter, PolicyState } from "./limiter.ts";

/** Whole seconds to wait, rounded up (at least 1), or undefined when allowed or waiting cannot help. */
export function retryAfterSeconds(result: LimitResult<never> | LimitResult): number | undefined {
  if (result.ok || result.error.retryAfter === undefined) return undefined;
  return Math.max(1, Math.ceil(result.error.retryAfter / 1000));
}

/** The `Retry-After` header value for a denial, or undefined. */
export function retryAfterHeader(result: LimitResult): string | undefined {
  const seconds = retryAfterSeconds(result);
  return seconds === undefined ? undefined : String(seconds);
}

/** The policy's name in the header: "10-per-1-minutes", "100-per-7-days" ("-sliding" appended). */
export function policyName(policy: PolicyState): string {
  const c = policy.constraint;
  if (c.kind !== "atMost") return "policy";
  return `${c.limit}-per-${c.window.count}-${c.window.unit}${c.sliding ? "-sliding" : ""}`;
}

/** `RateLimit-Policy` listing every atMost on `id`, or undefined when there is none. */
export function rateLimitPolicyHeader(limiter: Limiter, id: string): string | undefined {
  const policies = limiter.policies(id);
  if (policies.length === 0) return undefined;
  return policies.map((p) => `"${policyName(p)}";q=${p.limit};w=${Math.ceil(p.windowMs / 1000)}`).join(", ");
}

/** `RateLimit` for the tightest atMost on `id` (fewest remaining), or undefined when there is none. */
export function rateLimitHeader(limiter: Limiter, id: string): string | undefined {
  const policies = limiter.policies(id);
  if (policies.length === 0) return undefined;
  let tightest = policies[0]!;
  for (const p of policies) if (p.remaining < tightest.remaining) tightest = p;
  return `"${policyName(tightest)}";r=${tightest.remaining};t=${Math.ceil(tightest.resetAfter / 1000)}`;
}

/**
 * Every header for a response: `RateLimit-Policy` and `RateLimit` when the limiter has an atMost on
 * `id`, plus `Retry-After` when `result` is a denial with a known wait.
 */
export function rateLimitHeaders(limiter: Limiter, id: string, result?: LimitResult): Record<string, string> {
  const headers: Record<string, string> = {};
  const policy = rateLimitPolicyHeader(limiter, id);
  const state = rateLimitHeader(limiter, id);
  if (policy !== undefined) headers["RateLimit-Policy"] = policy;
  if (state !== undefined) headers.RateLimit = state;
  const retry = result === undefined ? undefined : retryAfterHeader(result);
  if (retry !== undefined) headers["Retry-After"] = retry;
  return headers;
}
