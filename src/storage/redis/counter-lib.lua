-- counter-lib.lua: the call head and shared functions of the counter script. Not run on its own:
-- the backend joins counter-lib.lua, counter-record.lua, counter-evaluate.lua, counter-settle.lua and
-- counter-batch.lua into ONE script (the SHA1 is that of the joined text), so one call can carry
-- several operations (a batch) that run one after the other inside the same atomic script.
--
-- ARGV head (once per call):
--   ARGV[1] layout signature ("v4|<alignment>|<zone>|<code>:<buckets>,...": v4 is this hash layout)
--   ARGV[2] ttl ms for event hashes (longest coverage and a margin), passed to PEXPIRE as is
--   ARGV[3] U, the number of tracked units (their codes and bucket counts are read from the signature
--           when needed: "<code>:<buckets>", code 0 = seconds .. 6 = years)
--   ARGV[4] the unit (1..U) whose roll-over renews the expiry: the one of longest coverage (ttl exceeds
--           that coverage by one of its periods)
-- Then the operations (counter-batch.lua). Each starts with a time block:
--   now in epoch ms and "<signature>|<ordinal of now per unit, comma-separated>";
--   or "" twice to read the server's TIME (uniform ordinals, computed here once per call);
--   or "=" alone: the same time as the previous operation.
-- Event hash fields (layout v4), the ones every call reads first:
--   m = "<signature>|<bucket-0 ordinal per unit, comma-separated>": the layout and where each ring
--       stands, in one field so that the common case (nothing rolled over since the last write) is
--       one string comparison with the time block's second entry;
--   l = last recorded instant; p = number of pending entries (a hint: absent or 0 means no ZRANGE is
--   needed); c = "<count of bucket 0 per unit, comma-separated>" (absent: all 0);
-- then f = first recorded instant, and per unit a ring of slots "<code>:<slot>" (slot = ordinal mod
-- buckets) holding the counts of the periods BEFORE bucket 0's as "<count>@<ordinal of its period>".
-- Bucket 0 lives in c, and its count (when not 0) moves to its slot when the ring moves on. A slot read
-- for a period other than the one it names reads 0: so a ring that moves on never touches the slots of
-- the periods it skipped (deleting them cost a field each: a key checked once a minute deleted its
-- whole seconds ring on every call), and bucket 0's own slot, which may hold a count a whole ring
-- old, is simply never right for any period still in the ring. So the commonest write is "l" and "c",
-- both at the head of the hash, and a ring that moved adds at most one slot per unit.
-- Pending set members: "<reservation id>|<count>|<createdAt>", score = expiresAt.
--
-- Cost discipline (this runs for every limit check): what a call pays for is number <-> string
-- conversions, table building and fields crossing the Redis/Lua bridge, not the Redis commands, so the
-- client sends ready-made strings (ordinals, now), the common case reads one HMGET of the 4 head
-- fields and writes one HSET of 2, and numbers are parsed only where a value is compared or summed.
-- A field of a small hash is found by a scan of its listpack from the head: a new event's hash starts
-- with m, l, p (written as 0, so that it is never a scan of it all) and c.

local MAX_COUNT = 4294967295

local function num(s)
  return string.format("%.17g", s)
end

local SIG = ARGV[1]
local TTL = ARGV[2]
local U = tonumber(ARGV[3])
local RENEW = tonumber(ARGV[4])
local HEAD = 5
local HEAD_FIELDS = { "m", "l", "p", "c" }

-- The ordinals of the text "<ordinal>,<ordinal>,..." as numbers, in o[1..] (a new table if o is nil).
local function ordinals(text, o)
  o = o or {}
  local u = 0
  for x in string.gmatch(text, "[^,]+") do
    u = u + 1
    o[u] = tonumber(x)
  end
  return o
end

