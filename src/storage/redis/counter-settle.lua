-- counter-settle.lua: the "S" operation, commit or cancel one reservation. Commit removes the
-- pending entry and records its count at now, also when it already expired (the work happened);
-- cancel removes it. Part of the joined counter script (see counter-lib.lua, counter-batch.lua).
--
-- KEYS (from k): the event hash <prefix>{<eventId>}, its pending set
-- ARGV (from p): time block, then
--   "commit" | "cancel"
--   the pending member ("<reservation id>|<count>|<createdAt>")
--   count
-- Reply: { 1 if the entry was still pending (present, now < expiresAt) else 0, now },
--   or "TALLY_CONFIG ..." on a layout mismatch.

local function op_settle(p, k)
  local T
  T, p = read_time(p)
  local action = ARGV[p]
  local member = ARGV[p + 1]
  local countstr = ARGV[p + 2]
  local key = KEYS[k]
  local pkey = KEYS[k + 1]
  local e, err = load_event(T, key, pkey, nil, 0, nil)
  if e == nil then return err end
  local score = redis.call("ZSCORE", pkey, member)
  local was = 0
  if score and tonumber(score) > T.now then was = 1 end
  if score then redis.call("ZREM", pkey, member) end
  redis.call("ZREMRANGEBYSCORE", pkey, "-inf", T.nowstr)
  if e.exists then redis.call("HSET", key, "p", redis.call("ZCARD", pkey)) end
  if action == "commit" then record(T, e, tonumber(countstr), T.now, T.nowstr, nil) end
  return { was, T.nowstr }
end
