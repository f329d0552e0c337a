-- tally meter: commit one batch of rollups atomically (RedisRollups.commit).
-- Every key shares the report's hash tag, so the script runs on one Cluster slot.
--
-- KEYS[1]  markers HASH   unit -> "<high>:<createdAtMs>"
-- KEYS[2]  state HASH     "<param>\0<value>" -> lastMs
-- KEYS[3]  lease STRING   "<fence>:<token>" (read only when ARGV[1] is not empty)
-- KEYS[4]  index-name SET (names of indexes with buckets, for cleanup)
-- KEYS[5..7] tier SORTED SETs of bucket starts (minute, hour, day; for cleanup)
-- KEYS[8 .. 7+nr]           bucket HASHes, one per row
-- KEYS[8+nr .. 7+nr+ni]     per-(tier, start, index name) SETs of index keys (readIndex)
-- KEYS[8+nr+ni .. 7+nr+ni+nz] per-(tier, index key) SORTED SETs of starts (listBuckets)
--
-- ARGV[1]  expected lease value "<fence>:<token>", or "" without a fence
-- ARGV[2]  commit time ms (marker stamp)        ARGV[3] marker hash ttl ms (0 = none)
-- ARGV[4]  state hash ttl ms (0 = none)
-- ARGV[5]  JSON [rows, indexSets, startSets, tierStarts]:
--   rows       [[ix, z, indexKey, start, ttl, count, success, failure, skipped, startedAtMin,
--              startedAtMax, dCount, dSum, dMin, dMax, [dIndex, dCount, ...], iCount, iSum, iMin,
--              iMax, [...]], ...]   (ix and z are 1-based positions among the index sets and start
--              sets; a null min/max is absent)
--   indexSets  [[ttl, indexName], ...]     startSets [ttl, ...]    tierStarts [[tier 1..3, start], ...]
-- ARGV[6]  nm markers
-- ARGV[7 ..] markers as unit, expected, high (3 x nm), then state as field, lastMs (pairs).
--          Units and state fields stay plain arguments: they are user strings of any content.
--
-- Returns {1} when applied, {0, unit, ...} with the units whose marker moved (nothing written),
-- {-1} when the lease no longer holds that fence (nothing written).
--
-- Cost: a bucket is one HGETALL and one HSET; only a new bucket also sets its TTL and joins its
-- index and start sets (they cannot lack it: both are written with the bucket, and their TTLs are
-- at least the bucket's). Measured with callgrind on a private redis-server 7.0.15 over the
-- meter-scale bench's 21 commits (200 k events, 16 k bucket writes, 680 k fields) replayed:
-- 37 k instructions per event, from 53 k with EXISTS + HMGET, numbers passed to redis.call and
-- tables made per row. What is left: the HSETs (29%, mostly listpack scans), cjson.decode (17%).

local call = redis.call
local format = string.format
local tonumber = tonumber

local fence = ARGV[1]
if fence ~= "" and call("GET", KEYS[3]) ~= fence then
  return {-1}
end

local now = ARGV[2]
local batch = cjson.decode(ARGV[5])
local rows, ixs, zs, tierStarts = batch[1], batch[2], batch[3], batch[4]
local nr, ni = #rows, #ixs
local nm = tonumber(ARGV[6])
local base = 7

local function num(v)
  local n = tonumber(v)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then return nil end
  return n
end

-- Large argument lists go to commands in chunks (Lua's unpack limit).
local function chunked(cmd, key, list, step)
  local out = {}
  for i = 1, #list, step do
    local reply = call(cmd, key, unpack(list, i, math.min(i + step - 1, #list)))
    if type(reply) == "table" then
      for _, v in ipairs(reply) do out[#out + 1] = v end
    end
  end
  return out
end

-- 1. The compare-and-set gate: every marker must still hold its expected high-water.
if nm > 0 then
  local units = {}
  for i = 1, nm do units[i] = ARGV[base + 3 * i - 3] end
  local stored = chunked("HMGET", KEYS[1], units, 4000)
  local conflicts = {}
  for i = 1, nm do
    local high = 0
    local v = stored[i]
    if v then high = num(string.match(v, "^(%d+)")) or 0 end
    if high ~= tonumber(ARGV[base + 3 * i - 2]) then conflicts[#conflicts + 1] = units[i] end
  end
  if #conflicts > 0 then
    table.insert(conflicts, 1, 0)
    return conflicts
  end
  local pairs_ = {}
  for i = 1, nm do
    pairs_[2 * i - 1] = units[i]
    pairs_[2 * i] = ARGV[base + 3 * i - 1] .. ":" .. now
  end
  chunked("HSET", KEYS[1], pairs_, 4000)
  if tonumber(ARGV[3]) > 0 then call("PEXPIRE", KEYS[1], ARGV[3]) end
end

-- 2. Merge the rollup deltas: counters and histogram buckets add, min/max compare; a damaged
-- stored value counts as 0 (additive) or absent (min/max).
-- Hot loop (tens of thousands of fields per commit): field names and printed integers are cached
-- strings, and nothing else is called per field.
local null = cjson.null
local huge = math.huge
local ADD_COL = {6, 7, 8, 9, 12, 13, 17, 18}
local ADD_NAME = {"count", "successCount", "failureCount", "skippedCount",
  "durationMsCount", "durationMsSum", "intervalMsCount", "intervalMsSum"}
local MIN_COL = {10, 14, 19}
local MIN_NAME = {"startedAtMin", "durationMsMin", "intervalMsMin"}
local MAX_COL = {11, 15, 20}
local MAX_NAME = {"startedAtMax", "durationMsMax", "intervalMsMax"}
local dName, iName = {}, {}
local newIx, newZ = {}, {}

-- Every number goes to redis.call as a string: Redis 7.0 prints a number argument with
-- snprintf("%.17g"), about 2 k instructions each (a tenth of the script). An integer below 1e15 is
-- printed by "%d" once per distinct value (counts repeat), looked up inline in the hot loops (a Lua
-- function call per field cost 5%); anything else, only ever reached through damaged stored
-- values, is rounded to an integer string.
local text = {}
local function exact(v)
  if v < 1e15 and v > -1e15 and v % 1 == 0 then
    local s = text[v]
    if s == nil then
      s = format("%d", v)
      text[v] = s
    end
    return s
  end
  return format("%.0f", v)
end

-- Scratch lists reused by every row (filled from 1, read up to their counts): a fresh table per
-- row grew by rehashing, about 5% of the script.
local fields, deltas, out, have = {}, {}, {}, {}
-- Stored values parsed once per distinct string (false for a damaged one): tonumber is a C call
-- and strtod, and many buckets hold the same small counts.
local parsed = {}
for r = 1, nr do
  local row = rows[r]
  local key = KEYS[7 + r]
  -- The fields this delta touches and their delta values: additive scalars, then mins, then
  -- maxes, then histogram buckets (additive).
  local n = 0
  for j = 1, 8 do
    local d = row[ADD_COL[j]]
    if d ~= 0 then
      n = n + 1
      fields[n], deltas[n] = ADD_NAME[j], d
    end
  end
  local lastAdd = n
  for j = 1, 3 do
    local d = row[MIN_COL[j]]
    if d ~= null then
      n = n + 1
      fields[n], deltas[n] = MIN_NAME[j], d
    end
  end
  local lastMin = n
  for j = 1, 3 do
    local d = row[MAX_COL[j]]
    if d ~= null then
      n = n + 1
      fields[n], deltas[n] = MAX_NAME[j], d
    end
  end
  local lastMax = n
  local list = row[16]
  for i = 1, #list, 2 do
    local b = list[i]
    local f = dName[b]
    if f == nil then
      f = "d:" .. format("%.0f", b)
      dName[b] = f
    end
    n = n + 1
    fields[n], deltas[n] = f, list[i + 1]
  end
  list = row[21]
  for i = 1, #list, 2 do
    local b = list[i]
    local f = iName[b]
    if f == nil then
      f = "i:" .. format("%.0f", b)
      iName[b] = f
    end
    n = n + 1
    fields[n], deltas[n] = f, list[i + 1]
  end
  -- One HGETALL answers whether the bucket exists and its stored values: a listpack hash is read
  -- in one pass, where HMGET scanned it once per touched field (and EXISTS was one call more).
  local stored = call("HGETALL", key)
  local existed = #stored > 0
  local o = 0
  if existed and n > 0 then
    for i = 1, #stored, 2 do have[stored[i]] = stored[i + 1] end
    for i = 1, n do
      local d = deltas[i]
      local cur = have[fields[i]]
      if cur ~= nil then
        local c = parsed[cur]
        if c == nil then
          c = tonumber(cur)
          if c == nil or c ~= c or c == huge or c == -huge then c = false end
          parsed[cur] = c
        end
        cur = c or nil
      end
      local v
      if i <= lastAdd or i > lastMax then
        v = (cur or 0) + d
      elseif i <= lastMin then
        if cur == nil or d < cur then v = d end
      elseif cur == nil or d > cur then
        v = d
      end
      if v ~= nil then
        out[o + 1] = fields[i]
        out[o + 2] = text[v] or exact(v)
        o = o + 2
      end
    end
  else
    for i = 1, n do
      local d = deltas[i]
      out[o + 1] = fields[i]
      out[o + 2] = text[d] or exact(d)
      o = o + 2
    end
  end
  if existed and n > 0 then
    for i = 1, #stored, 2 do have[stored[i]] = nil end
  end
  if o > 0 then call("HSET", key, unpack(out, 1, o)) end
  if not existed then
    if row[5] > 0 then call("PEXPIRE", key, exact(row[5])) end
    call("SADD", KEYS[7 + nr + row[1]], row[3])
    local start = exact(row[4])
    call("ZADD", KEYS[7 + nr + ni + row[2]], start, start)
    newIx[row[1]] = true
    newZ[row[2]] = true
  end
end

for j in pairs(newIx) do
  local ix = ixs[j]
  if ix[1] > 0 then call("PEXPIRE", KEYS[7 + nr + j], exact(ix[1])) end
  call("SADD", KEYS[4], ix[2])
end
for j in pairs(newZ) do
  if zs[j] > 0 then call("PEXPIRE", KEYS[7 + nr + ni + j], exact(zs[j])) end
end
for _, ts in ipairs(tierStarts) do
  call("ZADD", KEYS[4 + ts[1]], exact(ts[2]), exact(ts[2]))
end

-- 3. Interval state only moves forward.
local sbase = base + 3 * nm
local ns = (#ARGV - sbase + 1) / 2
if ns > 0 then
  local fields = {}
  for i = 1, ns do fields[i] = ARGV[sbase + 2 * i - 2] end
  local stored = chunked("HMGET", KEYS[2], fields, 4000)
  local raise = {}
  for i = 1, ns do
    local last = tonumber(ARGV[sbase + 2 * i - 1])
    local cur = num(stored[i])
    if cur == nil or last > cur then
      raise[#raise + 1] = fields[i]
      raise[#raise + 1] = ARGV[sbase + 2 * i - 1]
    end
  end
  if #raise > 0 then chunked("HSET", KEYS[2], raise, 4000) end
  if tonumber(ARGV[4]) > 0 then call("PEXPIRE", KEYS[2], ARGV[4]) end
end

return {1}
