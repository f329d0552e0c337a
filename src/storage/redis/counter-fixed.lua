-- counter-fixed.lua: the short script of the commonest limit calls, sent on its own (not joined with
-- the general counter script): check or checkAndRecord of fixed windows that each cover only the
-- current period, on one event, with the client's clock. One call carries one operation (a lone
-- caller) or several started in the same tick (the backend batches them); they run in order, each
-- judged on the state the previous ones left. Everything arrives ready-made, so an operation is one
-- HMGET, a few comparisons and one HSET of the last instant and every unit's new count (plus an HDEL
-- when periods were skipped, and a PEXPIRE when a period of the renewing unit rolled over). Whatever
-- it cannot decide on its own it leaves untouched and answers 0 for, and the backend sends that operation again through the general script
-- (counter-lib.lua .. counter-batch.lua), which decides it from scratch: a 0 writes nothing, so each
-- operation stays exactly one atomic step.
--
-- An operation is left undecided (0) when: the stored layout differs, the clock is behind the ring (a
-- unit's stored period is after now), reservations may be pending (p), or now is before the event's
-- last instant (first needs a read). A denial is decided here, with the state it was judged on. Its
-- writes are exactly those of record() in counter-lib.lua when no unit's ring is ahead of now: the
-- skipped periods of a ring that moved are deleted (but for the slot of now, which the HSET writes), m
-- is rewritten, and the expiry renewed when the event is new or the renewing unit's ring moved.
--
-- Cost discipline: a call is mostly Lua work, and converting between strings and numbers (strtod,
-- sprintf) is its largest part, so nothing is parsed that can be compared as text: epoch-ms instants
-- of equal length compare as strings, a count against its room by length and then as a string (both
-- are non-negative integers without leading zeros: the backend never sends a negative room here). The
-- new counts are summed in Lua and written by the one HSET: three HINCRBYs cost more (each redis.call
-- is ~8k instructions of argument and reply conversion) than three strtod and three formattings, and
-- they are formatted here with "%d" (a number argument would be formatted by Redis with "%.17g", which
-- costs twice as much). A new event's hash starts with the fields every call reads (m, l, p): a field
-- of a small hash is found by a scan of its listpack from the head, and a ring's slots come later (a
-- missing field costs a whole scan, so p is written as 0 rather than left absent). Allocations
-- count too (a table grown entry by entry, a closure with upvalues, and the collector's share of
-- them): the commonest write builds none, and a lone call's reply is not wrapped in a list (measured
-- with callgrind on the server, per lone checkAndRecord of the rate-limiting preset with its seconds
-- ring full, one call in ten finding it moved: 82k instructions, 88k before the field order and "%d";
-- a bare `return 1` with the same arguments is 25k).
--
-- The layout is not an argument: the backend runs this file with a line of constants prepended, one
-- script per layout (fixedScriptFor in counter-backend.ts), so they are not converted on both ends of
-- every call: U (the number of tracked units), TTL (ms an event hash lives), RU (the unit whose
-- roll-over renews the expiry), SIGP (the signature and "|": m's prefix), OPAT (the pattern of the
-- ordinals after it, one capture per unit) and UNITS ("<code>:<buckets>,..." per unit).
--
-- The ring moves between most calls of a real client (a limit checked every few seconds finds its
-- seconds ring moved), so that path is kept short too: the stored ordinals are matched once, a unit
-- whose ordinal text is unchanged is skipped without parsing, and a ring that moved by one period
-- deletes nothing (the only skipped slot is the slot of now, which the HSET overwrites).
--
-- KEYS[i] the event hash <prefix>{<eventId>} of operation i (layout: counter-lib.lua)
-- ARGV, per operation:
--   its time block: m of a ring standing at now ("<signature>|<ordinal of now per unit, comma-
--     separated>"; the signature ends in "<code>:<buckets>,..." per unit), now in epoch ms, and the
--     field of each unit's ring slot at now ("<code>:<slot>"); or "=" alone: the previous operation's
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

-- The operations run inline in one loop, not through a function: a closure over these locals would be
-- built on every call (an allocation per upvalue), about a twentieth of a lone call. Each operation's
-- code runs in `repeat ... until true`: `r = <reply> break` ends it (and, from an inner loop, `r`
-- set and `if r then break end` after it). For operation i: M/NOW its time block, ARGV[f .. f+U-1]
-- its slot fields, ARGV[c] its count and ARGV[c+1 .. c+U] its rooms.
local K = KEYS
local ops = #K
-- A lone operation (the commonest call) needs no reply table at all.
local replies = ops > 1 and {} or nil
local p = 1
local M, NOW, f
for i = 1, ops do
  if A[p] == "=" then
    p = p + 1
  else
    M = A[p]
    NOW = A[p + 1]
    f = p + 2
    p = p + 2 + U
  end
  local c = p
  p = p + 1 + U
  local key = K[i]
  local r = nil
  repeat
    local v
    if U == 3 then
      v = call("HMGET", key, "m", "l", "p", A[f], A[f + 1], A[f + 2])
    else
      v = call("HMGET", key, "m", "l", "p", unpack(A, f, f + U - 1))
    end
    local m = v[1]
    local del = nil
    -- m is rewritten when it changes; the expiry is renewed for a new event or a moved RU ring.
    local renew = not m
    if m and m ~= M then
      -- The ring moved (or the layout differs): per unit, the stored period of bucket 0 against now's.
      if string.sub(m, 1, #SIGP) ~= SIGP then
        r = 0
        break
      end
      local o = { string.match(m, OPAT, #SIGP + 1) }
      local ords = { string.match(M, OPAT, #SIGP + 1) }
      if o[U] == nil then
        r = 0
        break
      end
      for u = 1, U do
        local o0, n = o[u], ords[u]
        if o0 ~= n then
          o0, n = tonumber(o0), tonumber(n)
          if o0 > n then
            r = 0
            break
          end
        end
        if o0 ~= n then
          -- The slot of now held an older period: it reads 0, and the periods skipped before it are
          -- zeroed (all but the slot of now when the whole ring was skipped).
          v[3 + u] = false
          if u == RU then renew = true end
          if n - o0 > 1 then
            del = del or {}
            local code, buckets
            local k = 0
            for c, b in string.gmatch(UNITS, "(%d+):(%d+)") do
              k = k + 1
              if k == u then code, buckets = c, tonumber(b) end
            end
            local keep = n % buckets
            if n - o0 >= buckets then
              for s = 0, buckets - 1 do
                if s ~= keep then del[#del + 1] = code .. ":" .. s end
              end
            else
              for j = 1, n - o0 - 1 do del[#del + 1] = code .. ":" .. ((o0 + j) % buckets) end
            end
          end
        end
      end
      if r then break end
    end
    if v[3] and v[3] ~= "0" then
      r = 0
      break
    end
    for u = 1, U do
      local room = A[c + u]
      local x = v[3 + u]
      if x and room ~= "" and (#x > #room or (#x == #room and x > room)) then
        -- A denial: the state it was judged on, from which the backend words it (as the general
        -- script's state would: bucket 0 per unit, nothing pending).
        local first = ""
        if m then first = call("HGET", key, "f") or "" end
        local buckets = {}
        for w = 1, U do buckets[w] = v[3 + w] or "0" end
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
    local rewrite = m ~= M
    local later = last and (#NOW == #last and NOW > last or #NOW ~= #last and tonumber(NOW) > tonumber(last))
    if later and del == nil and U == 3 then
      -- The commonest writes (the rate-limiting preset's three units, now after the last instant,
      -- nothing to delete) as one HSET with its arguments in place: building a table and unpacking
      -- it costs about a tenth of the whole call.
      local count = countstr + 0
      local a, b, d = v[4], v[5], v[6]
      if a then a = a + count else a = count end
      if a > MAX_COUNT then a = MAX_COUNT end
      if b then b = b + count else b = count end
      if b > MAX_COUNT then b = MAX_COUNT end
      if d then d = d + count else d = count end
      if d > MAX_COUNT then d = MAX_COUNT end
      a, b, d = fmt("%d", a), fmt("%d", b), fmt("%d", d)
      if rewrite then
        call("HSET", key, "l", NOW, "m", M, A[f], a, A[f + 1], b, A[f + 2], d)
        if renew then call("PEXPIRE", key, TTL) end
      else
        call("HSET", key, "l", NOW, A[f], a, A[f + 1], b, A[f + 2], d)
      end
      r = 1
      break
    end
    local set
    if not m then
      -- A new event: the fields every call reads first, so that HMGET finds them at the head of the
      -- hash's listpack (a field is looked up by a scan from the head; an absent one scans it all).
      set = { "m", M, "l", NOW, "p", "0", "f", NOW }
      rewrite = false
    elseif not last then
      set = { "f", NOW, "l", NOW }
    elseif later then
      set = { "l", NOW }
    elseif NOW ~= last then
      r = 0
      break
    else
      set = {}
    end
    if rewrite then
      set[#set + 1] = "m"
      set[#set + 1] = M
    end
    -- One HSET writes the counts too: each redis.call costs more than the sums and their formatting
    -- (an edit of the bucket's text in Lua was measured as costly as strtod and "%.17g").
    -- Arithmetic coerces the decimal strings (the same strtod as tonumber, without a function call).
    local count = countstr + 0
    local n = #set
    for u = 1, U do
      local x = v[3 + u]
      local value = count
      if x then value = value + x end
      if value > MAX_COUNT then value = MAX_COUNT end
      set[n + 1] = A[f + u - 1]
      set[n + 2] = fmt("%d", value)
      n = n + 2
    end
    if del ~= nil and #del > 0 then call("HDEL", key, unpack(del)) end
    call("HSET", key, unpack(set))
    if renew then call("PEXPIRE", key, TTL) end
    r = 1
  until true
  if ops == 1 then return r end
  replies[i] = r
end
return replies
