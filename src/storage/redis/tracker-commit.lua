-- Commits one plan of a tracker group if nobody committed since it was read (compare-and-set).
-- KEYS[1] the group hash ({prefix}:trk:{group}), KEYS[2] the group's applied-id sorted set
-- ARGV[1] expected version (the _v the plan read), ARGV[2] now (apply time of recorded ids)
-- ARGV[3] ids applied at or before this time are pruned (now - ttl)
-- ARGV[4] n upserts, then n pairs: field, JSON row
-- then: m removals, then m fields; then k recorded ids, then k ids
-- Returns the new version, or -1 when the version moved (the caller re-reads and retries).
local v = tonumber(redis.call('HGET', KEYS[1], '_v') or '0')
if v ~= tonumber(ARGV[1]) then
  return -1
end
local i = 5
local n = tonumber(ARGV[4])
for _ = 1, n do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local m = tonumber(ARGV[i])
i = i + 1
for _ = 1, m do
  redis.call('HDEL', KEYS[1], ARGV[i])
  i = i + 1
end
local k = tonumber(ARGV[i])
i = i + 1
for _ = 1, k do
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[i])
  i = i + 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
return redis.call('HINCRBY', KEYS[1], '_v', 1)
