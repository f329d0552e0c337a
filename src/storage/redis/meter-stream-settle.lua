-- tally meter: acknowledge or release a batch, only while its reader still owns every entry.
-- A reader whose claim timed out and was taken over by another must neither delete the rows nor
-- let their markers be forgotten, so the whole batch is left alone when any entry changed owner.
--
-- KEYS[1] the stream
-- ARGV[1] group   ARGV[2] reader   ARGV[3] "ack" | "release"   ARGV[4] release idle ms
-- ARGV[5] lowest id   ARGV[6] highest id   ARGV[7 ..] the batch's entry ids
--
-- ack: returns {1, deleted} after XACK + XDEL of every id when all are owned by the reader, else
-- {0, owned} and changes nothing. release: re-claims the ids the reader still owns with IDLE so any
-- reader's XAUTOCLAIM takes them at once; returns {1, released}.

local n = #ARGV - 6
local pending = redis.call("XPENDING", KEYS[1], ARGV[1], ARGV[5], ARGV[6], n + 1000, ARGV[2])
local mine = {}
for _, p in ipairs(pending) do mine[p[1]] = true end

local owned = {}
for i = 7, #ARGV do
  if mine[ARGV[i]] then owned[#owned + 1] = ARGV[i] end
end

local function each_chunk(list, fn)
  for i = 1, #list, 4000 do
    local part = {}
    for j = i, math.min(i + 3999, #list) do part[#part + 1] = list[j] end
    fn(part)
  end
end

if ARGV[3] == "ack" then
  if #owned < n then return {0, #owned} end
  local deleted = 0
  each_chunk(owned, function(part)
    redis.call("XACK", KEYS[1], ARGV[1], unpack(part))
    deleted = deleted + redis.call("XDEL", KEYS[1], unpack(part))
  end)
  return {1, deleted}
end

each_chunk(owned, function(part)
  local args = {"XCLAIM", KEYS[1], ARGV[1], ARGV[2], "0"}
  for _, id in ipairs(part) do args[#args + 1] = id end
  args[#args + 1] = "IDLE"
  args[#args + 1] = ARGV[4]
  args[#args + 1] = "JUSTID"
  redis.call(unpack(args))
end)
return {1, #owned}
