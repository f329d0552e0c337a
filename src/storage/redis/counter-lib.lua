-- counter-lib.lua: the call head and shared functions of the counter script. Not run on its own:
-- the backend joins counter-lib.lua, counter-record.lua, counter-evaluate.lua, counter-settle.lua and
-- counter-batch.lua into ONE script (the SHA1 is that of the joined text), so a call can carry several
-- operations (a batch) that run one after the other inside the same atomic script.
--
-- ARGV head (once per call):
--   ARGV[1] layout signature ("v1|<alignment>|<zone>|<code>:<buckets>,...")
--   ARGV[2] ttl ms for event hashes (longest coverage and a margin), passed to PEXPIRE as is
--   ARGV[3] U, the number of tracked units; then U pairs: unit code (0 = seconds .. 6 = years), bucket count
-- Then the operations (see counter-batch.lua). Each starts with a time block:
--   now in epoch ms, then per unit: ordinal of now and the field name of its ring slot ("<code>:<slot>");
--   or "" and U pairs of "" "" to read the server's TIME (uniform ordinals, computed here once per call).
-- Event hash fields: c = signature, f / l = first / last recorded instant, p = number of pending entries
--   (a hint: 0 means no ZRANGE is needed), o<code> = ordinal of bucket 0 of that unit,
--   <code>:<slot> = count of the period in that ring slot (slot = ordinal mod bucket count).
-- Pending set members: "<reservation id>|<count>|<createdAt>", score = expiresAt.
--
-- Cost discipline (this runs for every limit check): number <-> string conversions are what a call
-- pays for, not Redis commands, so the client sends ready-made strings (ordinals, slot names, now) and
-- the common case compares strings (a stored ordinal equal to now's means no rotation) and writes with
-- HINCRBY; numbers are parsed only when a period rolled over or a test needs them.

local MAX_COUNT = 4294967295
local NOMINAL = { [0] = 1000, [1] = 60000, [2] = 3600000, [3] = 86400000, [4] = 604800000, [5] = 2592000000, [6] = 31536000000 }
local EPOCH = { [0] = 0, [1] = 0, [2] = 0, [3] = 0, [4] = 345600000, [5] = 0, [6] = 0 }

local function num(s)
  return string.format("%.17g", s)
end

local SIG = ARGV[1]
local TTL = ARGV[2]
local U = tonumber(ARGV[3])
local CODE = {}
local BC = {}
local OFIELD = {}
local PFX = {}
for u = 1, U do
  CODE[u] = tonumber(ARGV[2 + 2 * u])
  BC[u] = tonumber(ARGV[3 + 2 * u])
  OFIELD[u] = "o" .. ARGV[2 + 2 * u]
  PFX[u] = ARGV[2 + 2 * u] .. ":"
end
local HEAD = 4 + 2 * U

local function uniform_ordinal(code, t)
  return math.floor((t - EPOCH[code]) / NOMINAL[code])
end

local server_time = nil
local last_time = nil

-- The time block at ARGV[p]: T.now (number), T.nowstr, T[u] = ordinal string, T[U + u] = slot name of
-- now in unit u; "=" repeats the previous operation's block. Returns T and the index after the block.
local function read_time(p)
  local now = ARGV[p]
  if now == "=" then return last_time, p + 1 end
  if now == "" then
    if server_time == nil then
      local t = redis.call("TIME")
      local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      server_time = { now = ms, nowstr = num(ms), server = true }
      for u = 1, U do
        local o = uniform_ordinal(CODE[u], ms)
        server_time[u] = num(o)
        server_time[U + u] = PFX[u] .. (o % BC[u])
      end
    end
    last_time = server_time
    return server_time, p + 1 + 2 * U
  end
  local T = { now = tonumber(now), nowstr = now }
  for u = 1, U do
    T[u] = ARGV[p + 2 * u - 1]
    T[U + u] = ARGV[p + 2 * u]
  end
  last_time = T
  return T, p + 1 + 2 * U
end

-- Loads an event with one HMGET: v[1..4] = signature, first, last, pending hint; v[4 + u] = bucket-0
-- ordinal of unit u; v[4 + U + u] = the slot of now in unit u; then (when p is given) the other slots
-- the operation reads. ARGV[p..] holds, per unit, a depth d and then (client clock) the names of the
-- slots of buckets 1..d-1 at now's ordinal. Per unit the load notes how the stored ring relates to
-- now: e.shift[u] = now - stored ordinal when a period rolled over since the last write (bucket i is
-- live iff shift <= i < shift + buckets), e.back[u] = the stored ordinal when the clock went back
-- (bucket 0 stays the stored period: a ring never rotates backwards, and its slots are fetched again
-- for that base). Returns e and the index after the reads, or nil and an error text.
local function load_event(T, key, pkey, p)
  local reads = p
  local fields = { "c", "f", "l", "p" }
  local n = 4
  for u = 1, U do fields[4 + u] = OFIELD[u] end
  for u = 1, U do fields[4 + U + u] = T[U + u] end
  n = 4 + 2 * U
  local off = {}
  local dep = {}
  for u = 1, U do
    local d = 0
    off[u] = n
    if p ~= nil then
      d = tonumber(ARGV[p])
      p = p + 1
      if T.server then
        local o = tonumber(T[u])
        for i = 1, d - 1 do fields[n + i] = PFX[u] .. ((o - i) % BC[u]) end
      else
        for i = 1, d - 1 do fields[n + i] = ARGV[p + i - 1] end
        if d > 1 then p = p + d - 1 end
      end
      if d > 1 then n = n + d - 1 end
    end
    dep[u] = d
  end
  local v = redis.call("HMGET", key, unpack(fields))
  if v[1] and v[1] ~= SIG then
    return nil, "TALLY_CONFIG stored layout " .. v[1] .. " differs from " .. SIG
  end
  local e = { key = key, pkey = pkey, v = v, off = off, dep = dep, reads = reads, exists = v[1] ~= false }
  for u = 1, U do
    local o = v[4 + u]
    if o and o ~= T[u] then
      local o0 = tonumber(o)
      local now = tonumber(T[u])
      if o0 < now then
        if e.shift == nil then e.shift = {} end
        e.shift[u] = now - o0
      elseif o0 > now then
        if e.back == nil then e.back = {} end
        e.back[u] = o0
        local names = {}
        local d = dep[u]
        if d < 1 then d = 1 end
        for i = 0, d - 1 do names[i + 1] = PFX[u] .. ((o0 - i) % BC[u]) end
        local w = redis.call("HMGET", key, unpack(names))
        v[4 + U + u] = w[1]
        for i = 1, d - 1 do v[off[u] + i] = w[i + 1] end
      end
    end
  end
  return e, p
end

-- Bucket i (0 = current) of unit u as a number; periods the ring no longer (or never) held read 0.
local function bucket(e, u, i)
  if i >= BC[u] then return 0 end
  local s = e.shift and e.shift[u]
  if s ~= nil and (i < s or i >= s + BC[u]) then return 0 end
  local x
  if i == 0 then
    x = e.v[4 + U + u]
  elseif i < e.dep[u] then
    x = e.v[e.off[u] + i]
  else
    -- Not prefetched (the client asked for less): one HGET, off the common path.
    local base = (e.back and e.back[u]) or tonumber(e.v[4 + u])
    if base == nil then return 0 end
    if s ~= nil then base = base + s end
    x = redis.call("HGET", e.key, PFX[u] .. ((base - i) % BC[u]))
  end
  if x then return tonumber(x) end
  return 0
end

local function sum_range(e, u, from, to)
  local total = 0
  for i = from, to do total = total + bucket(e, u, i) end
  return total
end

-- Unexpired reservations of an event: total count, newest createdAt (or nil), flat list.
local NO_PENDING = { total = 0, newest = nil, list = {} }
local function read_pending(T, e)
  if e.pending ~= nil then return e.pending end
  local hint = e.v[4]
  if not hint or hint == "0" then
    e.pending = NO_PENDING
    return NO_PENDING
  end
  local members = redis.call("ZRANGEBYSCORE", e.pkey, "(" .. T.nowstr, "+inf", "WITHSCORES")
  local pd = { total = 0, newest = nil, list = {} }
  for k = 1, #members, 2 do
    local count, created = string.match(members[k], "|(%d+)|([^|]+)$")
    count = tonumber(count)
    created = tonumber(created)
    pd.total = pd.total + count
    if pd.newest == nil or created > pd.newest then pd.newest = created end
    pd.list[#pd.list + 1] = tostring(count)
    pd.list[#pd.list + 1] = num(created)
    pd.list[#pd.list + 1] = members[k + 1]
  end
  e.pending = pd
  return pd
end

-- Adds count to every unit's bucket of the instant t (tstr its text) whose ordinals are at_ords
-- (nil = now), rotating rings first (zeroing the periods skipped since the last write), and stamps
-- first/last; one HSET (plus HDEL when periods were skipped). A unit whose ring does not reach the
-- instant drops it; if every unit drops it nothing changes (returns false). count 0 only creates the
-- event. The TTL is renewed when the event is created or a period rolled over: every write happens
-- within one period of the finest unit after such a renewal, and the TTL exceeds the longest coverage
-- by a whole period of the coarsest unit, so a key always outlives the counts it can still answer.
local function record(T, e, count, t, tstr, at_ords)
  local v = e.v
  local set = {}
  local del = nil
  local renew = false
  if at_ords ~= nil then
    local any = false
    for u = 1, U do
      local base = tonumber(T[u])
      local o = v[4 + u]
      if o and tonumber(o) > base then base = tonumber(o) end
      local i = base - at_ords[u]
      if i < 0 then i = 0 end
      if i < BC[u] then any = true end
    end
    if not any then return false end
  end
  local pending_names = {}
  for u = 1, U do
    local o = v[4 + u]
    local name
    local value = count
    if o == T[u] then
      if at_ords == nil then
        name = T[U + u]
        local x = v[4 + U + u]
        if x then value = value + tonumber(x) end
      end
    else
      local now_o = tonumber(T[u])
      local o0 = nil
      if o then o0 = tonumber(o) end
      if o0 == nil or now_o > o0 then
        if o0 ~= nil then
          if del == nil then del = {} end
          local gap = now_o - o0
          if gap >= BC[u] then
            for s = 0, BC[u] - 1 do del[#del + 1] = PFX[u] .. s end
          else
            for k = 1, gap do del[#del + 1] = PFX[u] .. ((o0 + k) % BC[u]) end
          end
        end
        set[#set + 1] = OFIELD[u]
        set[#set + 1] = T[u]
        renew = true
        if at_ords == nil then name = T[U + u] end
      elseif at_ords == nil then
        -- The clock went back: count into the stored current period (prefetched at load).
        name = PFX[u] .. (o0 % BC[u])
        local x = v[4 + U + u]
        if x then value = value + tonumber(x) end
      end
    end
    if at_ords ~= nil then
      local base = tonumber(T[u])
      if o and tonumber(o) > base then base = tonumber(o) end
      local i = base - at_ords[u]
      if i < 0 then i = 0 end
      if i < BC[u] then
        name = PFX[u] .. ((base - i) % BC[u])
        -- A past slot: read it after the rotation above is applied (below).
        pending_names[#pending_names + 1] = name
        value = nil
      end
    end
    if name ~= nil and count > 0 and value ~= nil then
      if value > MAX_COUNT then value = MAX_COUNT end
      set[#set + 1] = name
      set[#set + 1] = value
    end
  end
  if del ~= nil then redis.call("HDEL", e.key, unpack(del)) end
  if count > 0 then
    for k = 1, #pending_names do
      if redis.call("HINCRBY", e.key, pending_names[k], count) > MAX_COUNT then
        redis.call("HSET", e.key, pending_names[k], MAX_COUNT)
      end
    end
    if not v[2] or t < tonumber(v[2]) then
      set[#set + 1] = "f"
      set[#set + 1] = tstr
    end
    if not v[3] or t > tonumber(v[3]) then
      set[#set + 1] = "l"
      set[#set + 1] = tstr
    end
  end
  if not e.exists then
    set[#set + 1] = "c"
    set[#set + 1] = SIG
    e.exists = true
    renew = true
  end
  if #set > 0 then redis.call("HSET", e.key, unpack(set)) end
  if renew then redis.call("PEXPIRE", e.key, TTL) end
  e.stale = true
  return true
end

-- Makes an event exist without counting anything (a reservation creates its event).
local function touch(e)
  if not e.exists then
    redis.call("HSET", e.key, "c", SIG)
    e.exists = true
  end
  redis.call("PEXPIRE", e.key, TTL)
end
