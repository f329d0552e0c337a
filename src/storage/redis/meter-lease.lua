-- tally meter: leases with fencing tokens that expire by the Redis server clock (PX).
--
-- KEYS[1] lease STRING "<fence>:<token>" with a PX ttl
-- KEYS[2] fence counter (INCR; never expires, so a later holder always has a larger fence)
-- ARGV[1] "acquire" | "renew" | "release"
-- ARGV[2] token   ARGV[3] fence (renew, release)   ARGV[4] ttl ms (acquire, renew)
--
-- acquire returns the new fence, or false when the lease is held; renew returns 1 when the same
-- token and fence still hold it (and extends it), else 0; release deletes it only for its holder.

local op = ARGV[1]
if op == "acquire" then
  if redis.call("EXISTS", KEYS[1]) == 1 then return false end
  local fence = redis.call("INCR", KEYS[2])
  redis.call("SET", KEYS[1], fence .. ":" .. ARGV[2], "PX", ARGV[4])
  return fence
end
local held = ARGV[3] .. ":" .. ARGV[2]
if redis.call("GET", KEYS[1]) ~= held then return 0 end
if op == "renew" then
  redis.call("PEXPIRE", KEYS[1], ARGV[4])
else
  redis.call("DEL", KEYS[1])
end
return 1
