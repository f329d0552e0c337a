-- counter-lib.lua: the call head and shared functions of the counter script. Not run on its own:
-- the backend joins counter-lib.lua, counter-record.lua, counter-evaluate.lua, counter-settle.lua and
-- counter-batch.lua into ONE script (the SHA1 is that of the joined text), so one call can carry
-- several operations (a batch) that run one after the other inside the same atomic script.
--
-- ARGV head (once per call):
--   ARGV[1] layout signature ("v2|<alignment>|<zone>|<code>:<buckets>,...")
--   ARGV[2] ttl ms for event hashes (longest coverage and a margin), passed to PEXPIRE as is
--   ARGV[3] U, the number of tracked units (their codes and bucket counts are read from the signature
--           when needed: "<code>:<buckets>", code 0 = seconds .. 6 = years)
--   ARGV[4] the unit (1..U) whose roll-over renews the expiry: the one of longest coverage (ttl exceeds
--           that coverage by one of its periods)
-- Then the operations (counter-batch.lua). Each starts with a time block:
--   now in epoch ms; "<signature>|<ordinal of now per unit, comma-separated>"; then per unit the field
--   of its ring slot at now ("<code>:<slot>");
--   or "" and 1 + U "" to read the server's TIME (uniform ordinals, computed here once per call);
--   or "=" alone: the same time as the previous operation.
-- Event hash fields:
--   m = "<signature>|<bucket-0 ordinal per unit, comma-separated>": the layout and where each ring
--       stands, in one field so that the common case (nothing rolled over since the last write) is
--       one string comparison with the time block's second entry;
--   f / l = first / last recorded instant; p = number of pending entries (a hint: absent or 0 means no
--   ZRANGE is needed); <code>:<slot> = count of the period in that ring slot (slot = ordinal mod buckets).
-- Pending set members: "<reservation id>|<count>|<createdAt>", score = expiresAt.
--
-- Cost discipline (this runs for every limit check): what a call pays for is number <-> string
-- conversions, table building and fields crossing the Redis/Lua bridge, not the Redis commands, so the
-- client sends ready-made strings (ordinals, slot names, now), the common case reads one HMGET of
-- 3 + U fields and writes one HSET, and numbers are parsed only where a value is compared or summed.

local MAX_COUNT = 4294967295

local function num(s)
  return string.format("%.17g", s)
end

local SIG = ARGV[1]
local TTL = ARGV[2]
local U = tonumber(ARGV[3])
local RENEW = tonumber(ARGV[4])
local HEAD = 5
local SLOT0 = 3 -- v[SLOT0 + u] is the slot of now in unit u

-- Per unit code, bucket count and slot prefix, and the ordinals of a time block as numbers: only the
-- paths off the common case need them, so they are parsed on first use (slow(T)), not per call.
local CODE = nil
local BC = nil
local PFX = nil
local function slow(T)
  if BC == nil then
    CODE = {}
    BC = {}
    PFX = {}
    local u = 0
    for code, buckets in string.gmatch(string.match(SIG, "|([^|]*)$"), "(%d+):(%d+)") do
      u = u + 1
      CODE[u] = tonumber(code)
      BC[u] = tonumber(buckets)
      PFX[u] = code .. ":"
    end
  end
  if T ~= nil and T[1] == nil then
    local u = 0
    for x in string.gmatch(string.match(T.m, "|([^|]*)$"), "[^,]+") do
      u = u + 1
      T[u] = tonumber(x)
    end
  end
end

local function uniform_ordinal(code, t)
  local nominal = { [0] = 1000, [1] = 60000, [2] = 3600000, [3] = 86400000, [4] = 604800000, [5] = 2592000000, [6] = 31536000000 }
  local epoch = 0
  if code == 4 then epoch = 345600000 end -- weeks start on Monday 1970-01-05
  return math.floor((t - epoch) / nominal[code])
end

local function make_m(ords)
  local parts = {}
  for u = 1, U do parts[u] = num(ords[u]) end
  return SIG .. "|" .. table.concat(parts, ",")
end

local server_time = nil
local last_time = nil

-- The time block at ARGV[p]: T.now (number), T.nowstr, T.m (the m field of a ring standing at now),
-- T[u] = ordinal of now (number; after slow(T)), T.fields = the HMGET fields every load reads (m, l, p, the slots of
-- now). Returns T and the index after the block.
local function read_time(p)
  local now = ARGV[p]
  if now == "=" then return last_time, p + 1 end
  local T
  if now == "" then
    if server_time == nil then
      slow(nil)
      local t = redis.call("TIME")
      local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      server_time = { now = ms, nowstr = num(ms), server = true, fields = { "m", "l", "p" } }
      for u = 1, U do
        local o = uniform_ordinal(CODE[u], ms)
        server_time[u] = o
        server_time.fields[SLOT0 + u] = PFX[u] .. (o % BC[u])
      end
      server_time.m = make_m(server_time)
    end
    T = server_time
  else
    local fields = { "m", "l", "p" }
    for u = 1, U do fields[SLOT0 + u] = ARGV[p + 1 + u] end
    T = { now = tonumber(now), nowstr = now, m = ARGV[p + 1], fields = fields }
  end
  last_time = T
  return T, p + 2 + U
