-- counter-fixed.lua: the short script of the commonest limit calls, sent on its own (not joined with
-- the general counter script): check or checkAndRecord of atMost limits on one event, with the
-- client's clock. Windows that cover only the current period are compared with their rooms; in the
-- RANGES variant (the backend sends it only for calls that need it), windows of several periods and
-- sliding windows' linear forms are summed here too, from one more HMGET of the slots they read (they
-- cost the general script ~150k instructions more: its plan parse, its tables and its joined body).
-- One call carries one operation (a lone
-- caller) or several started in the same tick (the backend batches them); they run in order, each
-- judged on the state the previous ones left. Everything arrives ready-made, so an operation is one
-- HMGET, a few comparisons and one HSET of the last instant and the new counts (plus, when a ring moved
-- on, its old count written to its slot, and a PEXPIRE when a period of the renewing unit rolled
-- over). Whatever it cannot decide on its own it leaves untouched and answers 0 for, and the backend
-- sends that operation again through the general script (counter-lib.lua .. counter-batch.lua), which
-- decides it from scratch: a 0 writes nothing, so each operation stays exactly one atomic step.
--
-- An operation is left undecided (0) when: the stored layout differs, the clock is behind the ring (a
-- unit's stored period is after now), reservations may be pending (p), or now is before the event's
-- last instant (first needs a read). A denial is decided here, with the state it was judged on. Its
-- writes are exactly those of record() in counter-lib.lua when no unit's ring is ahead of now (the
-- property test in counter-fixed-script.test.ts compares the two field for field).
--
-- Cost discipline: a call is mostly Lua work, and converting between strings and numbers (strtod,
-- sprintf) is its largest part, so nothing is parsed that can be compared as text: epoch-ms instants
-- of equal length compare as strings, a count against its room by length and then as a string (both
-- are non-negative integers without leading zeros: the backend never sends a negative room here). The
-- counts of the current periods live in one field at the head of the hash (c, layout v4: see
-- counter-lib.lua), so the commonest call reads the four head fields (m, l, p, c) and writes two (l, c),
-- the new counts summed in Lua and formatted by one "%d,..." (a redis.call costs ~4k instructions, and
-- each script argument, command argument or reply field crossing the bridge ~1.2k-2.6k more; a field
-- of a small hash is found by a scan of its listpack from the head, so fields near the head are cheap).
-- Allocations count too (a table grown entry by entry, a closure with upvalues, and the collector's
-- share of them): the commonest calls (three units, the ring at now or only its first unit moved on)
-- build no table, and a lone call's reply is not wrapped in a list. Measured with callgrind on the
-- server, per lone checkAndRecord of the rate-limiting preset over 100 keys: 58k instructions when a
-- key is called every 0.1 s (one call in ten finds its seconds ring moved), 75k every 3 s and 78k
-- every 10 s (the seconds ring moved on every call; 102k and 141k in layout v3, which deleted the
-- slots of the skipped periods), 98k every 60 s (seconds and minutes moved; 635k in v3, which deleted
-- the whole seconds ring on every call); a bare `return 1` with the same six arguments is 22k.
--
-- The layout is not an argument: the backend runs this file with a line of constants prepended, two
-- scripts per layout (fixedScriptFor in counter-backend.ts), so they are not converted on both ends of
-- every call: U (the number of tracked units), TTL (ms an event hash lives), RU (the unit whose
-- roll-over renews the expiry), SIGP (the signature and "|": m's prefix), OPAT (the pattern of the
-- ordinals after it, one capture per unit), CPAT (the pattern of c, one capture per unit), CFMT (its
-- format), RANGES (whether operations carry ranges) and UNIT(u), which answers unit u's slot prefix
-- "<code>:" and bucket count (a function with no upvalues: one small allocation per call, where a
-- table of them would be U + 1).
--
-- The ring moves between most calls of a real client (a limit checked every few seconds finds its
-- seconds ring moved), so that path is kept short too: the stored ordinals are matched once, a unit
-- whose ordinal text is unchanged is skipped without parsing, and a ring that moved, by one period or
-- by many, writes its old count to its slot ("<count>@<ordinal>", layout v4) and nothing else.
--
-- KEYS[i] the event hash <prefix>{<eventId>} of operation i (layout: counter-lib.lua)
-- ARGV, per operation:
--   its time block: m of a ring standing at now ("<signature>|<ordinal of now per unit, comma-
--     separated>"; the signature ends in "<code>:<buckets>,..." per unit) and now in epoch ms; or "="
--     alone: the previous operation's
--   the count to record when every test passes; "0" = check only (nothing is written)
--   per unit, the room of its current bucket (it passes iff bucket 0 <= room), or "" when no test
--     reads that unit
--   RANGES only: "" or its other tests as JSON: [the depth read per unit (buckets 0..d-1), then the
--     general script's tokens of each test ("m" event unit n room | "M" event limit add k {unit from
--     to weight} x k: counter-evaluate.lua)]
-- Reply: per operation, 1 = every test passed (and count was recorded); 0 = undecided, nothing written;
--   or a denial, nothing written: { "d", exists 0|1, first | "", last | "", {bucket 0 per unit} } and,
--   with ranges, {{buckets 0..d-1} per unit}. A
--   call of one operation (the lone caller's) answers with that reply itself, not a list of one.

local MAX_COUNT = 4294967295
-- Locals, not globals: each global read is a table lookup, and ARGV is read a dozen times per operation.
local A = ARGV
local call = redis.call
local fmt = string.format
local match = string.match
local find = string.find
local sub = string.sub

-- The operations run inline in one loop, not through a function: a closure over these locals would be
-- built on every call (an allocation per upvalue), about a twentieth of a lone call. Each operation's
-- code runs in `repeat ... until true`: `r = <reply> break` ends it (and, from an inner loop, `r`
-- set and `if r then break end` after it). For operation i: M/NOW its time block, ARGV[c] its count
-- and ARGV[c+1 .. c+U] its rooms.
local K = KEYS
local ops = #K
-- A lone operation (the commonest call) needs no reply table at all.
local replies = ops > 1 and {} or nil
local p = 1
local M, NOW
for i = 1, ops do
  if A[p] == "=" then
    p = p + 1
  else
    M = A[p]
    NOW = A[p + 1]
    p = p + 2
  end
  local c = p
  p = p + 1 + U
  -- Its ranges (RANGES scripts): "" or the JSON of its tests over more than the current period.
  local spec = ""
  if RANGES then
    spec = A[p]
    p = p + 1
  end
  local key = K[i]
  local r = nil
  repeat
    local v = call("HMGET", key, "m", "l", "p", "c")
    local m = v[1]
    if U == 3 and m and v[3] == "0" and v[4] and spec == "" then
      -- The commonest calls (the rate-limiting preset's three units): the ring stands at now, or only
      -- its first unit's moved on (a client's seconds), nothing is pending, now is after the last
      -- instant and every test passes. Their sums and their HSET, with no table built; anything else
      -- goes the general way below.
      local a, b, d = match(v[4], CPAT)
      local last = v[2]
      local fast = a and last and (#NOW > #last or (#NOW == #last and NOW > last))
      local moved, slot, old = false, nil, nil
      if fast and m ~= M then
        -- m and M agree but for the first ordinal (the same signature and the same text after the
        -- first comma), and it moved forward: its count restarts at 0, the old one goes to its slot.
        fast = false
        local at = #SIGP + 1
        local i, j = find(m, ",", at, true), find(M, ",", at, true)
        if i and j and sub(m, i) == sub(M, j) and find(m, SIGP, 1, true) == 1 then
          local text = sub(m, at, i - 1)
          local o0, n = tonumber(text), tonumber(sub(M, at, j - 1))
          if o0 and n and o0 < n then
            fast, moved = true, true
            local prefix, buckets = UNIT(1)
            if a ~= "0" and n - o0 < buckets then slot, old = prefix .. (o0 % buckets), a .. "@" .. text end
            a = "0"
          end
        end
      end
      local ra, rb, rd = A[c + 1], A[c + 2], A[c + 3]
      if
        fast
        and (ra == "" or #a < #ra or (#a == #ra and a <= ra))
        and (rb == "" or #b < #rb or (#b == #rb and b <= rb))
        and (rd == "" or #d < #rd or (#d == #rd and d <= rd))
      then
        local countstr = A[c]
        if countstr == "0" then
          r = 1
          break
        end
        local count = countstr + 0
        a, b, d = a + count, b + count, d + count
        if a > MAX_COUNT then a = MAX_COUNT end
        if b > MAX_COUNT then b = MAX_COUNT end
        if d > MAX_COUNT then d = MAX_COUNT end
        local counts = fmt("%d,%d,%d", a, b, d)
        if not moved then
          call("HSET", key, "l", NOW, "c", counts)
        else
          if slot ~= nil then
            call("HSET", key, slot, old, "m", M, "c", counts, "l", NOW)
          else
            call("HSET", key, "m", M, "c", counts, "l", NOW)
          end
          if RU == 1 then call("PEXPIRE", key, TTL) end
        end
        r = 1
        break
      end
    end
    if v[3] and v[3] ~= "0" then
      r = 0
      break
    end
    -- x[u]: the text of unit u's bucket 0, nil for 0.
    local x
    if v[4] then
      x = { match(v[4], CPAT) }
      if x[U] == nil then
        r = 0
        break
      end
    else
      x = {}
    end
    -- When the ring moved on: the slots it writes (each moved unit's old count, when not 0 and its
    -- period still in the ring, to its period's slot: the first in slot/old, the next ones, if any, in
    -- set), and whether the expiry is renewed.
    local moved = false
    local slot, old = nil, nil
    local set = nil
    local renew = not m
    -- For ranges: now's ordinal texts per unit, and per moved unit the periods it moved by (shift) and
    -- the count its bucket 0 held (prev, now bucket shift's).
    local ords, shift, prev = nil, nil, nil
    if m and m ~= M then
      -- The ring moved (or the layout differs): per unit, the stored period of bucket 0 against now's.
      if string.find(m, SIGP, 1, true) ~= 1 then
        r = 0
        break
      end
      local o = { match(m, OPAT, #SIGP + 1) }
      ords = { match(M, OPAT, #SIGP + 1) }
      if spec ~= "" then shift, prev = {}, {} end
      if o[U] == nil then
        r = 0
        break
      end
      moved = true
      for u = 1, U do
        local text = o[u]
        if text ~= ords[u] then
          local o0, n = tonumber(text), tonumber(ords[u])
          if o0 > n then
            r = 0
            break
          end
          if u == RU then renew = true end
          local prefix, buckets = UNIT(u)
          local xu = x[u]
          if shift then shift[u], prev[u] = n - o0, xu end
          if xu and xu ~= "0" and n - o0 < buckets then
            if slot == nil then
              slot, old = prefix .. (o0 % buckets), xu .. "@" .. text
            else
              set = set or {}
              set[#set + 1] = prefix .. (o0 % buckets)
              set[#set + 1] = xu .. "@" .. text
            end
          end
          x[u] = nil
        end
      end
      if r then break end
    end
    local denied = false
    for u = 1, U do
      local room = A[c + u]
      local xu = x[u]
      if xu and room ~= "" and (#xu > #room or (#xu == #room and xu > room)) then
        -- With ranges, the denial is answered below, with their buckets.
        if spec ~= "" then
          denied = true
          break
        end
        -- A denial: the state it was judged on, from which the backend words it (as the general
        -- script's state would: bucket 0 per unit, nothing pending).
        local first = ""
        if m then first = call("HGET", key, "f") or "" end
        local buckets = {}
        for w = 1, U do buckets[w] = x[w] or "0" end
        r = { "d", m and 1 or 0, first, v[2] or "", buckets }
        break
      end
    end
    if r then break end
    if spec ~= "" then
      -- The ranges: [depth per unit (buckets 0..d-1 read), then the tests as the general script's
      -- tokens: "m" event unit n room | "M" event limit add k {unit from to weight} x k (units 0-based)],
      -- each evaluated as counter-evaluate.lua does (the same sums in the same order, so a sliding
      -- estimate on the limit is decided alike).
      local t = cjson.decode(spec)
      ords = ords or { match(M, OPAT, #SIGP + 1) }
      -- got[u][i]: the slot of bucket i (the period i before now's) of unit u, fetched in one HMGET.
      local got, fields, fu, fi = {}, {}, {}, {}
      if m then
        for u = 1, U do
          local prefix, buckets = UNIT(u)
          local d = t[u]
          if d > buckets then d = buckets end
          local s = shift and shift[u] or 0
          local n = tonumber(ords[u])
          got[u] = {}
          -- Buckets up to the shift are the periods since the ring last stood: 0, or prev's.
          for i = s + 1, d - 1 do
            local f = #fields + 1
            fields[f], fu[f], fi[f] = prefix .. ((n - i) % buckets), u, i
          end
        end
        if #fields > 0 then
          local vals = call("HMGET", key, unpack(fields))
          for f = 1, #fields do
            got[fu[f]][fi[f]] = vals[f]
          end
        end
      end
      -- Each bucket looks up its unit's shift, size and ordinal again: tables of them made once per
      -- operation measured dearer (275k against 266k instructions for a [10, "minutes"] window).
      local function bucket(u, i)
        local s = shift and shift[u] or 0
        if i < s then return 0 end
        if i > 0 then
          local _, buckets = UNIT(u)
          if i >= buckets then return 0 end
        end
        if i == s then
          -- The period the ring last stood at: bucket 0's count, or the one it held before it moved.
          local b
          if s == 0 then b = x[u] else b = prev[u] end
          return b and b + 0 or 0
        end
        local value = got[u] and got[u][i]
        if not value then return 0 end
        -- "<count>@<ordinal>": the count, when the slot names the period i before now's.
        local n, o = match(value, "^(%d+)@(%-?%d+)$")
        if n and tonumber(o) == tonumber(ords[u]) - i then return n + 0 end
        return 0
      end
      local j = U + 1
      local ok = not denied
      while ok and j <= #t do
        if t[j] == "m" then
          local u, d = t[j + 2] + 1, t[j + 3]
          local w
          if d == 1 then
            w = bucket(u, 0)
          else
            w = 0
            for i = 0, d - 1 do w = w + bucket(u, i) end
          end
          ok = w <= t[j + 4]
          j = j + 5
        else
          local limit, w, k = t[j + 2], t[j + 3], t[j + 4]
          j = j + 5
          for _ = 1, k do
            local total = 0
            for i = t[j + 1], t[j + 2] do total = total + bucket(t[j] + 1, i) end
            w = w + t[j + 3] * total
            j = j + 4
          end
          ok = w <= limit + 1e-6
        end
      end
      if not ok then
        -- A denial: the state it was judged on, buckets 0..d-1 of each unit (d its depth read), from
        -- which the backend words it as it would the general script's.
        local first = ""
        if m then first = call("HGET", key, "f") or "" end
        local buckets, deep = {}, {}
        for u = 1, U do
          buckets[u] = x[u] or "0"
          local _, size = UNIT(u)
          local d = t[u]
          if d > size then d = size end
          local row = {}
          for i = 0, d - 1 do row[i + 1] = bucket(u, i) end
          deep[u] = row
        end
        r = { "d", m and 1 or 0, first, v[2] or "", buckets, deep }
        break
      end
    end
    local countstr = A[c]
    if countstr == "0" then
      r = 1
      break
    end
    local last = v[2]
    local later = last and (#NOW == #last and NOW > last or #NOW ~= #last and tonumber(NOW) > tonumber(last))
    if m and last and not later and NOW ~= last then
      -- Before the last instant: whether it is the first needs a read of f (the general script's).
      r = 0
      break
    end
    -- Arithmetic coerces the decimal strings (the same strtod as tonumber, without a function call).
    local count = countstr + 0
    for u = 1, U do
      local value = count
      local xu = x[u]
      if xu then value = value + xu end
      if value > MAX_COUNT then value = MAX_COUNT end
      x[u] = value
    end
    local counts = fmt(CFMT, unpack(x, 1, U))
    if not m then
      -- A new event: the fields every call reads lead the hash (see counter-lib.lua).
      call("HSET", key, "m", M, "l", NOW, "p", "0", "c", counts, "f", NOW)
    elseif not moved then
      -- The commonest write: the ring stands at now.
      if later then
        call("HSET", key, "l", NOW, "c", counts)
      elseif last then
        call("HSET", key, "c", counts)
      else
        call("HSET", key, "c", counts, "f", NOW, "l", NOW)
      end
    elseif set == nil and later then
      -- The commonest moved ring: one unit's (a client's seconds), its old count, if any, to its slot.
      if slot ~= nil then
        call("HSET", key, slot, old, "m", M, "c", counts, "l", NOW)
      else
        call("HSET", key, "m", M, "c", counts, "l", NOW)
      end
    else
      set = set or {}
      if slot ~= nil then
        set[#set + 1] = slot
        set[#set + 1] = old
      end
      local n = #set
      set[n + 1] = "m"
      set[n + 2] = M
      set[n + 3] = "c"
      set[n + 4] = counts
      n = n + 4
      if later then
        set[n + 1] = "l"
        set[n + 2] = NOW
      elseif not last then
        set[n + 1] = "f"
        set[n + 2] = NOW
        set[n + 3] = "l"
        set[n + 4] = NOW
      end
      call("HSET", key, unpack(set))
    end
    if renew then call("PEXPIRE", key, TTL) end
    r = 1
  until true
  if ops == 1 then return r end
  replies[i] = r
end
return replies
