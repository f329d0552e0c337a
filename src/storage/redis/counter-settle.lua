-- counter-settle.lua: commit or cancel one reservation. Commit removes the pending entry and
-- records its count at now, also when it already expired (the work happened); cancel removes it.
-- Runs after counter-lib.lua (see there for the common ARGV head and the hash layout).
--
-- KEYS[1]  event hash  <prefix>{<eventId>}
-- KEYS[2]  its pending set
-- ARGV[1..4+3U]  common head, then from h:
-- ARGV[h]    "commit" | "cancel"
-- ARGV[h+1]  the pending member ("<reservation id>|<count>|<createdAt>")
-- ARGV[h+2]  count
-- Returns { 1 if the entry was still pending (present, now < expiresAt) else 0, now }.

local h = read_head()
local p = h.next
local action = ARGV[p]
local member = ARGV[p + 1]
local count = tonumber(ARGV[p + 2])
local e, err = load_event(h, KEYS[1], KEYS[2], nil)
if e == nil then return redis.error_reply(err) end
local score = redis.call("ZSCORE", KEYS[2], member)
local was = 0
if score and tonumber(score) > h.now then was = 1 end
if score then redis.call("ZREM", KEYS[2], member) end
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", num(h.now))
if e.exists then redis.call("HSET", KEYS[1], "p", redis.call("ZCARD", KEYS[2])) end
if action == "commit" then record(h, e, count, h.now, nil) end
return { was, num(h.now) }