-- Per unit code, bucket count and slot prefix, and the ordinals of a time block as numbers: only the
-- paths off the common case need them, so they are parsed on first use (slow(T)), not per call.
local CODE = nil
local BC = nil
local PFX = nil
-- The unit (1..U) of a unit code's text.
local UNIT_OF = nil
local function slow(T)
  if BC == nil then
    CODE = {}
    BC = {}
    PFX = {}
    UNIT_OF = {}
    local u = 0
    for code, buckets in string.gmatch(string.match(SIG, "|([^|]*)$"), "(%d+):(%d+)") do
      u = u + 1
      CODE[u] = tonumber(code)
      BC[u] = tonumber(buckets)
      PFX[u] = code .. ":"
      UNIT_OF[code] = u
    end
  end
  if T ~= nil and T[1] == nil then ordinals(string.match(T.m, "|([^|]*)$"), T) end
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
-- T[u] = ordinal of now (number; after slow(T)). Returns T and the index after the block.
local function read_time(p)
  local now = ARGV[p]
  if now == "=" then return last_time, p + 1 end
  local T
  if now == "" then
    if server_time == nil then
      slow(nil)
      local t = redis.call("TIME")
      local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      server_time = { now = ms, nowstr = num(ms), server = true }
      for u = 1, U do server_time[u] = uniform_ordinal(CODE[u], ms) end
      server_time.m = make_m(server_time)
    end
    T = server_time
  else
    T = { now = tonumber(now), nowstr = now, m = ARGV[p + 1] }
  end
  last_time = T
  return T, p + 2
end

-- The count a slot's value x ("<count>@<ordinal>", or false/nil) holds for period q: 0 unless the
-- slot was written for q.
local function slot_count(x, q)
  if x then
    local n, o = string.match(x, "^(%d+)@(%-?%d+)$")
    if n and tonumber(o) == q then return tonumber(n) end
  end
  return 0
end

-- The value of a slot holding count n of period q.
local function slot_value(n, q)
  return string.format("%d@%d", n, q)
end

