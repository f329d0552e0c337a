-- tally meter: append payloads to one stream in order, in one round trip (RedisStream.append).
--
-- KEYS[1] the stream (`<prefix><ns>:stream:{<name>}`)
-- ARGV[1] the consumer group, created at id 0 when missing (MKSTREAM)
-- ARGV[2 ..] payload JSON strings, stored as field `p`
-- Returns the number of entries added.

local ok, err = pcall(redis.call, "XGROUP", "CREATE", KEYS[1], ARGV[1], "0", "MKSTREAM")
if not ok and not string.find(tostring(err), "BUSYGROUP") then
  return redis.error_reply(tostring(err))
end
for i = 2, #ARGV do
  redis.call("XADD", KEYS[1], "*", "p", ARGV[i])
end
return #ARGV - 1
