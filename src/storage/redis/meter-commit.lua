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
-- ARGV[4]  state hash ttl ms (0 = none)         ARGV[5] nm markers   ARGV[6] ns state entries
-- ARGV[7]  nr rows   ARGV[8] ni index sets   ARGV[9] nz start sets
-- ARGV[10] rows JSON: [[ix, z, indexKey, start, ttl, count, success, failure, skipped, startedAtMin,
--          startedAtMax, dCount, dSum, dMin, dMax, [dIndex, dCount, ...], iCount, iSum, iMin, iMax, [...]], ...]
--          (ix and z are 1-based positions among the index sets and start sets; null = absent)
-- ARGV[11] index sets JSON: [[ttl, indexName], ...]    ARGV[12] start sets JSON: [ttl, ...]
-- ARGV[13] tier starts JSON: [[tier 1..3, start], ...]
-- ARGV[14 ..] markers as unit, expected, high (3 x nm), then state as field, lastMs (2 x ns)
--
-- Returns {1} when applied, {0, unit, ...} with the units whose marker moved (nothing written),
-- {-1} when the lease no longer holds that fence (nothing written).

local fence = ARGV[1]
if fence ~= "" and redis.call("GET", KEYS[3]) ~= fence then
  return {-1}
end

local now = ARGV[2]
local nm, ns = tonumber(ARGV[5]), tonumber(ARGV[6])
local nr, ni, nz = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local base = 14

local function num(v)
  local n = tonumber(v)
  if n == nil or n ~= n or n == math.huge or n == -math.huge then return nil end
  return n
end

local function fmt(n)
  return string.format("%.0f", n)
end

-- Large argument lists go to commands in chunks (Lua's unpack limit).
local function chunked(cmd, key, list, step)
  local out = {}
  for i = 1, #list, step do
    local part = {}
    for j = i, math.min(i + step - 1, #list) do part[#part + 1] = list[j] end
    local reply = redis.call(cmd, key, unpack(part))
    if type(reply) == "table" then
      for _, v in ipairs(reply) do out[#out + 1] = v end
    end
  end
  return out
end

-- 1. The compare-and-set gate: every marker must still hold its expected high-water.
if nm > 0 then
  local units = {}
  for i = 0, nm - 1 do units[#units + 1] = ARGV[base + 3 * i] end
  local stored = chunked("HMGET", KEYS[1], units, 4000)
  local conflicts = {}
  for i = 0, nm - 1 do
    local high = 0
    local v = stored[i + 1]
    if v then high = num(string.match(v, "^(%d+)")) or 0 end
    if high ~= tonumber(ARGV[base + 3 * i + 1]) then conflicts[#conflicts + 1] = ARGV[base + 3 * i] end
  end
  if #conflicts > 0 then
    table.insert(conflicts, 1, 0)
    return conflicts
  end
  local pairs_ = {}
  for i = 0, nm - 1 do
    pairs_[#pairs_ + 1] = ARGV[base + 3 * i]
    pairs_[#pairs_ + 1] = ARGV[base + 3 * i + 2] .. ":" .. now
  end
  chunked("HSET", KEYS[1], pairs_, 4000)
  if tonumber(ARGV[3]) > 0 then redis.call("PEXPIRE", KEYS[1], ARGV[3]) end
end

-- 2. Merge the rollup deltas: counters and histogram buckets add, min/max compare.
local null = cjson.null
local rows = cjson.decode(ARGV[10])
local ixs = cjson.decode(ARGV[11])
local zs = cjson.decode(ARGV[12])
local additive = {
  {6, "count"}, {7, "successCount"}, {8, "failureCount"}, {9, "skippedCount"},
  {12, "durationMsCount"}, {13, "durationMsSum"}, {17, "intervalMsCount"}, {18, "intervalMsSum"},
}
local mins = {{10, "startedAtMin"}, {14, "durationMsMin"}, {19, "intervalMsMin"}}
local maxs = {{11, "startedAtMax"}, {15, "durationMsMax"}, {20, "intervalMsMax"}}
local hists = {{16, "d:"}, {21, "i:"}}

for r = 1, nr do
  local row = rows[r]
  local key = KEYS[7 + r]
  local flat = redis.call("HGETALL", key)
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  local out = {}
  for _, f in ipairs(additive) do
    local d = row[f[1]]
    if d ~= 0 then
      out[#out + 1] = f[2]
      out[#out + 1] = fmt((num(h[f[2]]) or 0) + d)
    end
  end
  for _, f in ipairs(mins) do
    local d = row[f[1]]
    if d ~= null then
      local cur = num(h[f[2]])
      if cur == nil or d < cur then
        out[#out + 1] = f[2]
        out[#out + 1] = fmt(d)
      end
    end
  end
  for _, f in ipairs(maxs) do
    local d = row[f[1]]
    if d ~= null then
      local cur = num(h[f[2]])
      if cur == nil or d > cur then
        out[#out + 1] = f[2]
        out[#out + 1] = fmt(d)
      end
    end
  end
  for _, f in ipairs(hists) do
    local list = row[f[1]]
    for i = 1, #list, 2 do
      local field = f[2] .. fmt(list[i])
      out[#out + 1] = field
      out[#out + 1] = fmt((num(h[field]) or 0) + list[i + 1])
    end
  end
  if #out > 0 then redis.call("HSET", key, unpack(out)) end
  if row[5] > 0 then redis.call("PEXPIRE", key, fmt(row[5])) end
  redis.call("SADD", KEYS[7 + nr + row[1]], row[3])
  redis.call("ZADD", KEYS[7 + nr + ni + row[2]], fmt(row[4]), fmt(row[4]))
end

for j = 1, ni do
  local key = KEYS[7 + nr + j]
  if ixs[j][1] > 0 then redis.call("PEXPIRE", key, fmt(ixs[j][1])) end
  redis.call("SADD", KEYS[4], ixs[j][2])
end
for j = 1, nz do
  if zs[j] > 0 then redis.call("PEXPIRE", KEYS[7 + nr + ni + j], fmt(zs[j])) end
end
for _, ts in ipairs(cjson.decode(ARGV[13])) do
  redis.call("ZADD", KEYS[4 + ts[1]], fmt(ts[2]), fmt(ts[2]))
end

-- 3. Interval state only moves forward.
if ns > 0 then
  local sbase = base + 3 * nm
  local fields = {}
  for i = 0, ns - 1 do fields[#fields + 1] = ARGV[sbase + 2 * i] end
  local stored = chunked("HMGET", KEYS[2], fields, 4000)
  local raise = {}
  for i = 0, ns - 1 do
    local last = tonumber(ARGV[sbase + 2 * i + 1])
    local cur = num(stored[i + 1])
    if cur == nil or last > cur then
      raise[#raise + 1] = fields[i + 1]
      raise[#raise + 1] = ARGV[sbase + 2 * i + 1]
    end
  end
  if #raise > 0 then chunked("HSET", KEYS[2], raise, 4000) end
  if tonumber(ARGV[4]) > 0 then redis.call("PEXPIRE", KEYS[2], ARGV[4]) end
end

return {1}
