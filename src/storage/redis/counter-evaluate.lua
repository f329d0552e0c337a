-- counter-evaluate.lua: the "E" operation, evaluate a limiter's tests on one or more events and, iff
-- all pass, record or reserve, in one atomic step (check, allowed, checkAndRecord, usage, reserve, and
-- queries, which are evaluations without tests that return the state). Part of the joined counter
-- script (see counter-lib.lua for the head and the hash layout, counter-batch.lua for batches).
--
-- What does not change between calls of one limiter is a plan, sent once per script call ("P" in
-- counter-batch.lua, one argument: a JSON array of these tokens) and parsed once however many
-- operations of the call use it:
--   action: "c" (check) | "r" (record) | "v" (reserve)
--   target event index (1-based) for record / reserve
--   count to record or reserve
--   state: "n" (never) | "d" (on denial) | "a" (always)
--   E; 1 if some depth below exceeds 1 (buckets beyond the current one are read) else 0;
--   then E x U depths (buckets 0..d-1 to read per event and unit; parsed only when needed)
--   T, the number of tests, then each test:
--     "m" event unit n room                                    (sum(buckets[0..n-1]) + pending <= room)
--     "M" event limit add nterms {unit from to weight} x nterms (sum(w*buckets) + pending + add <= limit)
--     "L" event count unit depth                               (buckets[0..depth-1] >= count)
--     "C" event ms                                             (cooldown)
--     "W" event ms                                             (within)
--     "F" 0|1                                                  (decided by the caller)
--   (the count is a JSON string, the other numbers JSON numbers)
--   (units are 0-based layout indexes, events 1-based)
-- The operation itself:
--   KEYS (from k): per event i = 1..E its hash and its pending set
--   ARGV (from p): time block, the plan's index (1-based, in order of definition in this call), for "v"
--   the reservation id and its ttl in ms, then per event and unit with depth d > 1 the names of the
--   slots of buckets 1..d-1 (client clock only).
-- Reply: 1 when every test passed, the action was not "v", the state is not "a" and now is the
--   client's (which the caller knows); else
--   { passed 0|1, now, {result 0|1 per test}, {event states} | {}, expiresAt | "", member | "" } where an
--   event state is { exists 0|1, first | "", last | "", {count, createdAt, expiresAt, ...}, {{buckets} per unit},
--   {} or, when a ring is ahead of now (the clock went back), {bucket 0's ordinal | "" per unit} };
--   or "TALLY_CONFIG ..." on a layout mismatch (nothing written).

-- The plan's depths, per event and unit at (event - 1) * U + unit.
local function plan_depths(plan)
  if plan.depths == nil then
    local dep = {}
    for j = 1, plan.events * U do dep[j] = plan.a[plan.depths_at + j - 1] end
    plan.depths = dep
  end
  return plan.depths
end

-- Parses a plan. It comes as ONE argument, a JSON array of the tokens above (numbers as JSON numbers,
-- the count as a string): cjson parses it in C, so a plan costs one argument to send and no tonumber.
local function read_plan(text)
  local a = cjson.decode(text)
  local plan = {
    a = a,
    action = a[1],
    target = a[2],
    countstr = a[3],
    count = tonumber(a[3]),
    state = a[4],
    events = a[5],
    depths_at = 7,
  }
  if a[6] == 1 then plan.dep = plan_depths(plan) end
  local p = 7 + plan.events * U
  local tests = {}
  for t = 1, a[p] do
    p = p + 1
    local kind = a[p]
    if kind == "m" then
      tests[t] = { kind, a[p + 1], a[p + 2] + 1, a[p + 3], a[p + 4] }
      p = p + 4
    elseif kind == "M" then
      local n_terms = a[p + 4]
      local test = { kind, a[p + 1], a[p + 2], a[p + 3], {} }
      p = p + 4
      for j = 1, n_terms do
        test[5][j] = { a[p + 1] + 1, a[p + 2], a[p + 3], a[p + 4] }
        p = p + 4
      end
      tests[t] = test
    elseif kind == "L" then
      tests[t] = { kind, a[p + 1], a[p + 2], a[p + 3] + 1, a[p + 4] }
      p = p + 4
    elseif kind == "C" or kind == "W" then
      tests[t] = { kind, a[p + 1], a[p + 2] }
      p = p + 2
    elseif kind == "F" then
      tests[t] = { kind, 0, a[p + 1] == 1 }
      p = p + 1
    else
      tests[t] = { "?" }
    end
  end
  plan.tests = tests
  -- The common limiter: fixed windows over the current bucket of one event, checked or recorded,
  -- no state wanted. Such a plan takes the short path of op_evaluate.
  local fast = (plan.action == "c" or plan.action == "r") and plan.state ~= "a" and plan.events == 1 and a[6] == 0
  for t = 1, #tests do
    local test = tests[t]
    if test[1] ~= "m" or test[2] ~= 1 or test[4] ~= 1 then fast = false end
  end
  plan.fast = fast
  return plan
end

local function op_evaluate(p, k, plans)
  local T
  T, p = read_time(p)
  local plan = plans[tonumber(ARGV[p])]
  p = p + 1
  local action = plan.action
  local res_id, res_ttl
  if action == "v" then
    res_id = ARGV[p]
    res_ttl = tonumber(ARGV[p + 1])
    p = p + 2
  end
  if plan.fast and not T.server then
    -- Short path: one HMGET; when the ring stands at now and nothing is pending, each test is one
    -- comparison of the current bucket with its room. Anything else (a denial included, whose
    -- details need the full reply) goes the general way below, which reads again.
    local v = redis.call("HMGET", KEYS[k], "m", "l", "p", "c") -- HEAD_FIELDS, spelled out on this hot path
    local m = v[1]
    if (m == T.m or not m) and (not v[3] or v[3] == "0") then
      local e = { key = KEYS[k], v = v, exists = m ~= false }
      local c = counts(e)
      local tests = plan.tests
      local passed = true
      for t = 1, #tests do
        if c[tests[t][3]] > tests[t][5] then
          passed = false
          break
        end
      end
      if passed then
        if action == "r" then record(T, e, plan.count, T.now, T.nowstr, nil) end
        return 1
      end
    end
  end
  local dep = plan.dep
  local events = {}
  for i = 1, plan.events do
    local e, q = load_event(T, KEYS[k + 2 * i - 2], KEYS[k + 2 * i - 1], dep, (i - 1) * U, p)
    if e == nil then return q end
    events[i] = e
    p = q
  end

  local tests = plan.tests
  local results = {}
  local passed = true
  for t = 1, #tests do
    local test = tests[t]
    local kind = test[1]
    local e = events[test[2]]
    local ok
    if kind == "m" then
      local u = test[3]
      local w
      if test[4] == 1 then w = bucket(e, u, 0) else w = sum_range(e, u, 0, test[4] - 1) end
      ok = w + read_pending(T, e).total <= test[5]
    elseif kind == "M" then
      local w = test[4]
      local terms = test[5]
      for j = 1, #terms do
        local term = terms[j]
        w = w + term[4] * sum_range(e, term[1], term[2], term[3])
      end
      -- A linear form (a sliding window's estimate): compared with the slack of SLIDING_SLACK in
      -- sliding-estimate.ts, so that an estimate on the limit is decided as the other stores do.
      ok = w + read_pending(T, e).total <= test[3] + 1e-6
    elseif kind == "L" then
      ok = sum_range(e, test[4], 0, test[5] - 1) >= test[3]
    elseif kind == "C" then
      local last = nil
      if e.v[2] then last = tonumber(e.v[2]) end
      local newest = read_pending(T, e).newest
      if newest ~= nil and (last == nil or newest > last) then last = newest end
      if last == nil then
        ok = true
      else
        local elapsed = T.now - last
        if elapsed < 0 then elapsed = 0 end
        ok = elapsed >= test[3]
      end
    elseif kind == "W" then
      local last = nil
      if e.v[2] then last = tonumber(e.v[2]) end
      if last == nil then
        ok = false
      else
        local elapsed = T.now - last
        if elapsed < 0 then elapsed = 0 end
        ok = elapsed <= test[3]
      end
    elseif kind == "F" then
      ok = test[3]
    else
      return "TALLY_ARGS unknown test"
    end
    results[t] = ok and 1 or 0
    if not ok then passed = false end
  end

  local state_mode = plan.state
  local expires = ""
  local member = ""
  if passed and action == "r" then
    record(T, events[plan.target], plan.count, T.now, T.nowstr, nil)
    if state_mode ~= "a" and not T.server then return 1 end
  elseif passed and action == "v" then
    local e = events[plan.target]
    touch(T, e)
    redis.call("ZREMRANGEBYSCORE", e.pkey, "-inf", T.nowstr)
    local at = T.now + res_ttl
    member = res_id .. "|" .. plan.countstr .. "|" .. T.nowstr
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
    local depths = plan_depths(plan)
    for i = 1, #events do
      local e = events[i]
      if e.stale then
        -- Written above: read the state again as it is now (the same reads as before).
        e = load_event(T, e.key, e.pkey, dep, (i - 1) * U, e.np)
      end
      local per_unit = {}
      for u = 1, U do
        local row = {}
        for b = 0, depths[(i - 1) * U + u] - 1 do row[b + 1] = bucket(e, u, b) end
        per_unit[u] = row
      end
      local first = ""
      if e.v[2] then first = redis.call("HGET", e.key, "f") or "" end
      -- Where a ring is ahead of now (the clock went back), the period its bucket 0 holds.
      local ahead = {}
      if e.back ~= nil then
        for u = 1, U do
          if e.back[u] then ahead[u] = num(e.o[u]) else ahead[u] = "" end
        end
      end
      states[i] = { e.exists and 1 or 0, first, e.v[2] or "", read_pending(T, e).list, per_unit, ahead }
    end
  end

  return { passed and 1 or 0, T.nowstr, results, states, expires, member }
end
