-- counter-lib.lua: shared functions of the counter scripts. It is not run on its own: the backend
-- prepends it to counter-record.lua, counter-evaluate.lua and counter-settle.lua (the SHA1 is that
-- of the joined text).
--
-- Common ARGV head (every script):
--   ARGV[1] layout signature ("v1|<alignment>|<zone>|<code>:<buckets>,...")
--   ARGV[2] now in epoch ms, or "" to read the server's TIME (uniform ordinals)
--   ARGV[3] ttl ms for event hashes (longest coverage and a margin)
--   ARGV[4] U, the number of tracked units; then U triples:
--           unit code (0 = seconds .. 6 = years), bucket count, ordinal of now ("" = uniform from now)
-- Event hash fields: c = signature, f / l = first / last recorded instant,
--   o<code> = ordinal of bucket 0 of that unit, <code>:<slot> = count of the period in that ring slot.
-- Pending set members: "<reservation id>|<count>|<createdAt>", score = expiresAt.

local MAX_COUNT = 4294967295
local NOMINAL = { [0] = 1000, [1] = 60000, [2] = 3600000, [3] = 86400000, [4] = 604800000, [5] = 2592000000, [6] = 31536000000 }
local EPOCH = { [0] = 0, [1] = 0, [2] = 0, [3] = 0, [4] = 345600000, [5] = 0, [6] = 0 }

local function num(s)
  return string.format("%.17g", s)
end

local function uniform_ordinal(code, t)
  return math.floor((t - EPOCH[code]) / NOMINAL[code])
end

local function read_head()
  local h = { sig = ARGV[1], ttl = tonumber(ARGV[3]), units = {} }
  if ARGV[2] == "" then
    local t = redis.call("TIME")
    h.now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    h.server = true
  else
    h.now = tonumber(ARGV[2])
  end
  local n = tonumber(ARGV[4])
  local p = 5
  for u = 1, n do
    local code = tonumber(ARGV[p])
    local ord = ARGV[p + 2]
    if ord == "" then ord = uniform_ordinal(code, h.now) else ord = tonumber(ord) end
    h.units[u] = { code = code, prefix = ARGV[p] .. ":", bc = tonumber(ARGV[p + 1]), now = ord, ofield = "o" .. ARGV[p] }
    p = p + 3
  end
  h.next = p
  return h
end

