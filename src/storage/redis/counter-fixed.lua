-- counter-fixed.lua: the short script of the commonest limit calls, sent on its own (not joined with
-- the general counter script): check or checkAndRecord of fixed windows that each cover only the
-- current period, on one event, with the client's clock. One call carries one operation (a lone
-- caller) or several started in the same tick (the backend batches them); they run in order, each
-- judged on the state the previous ones left. Everything arrives ready-made, so an operation is one
-- HMGET, a few comparisons and one HSET of the last instant and the new counts (plus, when a ring moved
-- on, its old count written to its slot, an HDEL when periods were skipped, and a PEXPIRE when a period
-- of the renewing unit rolled over). Whatever it cannot decide on its own it leaves untouched and
-- answers 0 for, and the backend sends that operation again through the general script
-- (counter-lib.lua .. counter-batch.lua), which decides it from scratch: a 0 writes nothing, so each
-- operation stays exactly one atomic step.
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
-- counts of the current periods live in one field at the head of the hash (c, layout v3: see
-- counter-lib.lua), so the commonest call reads the four head fields (m, l, p, c) and writes two (l, c),
-- the new counts summed in Lua and formatted by one "%d,..." (each redis.call is ~8k instructions of
-- argument and reply conversion, and every argument and field crossing the bridge counts; a field of
-- a small hash is found by a scan of its listpack from the head, so fields near the head are cheap).
-- Allocations count too (a table grown entry by entry, a closure with upvalues, and the collector's
-- share of them): the commonest call (three units, the ring at now) and the commonest moved ring (one
-- unit moved on) build no table, and a lone call's reply is not wrapped in a list. Measured with
-- callgrind on the server, per lone checkAndRecord of the rate-limiting preset with its seconds ring
-- full: 57.5k instructions with the ring at now, 88k with it moved (60.5k when one call in ten finds it
-- moved; 82k in layout v2); a bare `return 1` with the same six arguments is 22k.
--
-- The layout is not an argument: the backend runs this file with a line of constants prepended, one
-- script per layout (fixedScriptFor in counter-backend.ts), so they are not converted on both ends of
-- every call: U (the number of tracked units), TTL (ms an event hash lives), RU (the unit whose
-- roll-over renews the expiry), SIGP (the signature and "|": m's prefix), OPAT (the pattern of the
-- ordinals after it, one capture per unit), CPAT (the pattern of c, one capture per unit), CFMT (its
-- format), and UNIT(u), which answers unit u's slot prefix "<code>:" and bucket count (a function with
-- no upvalues: one small allocation per call, where a table of them would be U + 1).
--
-- The ring moves between most calls of a real client (a limit checked every few seconds finds its
-- seconds ring moved), so that path is kept short too: the stored ordinals are matched once, a unit
-- whose ordinal text is unchanged is skipped without parsing, and a ring that moved by one period
-- writes its old count to its slot and deletes nothing.
--
-- KEYS[i] the event hash <prefix>{<eventId>} of operation i (layout: counter-lib.lua)
-- ARGV, per operation:
--   its time block: m of a ring standing at now ("<signature>|<ordinal of now per unit, comma-
--     separated>"; the signature ends in "<code>:<buckets>,..." per unit) and now in epoch ms; or "="
--     alone: the previous operation's
--   the count to record when every test passes; "0" = check only (nothing is written)
--   per unit, the room of its current bucket (it passes iff bucket 0 <= room), or "" when no test
--     reads that unit
-- Reply: per operation, 1 = every test passed (and count was recorded); 0 = undecided, nothing written;
--   or a denial, nothing written: { "d", exists 0|1, first | "", last | "", {bucket 0 per unit} }. A
--   call of one operation (the lone caller's) answers with that reply itself, not a list of one.

local MAX_COUNT = 4294967295
-- Locals, not globals: each global read is a table lookup, and ARGV is read a dozen times per operation.
local A = ARGV
local call = redis.call
local fmt = string.format
local match = string.match

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
  local key = K[i]
  local r = nil
  repeat
    local v = call("HMGET", key, "m", "l", "p", "c")
    local m = v[1]
    if U == 3 and m == M and v[3] == "0" and v[4] then
      -- The commonest call (the rate-limiting preset's three units): the ring stands at now, nothing
      -- is pending, now is after the last instant and every test passes. Its sums and its HSET, with
      -- no table built; anything else goes the general way below.
      local a, b, d = match(v[4], CPAT)
      local last = v[2]
      local ra, rb, rd = A[c + 1], A[c + 2], A[c + 3]
      if
        a
        and last
        and (#NOW > #last or (#NOW == #last and NOW > last))
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
        call("HSET", key, "l", NOW, "c", fmt("%d,%d,%d", a, b, d))
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
    -- When the ring moved on: the slots it writes (each moved unit's old count to its period's slot:
    -- the first in slot/old, the next ones, if any, in set), the slots it deletes (the periods
    -- skipped), and whether the expiry is renewed.
    local moved = false
    local slot, old = nil, nil
    local set = nil
    local del = nil
    local renew = not m
    if m and m ~= M then
      -- The ring moved (or the layout differs): per unit, the stored period of bucket 0 against now's.
      if string.find(m, SIGP, 1, true) ~= 1 then
        r = 0
        break
      end
      local o = { match(m, OPAT, #SIGP + 1) }
      local ords = { match(M, OPAT, #SIGP + 1) }
      if o[U] == nil then
        r = 0
        break
      end
      moved = true
      for u = 1, U do
        local o0, n = o[u], ords[u]
        if o0 ~= n then
          o0, n = tonumber(o0), tonumber(n)
          if o0 > n then
            r = 0
            break
          end
          if u == RU then renew = true end
          local prefix, buckets = UNIT(u)
          if n - o0 >= buckets then
            del = del or {}
            for s = 0, buckets - 1 do del[#del + 1] = prefix .. s end
          else
            if slot == nil then
              slot, old = prefix .. (o0 % buckets), x[u] or "0"
            else
              set = set or {}
              set[#set + 1] = prefix .. (o0 % buckets)
              set[#set + 1] = x[u] or "0"
            end
            for j = 1, n - o0 - 1 do
              del = del or {}
              del[#del + 1] = prefix .. ((o0 + j) % buckets)
            end
          end
          x[u] = nil
        end
      end
      if r then break end
    end
    for u = 1, U do
      local room = A[c + u]
      local xu = x[u]
      if xu and room ~= "" and (#xu > #room or (#xu == #room and xu > room)) then
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
    elseif slot ~= nil and set == nil and later then
      -- The commonest moved ring: one unit's (a client's seconds), its old count to its slot.
      if del ~= nil then call("HDEL", key, unpack(del)) end
      call("HSET", key, slot, old, "m", M, "c", counts, "l", NOW)
    else
      if del ~= nil then call("HDEL", key, unpack(del)) end
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
