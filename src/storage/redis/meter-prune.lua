-- tally meter cleanup: delete hash fields whose stored time is still older than a bound, so a
-- field a concurrent commit just rewrote survives.
--
-- KEYS[1] a HASH: interval state (value = lastMs) or markers (value = "<high>:<createdAtMs>")
-- ARGV[1] "state" | "markers"   ARGV[2] bound ms (delete when the time is < bound)
-- ARGV[3 ..] candidate fields
-- Returns the number of fields deleted.

local deleted = 0
local bound = tonumber(ARGV[2])
for i = 3, #ARGV do
  local v = redis.call("HGET", KEYS[1], ARGV[i])
  if v then
    local t
    if ARGV[1] == "state" then t = tonumber(v) else t = tonumber(string.match(v, ":(%d+)$")) end
    if t ~= nil and t < bound then
      deleted = deleted + redis.call("HDEL", KEYS[1], ARGV[i])
    end
  end
end
return deleted