-- Loads an event's signature, first/last instants, pending hint and bucket-0 ordinals, plus (in the
-- same HMGET) the ring slots of buckets 0..want[u]-1 assuming bucket 0 is now's period (the usual
-- case; a clock that went back drops the prefetch). base[u] is the ordinal of bucket 0 for this
-- operation: max(now, stored), so a clock that went back never rotates.
local function load_event(h, key, pkey, want)
  local fields = { "c", "f", "l", "p" }
  local n = #h.units
  for u = 1, n do fields[4 + u] = h.units[u].ofield end
  if want ~= nil then
    for u = 1, n do
      local unit = h.units[u]
      local d = want[u] or 0
      if d > unit.bc then d = unit.bc end
      for i = 0, d - 1 do fields[#fields + 1] = unit.prefix .. ((unit.now - i) % unit.bc) end
    end
  end
  local v = redis.call("HMGET", key, unpack(fields))
  if v[1] and v[1] ~= h.sig then
    return nil, "TALLY_CONFIG stored layout " .. v[1] .. " differs from " .. h.sig
  end
  local e = { key = key, pkey = pkey, exists = v[1] ~= false, o = {}, stored = {}, base = {}, cache = {} }
  if v[2] then e.f = tonumber(v[2]) end
  if v[3] then e.l = tonumber(v[3]) end
  e.p = tonumber(v[4]) or 0
  local back = false
  for u = 1, n do
    local o = v[4 + u]
    if o then o = tonumber(o) else o = nil end
    e.o[u] = o
    e.stored[u] = o
    local now = h.units[u].now
    if o ~= nil and o > now then
      e.base[u] = o
      back = true
    else
      e.base[u] = now
    end
  end
  if not back then
    for k = 5 + n, #fields do e.cache[fields[k]] = v[k] or "0" end
  end
  return e
end

-- Raw values of ring slot fields, from the prefetch or one HMGET for the misses.
local function slot_values(e, names)
  local out = {}
  local miss = {}
  local at = {}
  for k = 1, #names do
    local c = e.cache[names[k]]
    if c == nil then
      miss[#miss + 1] = names[k]
      at[#miss] = k
    else
      out[k] = tonumber(c)
    end
  end
  if #miss > 0 then
    local v = redis.call("HMGET", e.key, unpack(miss))
    for k = 1, #miss do
      local x = v[k] or "0"
      e.cache[miss[k]] = x
      out[at[k]] = tonumber(x)
    end
  end
  return out
end

-- Buckets from..to (inclusive, 0 = current) of unit u, newest first; periods the ring no longer
-- holds (or never held) read as 0.
local function read_buckets(h, e, u, from, to)
  local out = {}
  local unit = h.units[u]
  if to >= unit.bc then to = unit.bc - 1 end
  if to < from then return out end
  local o0 = e.stored[u]
  local names = {}
  local index = {}
  for i = from, to do
    local ord = e.base[u] - i
    out[#out + 1] = 0
    if o0 ~= nil and ord <= o0 and ord > o0 - unit.bc then
      names[#names + 1] = unit.prefix .. (ord % unit.bc)
      index[#names] = #out
    end
  end
  if #names > 0 then
    local v = slot_values(e, names)
    for k = 1, #names do out[index[k]] = v[k] end
  end
  return out
end

-- Unexpired reservations of an event: total count, newest createdAt (or nil), flat list.
local function read_pending(h, e)
  if e.pending ~= nil then return e.pending end
  if e.p == 0 then
    e.pending = { total = 0, newest = nil, list = {} }
    return e.pending
  end
  local members = redis.call("ZRANGEBYSCORE", e.pkey, "(" .. num(h.now), "+inf", "WITHSCORES")
  local p = { total = 0, newest = nil, list = {} }
  for k = 1, #members, 2 do
    local count, created = string.match(members[k], "|(%d+)|([^|]+)$")
    count = tonumber(count)
    created = tonumber(created)
    p.total = p.total + count
    if p.newest == nil or created > p.newest then p.newest = created end
    p.list[#p.list + 1] = tostring(count)
    p.list[#p.list + 1] = num(created)
    p.list[#p.list + 1] = members[k + 1]
  end
  e.pending = p
  return p
end

-- Adds count to every unit's bucket for the instant with ordinals at_ords (nil = now) and stamps
-- first/last with t. A unit whose ring does not reach the instant drops it; if every unit drops
-- it nothing changes. count 0 only creates the event.
local function record(h, e, count, t, at_ords)
  local targets = {}
  for u = 1, #h.units do
    local unit = h.units[u]
    local base = e.base[u]
    local i = 0
    if at_ords ~= nil then
      i = base - at_ords[u]
      if i < 0 then i = 0 end
    end
    if i < unit.bc then
      targets[#targets + 1] = { u = u, ord = base - i, name = unit.prefix .. ((base - i) % unit.bc) }
    end
  end
  if #targets == 0 then return false end
  local set = {}
  local del = {}
  for u = 1, #h.units do
    local unit = h.units[u]
    local o0 = e.o[u]
    local base = e.base[u]
    if o0 == nil or base > o0 then
      if o0 ~= nil then
        local gap = base - o0
        if gap >= unit.bc then
          for s = 0, unit.bc - 1 do del[#del + 1] = unit.prefix .. s end
        else
          for k = 1, gap do del[#del + 1] = unit.prefix .. ((o0 + k) % unit.bc) end
        end
      end
      set[#set + 1] = unit.ofield
      set[#set + 1] = tostring(base)
      e.o[u] = base
    end
  end
  if #del > 0 then redis.call("HDEL", e.key, unpack(del)) end
  if count > 0 then
    local names = {}
    local live = {}
    for k = 1, #targets do
      names[k] = targets[k].name
      local o0 = e.stored[targets[k].u]
      local ord = targets[k].ord
      live[k] = o0 ~= nil and ord <= o0 and ord > o0 - h.units[targets[k].u].bc
    end
    local v = slot_values(e, names)
    for k = 1, #targets do
      local value = count
      if live[k] then value = value + v[k] end
      if value > MAX_COUNT then value = MAX_COUNT end
      set[#set + 1] = names[k]
      set[#set + 1] = tostring(value)
      e.cache[names[k]] = tostring(value)
    end
    if e.f == nil or t < e.f then
      e.f = t
      set[#set + 1] = "f"
      set[#set + 1] = num(t)
    end
    if e.l == nil or t > e.l then
      e.l = t
      set[#set + 1] = "l"
      set[#set + 1] = num(t)
    end
  end
  if not e.exists then
    set[#set + 1] = "c"
    set[#set + 1] = h.sig
    e.exists = true
  end
  if #set > 0 then redis.call("HSET", e.key, unpack(set)) end
  redis.call("PEXPIRE", e.key, h.ttl)
  return true
end

-- Makes an event exist without counting anything (a reservation creates its event).
local function touch(h, e)
  if not e.exists then
    redis.call("HSET", e.key, "c", h.sig)
    e.exists = true
  end
  redis.call("PEXPIRE", e.key, h.ttl)
end
