-- Reads one tracker group for a plan.
-- KEYS[1] the group hash ({prefix}:trk:{group}): field _v (version), one "t:<name>" field per tracker (JSON row)
-- KEYS[2] the group's applied eventIds (sorted set scored by apply time)
-- ARGV[1] the version the caller has cached ("" for none): the rows are returned only if it differs
-- ARGV[2] ids applied at or before this time are forgotten (now - ttl)
-- ARGV[3..] eventIds to look up
-- Returns { version, rowsIncluded ("1"/"0"), { field, value, ... }, { appliedId, ... } }
local v = redis.call('HGET', KEYS[1], '_v') or '0'
local fields = {}
local included = '0'
if v ~= ARGV[1] then
  fields = redis.call('HGETALL', KEYS[1])
  included = '1'
end
local applied = {}
local min = tonumber(ARGV[2])
for i = 3, #ARGV do
  local score = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if score and tonumber(score) > min then
    applied[#applied + 1] = ARGV[i]
  end
end
return { v, included, fields, applied }
