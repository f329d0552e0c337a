-- counter-evaluate.lua: the "E" operation, evaluate a limiter's tests on one or more events and, iff
-- all pass, record or reserve, in one atomic step (check, allowed, checkAndRecord, usage, reserve, and
-- queries, which are evaluations without tests that return the state). Part of the joined counter
-- script (see counter-lib.lua for the head and the hash layout, counter-batch.lua for batches).
--
-- KEYS (from k): per event i = 1..E its hash and its pending set
-- ARGV (from p): time block, then
--   action: "c" (check) | "r" (record) | "v" (reserve)
--   target event index (1-based) for record / reserve
--   count to record or reserve
--   state: "n" (never) | "d" (on denial) | "a" (always)
--   E; for "v" then the reservation id and its ttl in ms
--   per event, per unit: depth d (buckets to read from bucket 0), then (client clock) d slot names
--   T, the number of tests, then each test:
--     "m" event unit n room                                    (sum(buckets[0..n-1]) + pending <= room)
--     "M" event limit add nterms {unit from to weight} x nterms (sum(w*buckets) + pending + add <= limit)
--     "L" event count unit depth                               (buckets[0..depth-1] >= count)
--     "C" event ms                                             (cooldown)
--     "W" event ms                                             (within)
--     "F" 0|1                                                  (decided by the caller)
--   (units are 0-based layout indexes, events 1-based)
-- Reply: 1 when every test passed, the action was not "v", the state is not "a" and now is the client's
--   (which the caller knows); else
--   { passed 0|1, now, {result 0|1 per test}, {event states} | {}, expiresAt | "", member | "" } where an
--   event state is { exists 0|1, first | "", last | "", {count, createdAt, expiresAt, ...}, {{buckets} per unit} };
--   or "TALLY_CONFIG ..." on a layout mismatch (nothing written).

local function op_evaluate(p, k)
  local T
  T, p = read_time(p)
  local action = ARGV[p]
  local target = tonumber(ARGV[p + 1])
  local countstr = ARGV[p + 2]
  local state_mode = ARGV[p + 3]
  local n_events = tonumber(ARGV[p + 4])
  local res_id, res_ttl
  p = p + 5
  if action == "v" then
    res_id = ARGV[p]
    res_ttl = tonumber(ARGV[p + 1])
    p = p + 2
  end
  local events = {}
  for i = 1, n_events do
    local e, q = load_event(T, KEYS[k + 2 * i - 2], KEYS[k + 2 * i - 1], p)
    if e == nil then return q end
    events[i] = e
    p = q
  end

  local n_tests = tonumber(ARGV[p])
  p = p + 1
  local results = {}
  local passed = true
  for t = 1, n_tests do
    local kind = ARGV[p]
    local ok
    if kind == "m" then
      local e = events[tonumber(ARGV[p + 1])]
      ok = sum_range(e, tonumber(ARGV[p + 2]) + 1, 0, tonumber(ARGV[p + 3]) - 1) + read_pending(T, e).total
        <= tonumber(ARGV[p + 4])
      p = p + 5
    elseif kind == "M" then
      local e = events[tonumber(ARGV[p + 1])]
      local limit = tonumber(ARGV[p + 2])
      local w = tonumber(ARGV[p + 3])
      local n_terms = tonumber(ARGV[p + 4])
      p = p + 5
      for j = 1, n_terms do
        w = w + tonumber(ARGV[p + 3]) * sum_range(e, tonumber(ARGV[p]) + 1, tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]))
        p = p + 4
      end
      ok = w + read_pending(T, e).total <= limit
    elseif kind == "L" then
      local e = events[tonumber(ARGV[p + 1])]
      ok = sum_range(e, tonumber(ARGV[p + 3]) + 1, 0, tonumber(ARGV[p + 4]) - 1) >= tonumber(ARGV[p + 2])
      p = p + 5
    elseif kind == "C" then
      local e = events[tonumber(ARGV[p + 1])]
      local last = nil
      if e.v[3] then last = tonumber(e.v[3]) end
      local newest = read_pending(T, e).newest
      if newest ~= nil and (last == nil or newest > last) then last = newest end
      if last == nil then
        ok = true
      else
        local elapsed = T.now - last
        if elapsed < 0 then elapsed = 0 end
        ok = elapsed >= tonumber(ARGV[p + 2])
      end
      p = p + 3
    elseif kind == "W" then
      local e = events[tonumber(ARGV[p + 1])]
      local last = nil
      if e.v[3] then last = tonumber(e.v[3]) end
      if last == nil then
        ok = false
      else
        local elapsed = T.now - last
        if elapsed < 0 then elapsed = 0 end
        ok = elapsed <= tonumber(ARGV[p + 2])
      end
      p = p + 3
    elseif kind == "F" then
      ok = ARGV[p + 1] == "1"
      p = p + 2
    else
      return "TALLY_ARGS unknown test " .. tostring(kind)
    end
    results[t] = ok and 1 or 0
    if not ok then passed = false end
  end

  local expires = ""
  local member = ""
  if passed and action == "r" then
    record(T, events[target], tonumber(countstr), T.now, T.nowstr, nil)
    if state_mode ~= "a" and not T.server then return 1 end
  elseif passed and action == "v" then
    local e = events[target]
    touch(e)
    redis.call("ZREMRANGEBYSCORE", e.pkey, "-inf", T.nowstr)
    local at = T.now + res_ttl
    member = res_id .. "|" .. countstr .. "|" .. T.nowstr
    redis.call("ZADD", e.pkey, num(at), member)
    redis.call("HSET", e.key, "p", redis.call("ZCARD", e.pkey))
    local keep = math.ceil(res_ttl) + 1000
    if redis.call("PTTL", e.pkey) < keep then redis.call("PEXPIRE", e.pkey, keep) end
    if redis.call("PTTL", e.key) < keep then redis.call("PEXPIRE", e.key, keep) end
    expires = num(at)
    e.stale = true
  elseif passed and state_mode ~= "a" and not T.server then
    return 1
  end

  local states = {}
  if state_mode == "a" or (state_mode == "d" and not passed) then
    for i = 1, n_events do
      local e = events[i]
      if e.stale then
        -- Written above: read the state again as it is now (the reads are the same as before).
        e = load_event(T, e.key, e.pkey, e.reads)
      end
      local per_unit = {}
      for u = 1, U do
        local row = {}
        for b = 0, e.dep[u] - 1 do row[b + 1] = bucket(e, u, b) end
        per_unit[u] = row
      end
      states[i] = { e.exists and 1 or 0, e.v[2] or "", e.v[3] or "", read_pending(T, e).list, per_unit }
    end
  end

  return { passed and 1 or 0, T.nowstr, results, states, expires, member }
end
