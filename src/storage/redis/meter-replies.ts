/**
 * Raw Redis replies as the meter adapters read them. Clients differ: ioredis `call` and node-redis
 * `sendCommand` (RESP2) give flat arrays, RESP3 clients give maps; both shapes are accepted.
 */

export function arrayReply(reply: unknown): unknown[] {
  if (Array.isArray(reply)) return reply;
  if (reply === null || reply === undefined) return [];
  return [reply];
}

/** HGETALL as a plain object (empty for a missing key). */
export function hashReply(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  } else if (reply instanceof Map) {
    for (const [k, v] of reply) out[String(k)] = String(v);
  } else if (typeof reply === "object" && reply !== null) {
    for (const [k, v] of Object.entries(reply)) out[k] = String(v);
  }
  return out;
}