-- Rewrites, once, an event an earlier build wrote with the same units, zone and alignment in an older
-- hash layout (version v2 or v3; ords its stored bucket-0 ordinals), counts kept. Both kept bare counts
-- in the slots and deleted the slots of skipped periods, so every slot of a period still in its ring
-- holds that period's count: it becomes "<count>@<period>". Bucket 0's own slot held bucket 0's count
-- in v2 (it moves to c, which v2 did not have) and is stale in v3; it is deleted. One HGETALL and one
-- HSET per event, once.
local function upgrade(key, version, ords)
  slow(nil)
  local o = ordinals(ords)
  local all = redis.call("HGETALL", key)
  local set = { "m", SIG .. "|" .. ords }
  local del = {}
  local c = {}
  for k = 1, #all, 2 do
    local code, s = string.match(all[k], "^(%d+):(%d+)$")
    local w = code and UNIT_OF[code]
    if w then
      s = tonumber(s)
      if s == o[w] % BC[w] then
        c[w] = all[k + 1]
        del[#del + 1] = all[k]
      else
        set[#set + 1] = all[k]
        set[#set + 1] = slot_value(tonumber(all[k + 1]), o[w] - ((o[w] - s) % BC[w]))
      end
    end
  end
  if version == "v2" then
    for w = 1, U do c[w] = c[w] or "0" end
    set[#set + 1] = "c"
    set[#set + 1] = table.concat(c, ",", 1, U)
  end
  redis.call("HSET", key, unpack(set))
  if #del > 0 then redis.call("HDEL", key, unpack(del)) end
end

-- The counts of bucket 0 per unit (numbers) of a loaded event, parsed from its c field (v[4]) once.
local function counts(e)
  local c = e.cur
  if c == nil then
    c = {}
    local x = e.v[4]
    if x then
      local u = 0
      for n in string.gmatch(x, "%d+") do
        u = u + 1
        c[u] = tonumber(n)
      end
    end
    for u = #c + 1, U do c[u] = 0 end
    e.cur = c
  end
  return c
end

-- Loads an event with one HMGET: v[1] = m, v[2] = last, v[3] = pending hint, v[4] = c, then the
-- other slots the operation reads: dep[di + u] is the depth read in unit u (buckets 0..d-1) and
-- ARGV[p..] the names of buckets 1..d-1 per unit (client clock; computed here with the server's), at
-- v[off[u] + i]. When the ring moved since the last write (m differs from T.m), the load notes per
-- unit: e.o[u] = stored bucket-0 ordinal (nil for a new event); e.shift[u] = now - stored when periods
-- rolled over (bucket i is live iff shift <= i < shift + buckets, and bucket shift is c's count);
-- e.back[u] = true when the clock went back (bucket 0 stays the stored period: a ring never rotates
-- backwards; its older slots are fetched again). Returns e and the index after the names, or nil and an
-- error text.
local function load_event(T, key, pkey, dep, di, p)
  local np = p
  local fields = HEAD_FIELDS
  local off = nil
  if dep ~= nil then
    for u = 1, U do
      local d = dep[di + u]
      if d > 1 then
        if off == nil then
          off = {}
          fields = { unpack(HEAD_FIELDS) }
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
      local version = sig and string.sub(sig, 1, 2)
      if (version == "v2" or version == "v3") and string.sub(sig, 3) == string.sub(SIG, 3) then
        -- Written by an earlier build in this layout: rewritten once, then loaded again.
        upgrade(key, version, ords)
        return load_event(T, key, pkey, dep, di, np)
      end
      return nil, "TALLY_CONFIG stored layout " .. tostring(sig) .. " differs from " .. SIG
    end
    local o = ordinals(ords)
    e.o = o
    e.shift = {}
    e.back = {}
    for w = 1, U do
      local o0 = o[w]
      if o0 < T[w] then
        e.shift[w] = T[w] - o0
      elseif o0 > T[w] then
        e.back[w] = true
        if dep ~= nil and dep[di + w] > 1 then
          local names = {}
          for i = 1, dep[di + w] - 1 do names[i] = PFX[w] .. ((o0 - i) % BC[w]) end
          local x = redis.call("HMGET", key, unpack(names))
          for i = 1, #names do v[off[w] + i] = x[i] end
        end
      end
    end
  end
  return e, p
end

-- Bucket i (0 = current) of unit u as a number; periods the ring no longer (or never) held read 0.
local function bucket(e, u, i)
  local s = 0
  if e.shift ~= nil and e.shift[u] ~= nil then s = e.shift[u] end
  if i < s then return 0 end
  if i > 0 then
    slow(e.T)
    if i >= BC[u] then return 0 end
  end
  -- The stored bucket 0 (now's, or the period the ring last stood at) is c's.
  if i == s then return counts(e)[u] end
  if not e.exists then return 0 end
  -- Bucket i is the period i before bucket 0's: now's, or the stored one when the clock went back.
  local base = e.T[u]
  if e.back ~= nil and e.back[u] then base = e.o[u] end
  local x
  if e.dep ~= nil and i < e.dep[e.di + u] then
    x = e.v[e.off[u] + i]
  else
    -- Not prefetched (the client asked for less): one HGET, off the common path.
    x = redis.call("HGET", e.key, PFX[u] .. ((base - i) % BC[u]))
  end
  return slot_count(x, base - i)
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
-- (nil = now), rotating rings first, and stamps first/last. A ring that moved on from period o0 to n
-- (o0 < n) writes c's count of o0, when not 0, to o0's slot (not when n - o0 >= buckets: o0 is out
-- of the ring) and touches no other slot: the skipped periods' slots name older periods and read 0.
-- The common case is one HSET. A unit whose ring does not reach the instant drops it; if every unit
-- drops it nothing changes (returns false). count 0 only creates the event. The TTL
-- is renewed when the event is created or a period of the RENEW unit rolled over: every write happens
-- less than one such period after a renewal, and the TTL exceeds the longest coverage (RENEW's) by one
-- such period, so a key always outlives the counts it can still answer. Renewing on every roll-over of
-- a finer unit would add a PEXPIRE to most calls of a rate limit (whose seconds ring moves between a
-- client's calls). counter-fixed.lua writes exactly the same.
local function record(T, e, count, t, tstr, at_ords)
  -- Count 0 only creates the event: on one that exists it writes nothing (no ring moves, as in the
  -- in-process store; a ring moved ahead of a clock that then went back would read differently).
  if count == 0 and e.exists then return true end
  local v = e.v
  local cur = counts(e)
  if e.o ~= nil or at_ords ~= nil then slow(T) end
  -- Per unit, the period bucket 0 stands at after this write: now's, or the stored one when the
  -- clock went back (a ring never rotates backwards).
  local base = T
  local moved = false
  if e.o ~= nil then
    base = {}
    for u = 1, U do
      if e.o[u] > T[u] then base[u] = e.o[u] else base[u] = T[u] end
      if base[u] ~= e.o[u] then moved = true end
    end
  end
  -- The new counts of bucket 0 (a unit whose ring moved starts from 0), and the older periods the
  -- instant falls in when it is in the past.
  local c = {}
  for u = 1, U do
    if moved and base[u] ~= e.o[u] then c[u] = 0 else c[u] = cur[u] end
  end
  local past = nil
  local counted = count > 0
  if at_ords ~= nil then
    past = {}
    local reached = false
    counted = false
    for u = 1, U do
      local i = base[u] - at_ords[u]
      if i <= 0 then
        reached = true
        if count > 0 then
          c[u] = c[u] + count
          counted = true
        end
      elseif i < BC[u] then
        reached = true
        past[#past + 1] = PFX[u] .. ((base[u] - i) % BC[u])
        past[#past + 1] = base[u] - i
      end
    end
    if not reached then return false end
  elseif count > 0 then
    for u = 1, U do c[u] = c[u] + count end
  end
  local set = {}
  local n = 0
  local renew = false
  if not e.exists then
    -- A new event: the fields every call reads first lead the hash (see the header). A new event's
    -- first and last instants are t.
    set[1] = "m"
    set[2] = T.m
    n = 2
    if count > 0 and at_ords == nil then
      set[3] = "l"
      set[4] = tstr
      set[5] = "p"
      set[6] = "0"
      n = 6
    end
    renew = true
  end
  if moved then
    for u = 1, U do
      local o0 = e.o[u]
      local gap = base[u] - o0
      if gap > 0 and gap < BC[u] and cur[u] > 0 then
        set[n + 1] = PFX[u] .. (o0 % BC[u])
        set[n + 2] = slot_value(cur[u], o0)
        n = n + 2
      end
    end
    local m = T.m
    for u = 1, U do
      if base[u] ~= T[u] then m = make_m(base) end
    end
    set[n + 1] = "m"
    set[n + 2] = m
    n = n + 2
    renew = base[RENEW] ~= e.o[RENEW]
  end
  if moved or counted then
    for u = 1, U do
      if c[u] > MAX_COUNT then c[u] = MAX_COUNT end
      c[u] = string.format("%d", c[u])
    end
    set[n + 1] = "c"
    set[n + 2] = table.concat(c, ",")
    n = n + 2
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
  elseif count > 0 then
    set[n + 1] = "f"
    set[n + 2] = tstr
    n = n + 2
  end
  if n > 0 then redis.call("HSET", e.key, unpack(set)) end
  if past ~= nil and count > 0 then
    -- After the HSET, which may have just written the count of one of these periods to its slot.
    for k = 1, #past, 2 do
      local q = past[k + 1]
      local total = slot_count(redis.call("HGET", e.key, past[k]), q) + count
      if total > MAX_COUNT then total = MAX_COUNT end
      redis.call("HSET", e.key, past[k], slot_value(total, q))
    end
  end
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
