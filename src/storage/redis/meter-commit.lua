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
-- Cost: a bucket that exists already is one HMGET of the fields the delta touches and one HSET;
-- only a new bucket also sets its TTL and joins its index and start sets (they cannot lack it:
-- both are written with the bucket, and their TTLs are at least the bucket's).

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
local additive = {
  {6, "count"}, {7, "successCount"}, {8, "failureCount"}, {9, "skippedCount"},
  {12, "durationMsCount"}, {13, "durationMsSum"}, {17, "intervalMsCount"}, {18, "intervalMsSum"},
}
local extremes = {
  {10, "startedAtMin", -1}, {14, "durationMsMin", -1}, {19, "intervalMsMin", -1},
  {11, "startedAtMax", 1}, {15, "durationMsMax", 1}, {20, "intervalMsMax", 1},
}
local hists = {{16, "d:"}, {21, "i:"}}
local null = cjson.null
local newIx, newZ = {}, {}

for r = 1, nr do
  local row = rows[r]
  local key = KEYS[7 + r]
  -- The fields this delta touches, their delta values, and how each merges (0 add, -1 min, 1 max).
  local fields, deltas, modes, n = {}, {}, {}, 0
  for _, f in ipairs(additive) do
    local d = row[f[1]]
    if d ~= 0 then
      n = n + 1
      fields[n], deltas[n], modes[n] = f[2], d, 0
    end
  end
  for _, f in ipairs(extremes) do
    local d = row[f[1]]
    if d ~= null then
      n = n + 1
      fields[n], deltas[n], modes[n] = f[2], d, f[3]
    end
  end
  for _, f in ipairs(hists) do
    local list, prefix = row[f[1]], f[2]
    for i = 1, #list, 2 do
      n = n + 1
      fields[n], deltas[n], modes[n] = prefix .. format("%.0f", list[i]), list[i + 1], 0
    end
  end
  local existed = call("EXISTS", key) == 1
  local out, o = {}, 0
  if existed and n > 0 then
    local stored = call("HMGET", key, unpack(fields, 1, n))
    for i = 1, n do
      local d, mode, cur = deltas[i], modes[i], num(stored[i])
      local v
      if mode == 0 then
        v = (cur or 0) + d
      elseif cur == nil or (mode < 0 and d < cur) or (mode > 0 and d > cur) then
        v = d
      end
      if v ~= nil then
        out[o + 1] = fields[i]
        out[o + 2] = format("%.0f", v)
        o = o + 2
      end
    end
  else
    for i = 1, n do
      out[o + 1] = fields[i]
      out[o + 2] = format("%.0f", deltas[i])
      o = o + 2
    end
  end
  if o > 0 then call("HSET", key, unpack(out, 1, o)) end
  if not existed then
    if row[5] > 0 then call("PEXPIRE", key, format("%.0f", row[5])) end
    call("SADD", KEYS[7 + nr + row[1]], row[3])
    call("ZADD", KEYS[7 + nr + ni + row[2]], format("%.0f", row[4]), format("%.0f", row[4]))
    newIx[row[1]] = true
    newZ[row[2]] = true
  end
end

for j in pairs(newIx) do
  local ix = ixs[j]
  if ix[1] > 0 then call("PEXPIRE", KEYS[7 + nr + j], format("%.0f", ix[1])) end
  call("SADD", KEYS[4], ix[2])
end
for j in pairs(newZ) do
  if zs[j] > 0 then call("PEXPIRE", KEYS[7 + nr + ni + j], format("%.0f", zs[j])) end
end
for _, ts in ipairs(tierStarts) do
  call("ZADD", KEYS[4 + ts[1]], format("%.0f", ts[2]), format("%.0f", ts[2]))
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