end

-- Loads an event with one HMGET: v[1] = m, v[2] = last, v[3] = pending hint, v[SLOT0 + u] = the slot
-- of now in unit u, then the other slots the operation reads: dep[di + u] is the depth read in unit u
-- (buckets 0..d-1) and ARGV[p..] the names of buckets 1..d-1 per unit (client clock; computed here
-- with the server's). When the ring moved since the last write (m differs from T.m), the load notes per
-- unit: e.o[u] = stored bucket-0 ordinal (nil for a new event); e.shift[u] = now - stored when periods
-- rolled over (bucket i is live iff shift <= i < shift + buckets); e.back[u] = true when the clock went
-- back (bucket 0 stays the stored period: a ring never rotates backwards; its slots are fetched again).
-- Returns e and the index after the names, or nil and an error text.
local function load_event(T, key, pkey, dep, di, p)
  local np = p
  local fields = T.fields
  local off = nil
  if dep ~= nil then
    for u = 1, U do
      local d = dep[di + u]
      if d > 1 then
        if off == nil then
          off = {}
          fields = {}
          for j = 1, SLOT0 + U do fields[j] = T.fields[j] end
        end
        local n = #fields
        off[u] = n
        slow(T)
        if T.server then
          for i = 1, d - 1 do fields[n + i] = PFX[u] .. ((T[u] - i) % BC[u]) end
        else
          for i = 1, d - 1 do fields[n + i] = ARGV[p + i - 1] end
          p = p + d - 1
        end
      end
    end
  end
  local v = redis.call("HMGET", key, unpack(fields))
  local e = { T = T, key = key, pkey = pkey, v = v, dep = dep, di = di, np = np, off = off, exists = v[1] ~= false }
  local m = v[1]
  if m and m ~= T.m then
    slow(T)
    local sig, ords = string.match(m, "^(.*)|([^|]*)$")
    if sig ~= SIG then
      return nil, "TALLY_CONFIG stored layout " .. tostring(sig) .. " differs from " .. SIG
    end
    local o = {}
    local u = 0
    for x in string.gmatch(ords, "[^,]+") do
      u = u + 1
      o[u] = tonumber(x)
    end
    e.o = o
    e.shift = {}
    e.back = {}
    for w = 1, U do
      local o0 = o[w]
      if o0 < T[w] then
        e.shift[w] = T[w] - o0
      elseif o0 > T[w] then
        e.back[w] = true
        local d = 1
        if dep ~= nil and dep[di + w] > 1 then d = dep[di + w] end
        local names = {}
        for i = 0, d - 1 do names[i + 1] = PFX[w] .. ((o0 - i) % BC[w]) end
        local x = redis.call("HMGET", key, unpack(names))
        v[SLOT0 + w] = x[1]
        for i = 1, d - 1 do v[off[w] + i] = x[i + 1] end
      end
    end
  end
  return e, p
end

-- Bucket i (0 = current) of unit u as a number; periods the ring no longer (or never) held read 0.
local function bucket(e, u, i)
  if i > 0 then
    slow(e.T)
    if i >= BC[u] then return 0 end
  end
  local s = nil
  if e.shift ~= nil then s = e.shift[u] end
  if s ~= nil and (i < s or i >= s + BC[u]) then return 0 end
  local x
  if i == 0 then
    x = e.v[SLOT0 + u]
  elseif e.dep ~= nil and i < e.dep[e.di + u] then
    x = e.v[e.off[u] + i]
  else
    -- Not prefetched (the client asked for less): one HGET, off the common path.
    if not e.exists then return 0 end
    local base = e.T[u]
    if e.back ~= nil and e.back[u] then base = e.o[u] end
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
  local hint = e.v[3]
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
-- first/last. The common case is one HSET. A unit whose ring does not reach the instant drops it; if
-- every unit drops it nothing changes (returns false). count 0 only creates the event. The TTL is
-- renewed when the event is created or a period of the RENEW unit rolled over: every write happens
-- less than one such period after a renewal, and the TTL exceeds the longest coverage (RENEW's) by one
-- such period, so a key always outlives the counts it can still answer. Renewing on every roll-over
-- of a finer unit would add a PEXPIRE to most calls of a rate limit (whose seconds ring moves between
-- a client's calls).
local function record(T, e, count, t, tstr, at_ords)
  local v = e.v
  local set = {}
  local n = 0
  local renew = false
  local past = nil
  if e.o ~= nil or at_ords ~= nil then slow(T) end
  if e.o == nil then
    -- The ring stands at now (or the event is new): bucket 0 is the slot of now in every unit.
    if not e.exists then
      -- A new event: the fields every call reads first (HMGET m, l, p) lead the hash, so that a
      -- lookup, a scan of the hash's listpack from its head, finds them at once (an absent field
      -- costs a scan of it all; written here as 0, p is present). A new event's first and last
      -- instants are t.
      set[1] = "m"
      set[2] = T.m
      n = 2
      if count > 0 and at_ords == nil then
        set[3] = "l"
        set[4] = tstr
        set[5] = "p"
        set[6] = "0"
        set[7] = "f"
        set[8] = tstr
        n = 8
      end
      renew = true
    end
    if at_ords == nil then
      if count > 0 then
        for u = 1, U do
          local value = count
          local x = v[SLOT0 + u]
          if x then value = value + tonumber(x) end
          if value > MAX_COUNT then value = MAX_COUNT end
          set[n + 1] = T.fields[SLOT0 + u]
          set[n + 2] = value
          n = n + 2
        end
      end
    else
      past = {}
      for u = 1, U do
        local i = T[u] - at_ords[u]
        if i < 0 then i = 0 end
        if i < BC[u] then past[#past + 1] = PFX[u] .. ((T[u] - i) % BC[u]) end
      end
      if #past == 0 then return false end
    end
  else
    -- The ring moved: per unit, rotate forward (zero the skipped periods) or stay (clock went back).
    local base = {}
    local moved = false
    for u = 1, U do
      if e.o[u] > T[u] then base[u] = e.o[u] else base[u] = T[u] end
      if base[u] ~= e.o[u] then moved = true end
    end
    if at_ords ~= nil then
      past = {}
      for u = 1, U do
        local i = base[u] - at_ords[u]
        if i < 0 then i = 0 end
        if i < BC[u] then past[#past + 1] = PFX[u] .. ((base[u] - i) % BC[u]) end
      end
      if #past == 0 then return false end
    end
    if moved then
      -- Zero the skipped periods. The slot of now is not deleted when the HSET below writes it.
      local keep = -1
      local del = {}
      for u = 1, U do
        local o0 = e.o[u]
        local gap = base[u] - o0
        if at_ords == nil and count > 0 then keep = base[u] % BC[u] end
        if gap >= BC[u] then
          for s = 0, BC[u] - 1 do
            if s ~= keep then del[#del + 1] = PFX[u] .. s end
          end
        else
          for k = 1, gap do
            local s = (o0 + k) % BC[u]
            if s ~= keep then del[#del + 1] = PFX[u] .. s end
          end
        end
      end
      if #del > 0 then redis.call("HDEL", e.key, unpack(del)) end
      local m = T.m
      for u = 1, U do
        if base[u] ~= T[u] then m = make_m(base) end
      end
      set[1] = "m"
      set[2] = m
      n = 2
      renew = base[RENEW] ~= e.o[RENEW]
    end
    if at_ords == nil and count > 0 then
      for u = 1, U do
        local value = count
        if base[u] == e.o[u] then
          local x = v[SLOT0 + u]
          if x then value = value + tonumber(x) end
        end
        if value > MAX_COUNT then value = MAX_COUNT end
        set[n + 1] = PFX[u] .. (base[u] % BC[u])
        set[n + 2] = value
        n = n + 2
      end
    end
  end
  if past ~= nil and count > 0 then
    for k = 1, #past do
      if redis.call("HINCRBY", e.key, past[k], count) > MAX_COUNT then
        redis.call("HSET", e.key, past[k], MAX_COUNT)
      end
    end
  end
  if count > 0 and (e.exists or at_ords ~= nil) then
    local last = v[2]
    if not last then
      set[n + 1] = "f"
      set[n + 2] = tstr
      set[n + 3] = "l"
      set[n + 4] = tstr
      n = n + 4
    else
      last = tonumber(last)
      if t > last then
        set[n + 1] = "l"
        set[n + 2] = tstr
        n = n + 2
      elseif t < last then
        local first = redis.call("HGET", e.key, "f")
        if not first or t < tonumber(first) then
          set[n + 1] = "f"
          set[n + 2] = tstr
          n = n + 2
        end
      end
    end
  end
  if n > 0 then redis.call("HSET", e.key, unpack(set)) end
  if renew then redis.call("PEXPIRE", e.key, TTL) end
  e.exists = true
  e.stale = true
  return true
end

-- Makes an event exist without counting anything (a reservation creates its event).
local function touch(T, e)
  if not e.exists then
    redis.call("HSET", e.key, "m", T.m)
    e.exists = true
  end
  redis.call("PEXPIRE", e.key, TTL)
end
