-- counter-evaluate.lua: evaluate a limiter's tests on one or more events and, iff all pass, record
-- or reserve, in one atomic step (check, allowed, checkAndRecord, usage, reserve, and queries,
-- which are evaluations without tests that return the state).
-- Runs after counter-lib.lua (see there for the common ARGV head and the hash layout).
--
-- KEYS[2i-1], KEYS[2i]  hash and pending set of event i (i = 1..E)
-- ARGV[1..4+3U]  common head, then from h:
-- ARGV[h]    action: "check" | "record" | "reserve"
-- ARGV[h+1]  target event index (1-based) for record / reserve
-- ARGV[h+2]  count to record or reserve
-- ARGV[h+3]  reservation id ("" unless reserve)
-- ARGV[h+4]  reservation ttl in ms ("" unless reserve)
-- ARGV[h+5]  state: "never" | "onDenial" | "always"
-- ARGV[h+6]  E; then E x U depths (buckets to return per event and unit)
-- then T, the number of tests, then each test:
--   "M" event limit add nterms {unit from to weight} x nterms   (atMost: sum(w*buckets)+pending+add <= limit)
--   "L" event count unit depth                                  (atLeast: buckets[0..depth-1] >= count)
--   "C" event ms                                                (cooldown)
--   "W" event ms                                                (within)
--   "F" 0|1                                                     (decided by the caller)
-- Returns { passed 0|1, now, {result 0|1 per test}, {event states} | {}, expiresAt | "", member | "" } where an
-- event state is { exists 0|1, first | "", last | "", {count, createdAt, expiresAt, ...}, {{buckets} per unit} }.

local h = read_head()
local p = h.next
local action = ARGV[p]
local target = tonumber(ARGV[p + 1])
local count = tonumber(ARGV[p + 2])
local res_id = ARGV[p + 3]
local res_ttl = tonumber(ARGV[p + 4])
local state_mode = ARGV[p + 5]
local n_events = tonumber(ARGV[p + 6])
local n_units = #h.units
p = p + 7
local depths = {}
local want = {}
for i = 1, n_events do
  depths[i] = {}
  want[i] = {}
  for u = 1, n_units do
    depths[i][u] = tonumber(ARGV[p])
    want[i][u] = 0
    p = p + 1
  end
end
if action == "record" then
  for u = 1, n_units do want[target][u] = 1 end
end

-- Parse the tests first, so one HMGET per event fetches every bucket they read.
local n_tests = tonumber(ARGV[p])
p = p + 1
local tests = {}
for k = 1, n_tests do
  local kind = ARGV[p]
  local t = { kind = kind }
  if kind == "M" then
    t.event = tonumber(ARGV[p + 1])
    t.limit = tonumber(ARGV[p + 2])
    t.add = tonumber(ARGV[p + 3])
    t.terms = {}
    local n_terms = tonumber(ARGV[p + 4])
    p = p + 5
    for j = 1, n_terms do
      local term = { u = tonumber(ARGV[p]) + 1, from = tonumber(ARGV[p + 1]), to = tonumber(ARGV[p + 2]), w = tonumber(ARGV[p + 3]) }
      t.terms[j] = term
      if term.to + 1 > want[t.event][term.u] then want[t.event][term.u] = term.to + 1 end
      p = p + 4
    end
  elseif kind == "L" then
    t.event = tonumber(ARGV[p + 1])
    t.need = tonumber(ARGV[p + 2])
    t.u = tonumber(ARGV[p + 3]) + 1
    t.depth = tonumber(ARGV[p + 4])
    if t.depth > want[t.event][t.u] then want[t.event][t.u] = t.depth end
    p = p + 5
  elseif kind == "C" or kind == "W" then
    t.event = tonumber(ARGV[p + 1])
    t.ms = tonumber(ARGV[p + 2])
    p = p + 3
  elseif kind == "F" then
    t.pass = ARGV[p + 1] == "1"
    p = p + 2
  else
    return redis.error_reply("TALLY_ARGS unknown test " .. tostring(kind))
  end
  tests[k] = t
end

local events = {}
for i = 1, n_events do
  local e, err = load_event(h, KEYS[2 * i - 1], KEYS[2 * i], want[i])
  if e == nil then return redis.error_reply(err) end
  events[i] = e
end

local function sum_range(e, u, from, to)
  local total = 0
  local b = read_buckets(h, e, u, from, to)
  for k = 1, #b do total = total + b[k] end
  return total
end

local results = {}
local passed = true
for k = 1, n_tests do
  local t = tests[k]
  local ok
  if t.kind == "M" then
    local e = events[t.event]
    local w = 0
    for j = 1, #t.terms do
      local term = t.terms[j]
      w = w + term.w * sum_range(e, term.u, term.from, term.to)
    end
    ok = w + read_pending(h, e).total + t.add <= t.limit
  elseif t.kind == "L" then
    ok = sum_range(events[t.event], t.u, 0, t.depth - 1) >= t.need
  elseif t.kind == "C" then
    local e = events[t.event]
    local last = e.l
    local newest = read_pending(h, e).newest
    if newest ~= nil and (last == nil or newest > last) then last = newest end
    if last == nil then
      ok = true
    else
      local elapsed = h.now - last
      if elapsed < 0 then elapsed = 0 end
      ok = elapsed >= t.ms
    end
  elseif t.kind == "W" then
    local e = events[t.event]
    if e.l == nil then
      ok = false
    else
      local elapsed = h.now - e.l
      if elapsed < 0 then elapsed = 0 end
      ok = elapsed <= t.ms
    end
  else
    ok = t.pass
  end
  results[k] = ok and 1 or 0
  if not ok then passed = false end
end

local expires = ""
local member = ""
if passed and action == "record" then
  record(h, events[target], count, h.now, nil)
elseif passed and action == "reserve" then
  local e = events[target]
  touch(h, e)
  redis.call("ZREMRANGEBYSCORE", e.pkey, "-inf", num(h.now))
  local at = h.now + res_ttl
  member = res_id .. "|" .. count .. "|" .. num(h.now)
  redis.call("ZADD", e.pkey, num(at), member)
  redis.call("HSET", e.key, "p", redis.call("ZCARD", e.pkey))
  local keep = math.ceil(res_ttl) + 1000
  if redis.call("PTTL", e.pkey) < keep then redis.call("PEXPIRE", e.pkey, keep) end
  if redis.call("PTTL", e.key) < keep then redis.call("PEXPIRE", e.key, keep) end
  expires = num(at)
end

local states = {}
if state_mode == "always" or (state_mode == "onDenial" and not passed) then
  for i = 1, n_events do
    local e = events[i]
    local per_unit = {}
    for u = 1, n_units do
      local d = depths[i][u]
      if d > 0 then per_unit[u] = read_buckets(h, e, u, 0, d - 1) else per_unit[u] = {} end
    end
    local f = ""
    local l = ""
    if e.f ~= nil then f = num(e.f) end
    if e.l ~= nil then l = num(e.l) end
    states[i] = { e.exists and 1 or 0, f, l, read_pending(h, e).list, per_unit }
  end
end

return { passed and 1 or 0, num(h.now), results, states, expires, member }
