-- counter-record.lua: the "R" operation, record a count into one event (record, recordCount,
-- recordAt, recordAgo). Part of the joined counter script (see counter-lib.lua for the head and the
-- hash layout, counter-batch.lua for how operations follow each other).
--
-- KEYS (from k): the event hash <prefix>{<eventId>}, its pending set (unused here; passed so every
--   operation names its keys the same way)
-- ARGV (from p): time block, then
--   count (integer 0 .. 2^32-1)
--   instant: "" (now) | "a" (at) | "g" (ago)
--   for "a": the instant in epoch ms, then U ordinals of it ("" each: uniform from the instant)
--   for "g": the age in ms (server clock: at = server now - age)
-- Reply: 1 when something was recorded, 0 when every unit dropped the instant;
--   "TALLY_FUTURE <now>" when the instant is after now, "TALLY_CONFIG ..." on a layout mismatch.

local function op_record(p, k)
  local T
  T, p = read_time(p)
  local countstr = ARGV[p]
  local count = tonumber(countstr)
  local mode = ARGV[p + 1]
  local t = T.now
  local tstr = T.nowstr
  local at_ords = nil
  if mode == "a" or mode == "g" then
    if mode == "a" then
      tstr = ARGV[p + 2]
      t = tonumber(tstr)
    else
      t = T.now - tonumber(ARGV[p + 2])
      tstr = num(t)
    end
    if t > T.now then return "TALLY_FUTURE " .. T.nowstr end
    slow(T)
    at_ords = {}
    for u = 1, U do
      local o = ""
      if mode == "a" then o = ARGV[p + 2 + u] end
      if o == nil or o == "" then at_ords[u] = uniform_ordinal(CODE[u], t) else at_ords[u] = tonumber(o) end
    end
  end
  local e, err = load_event(T, KEYS[k], KEYS[k + 1], nil, 0, nil)
  if e == nil then return err end
  if record(T, e, count, t, tstr, at_ords) then return 1 end
  return 0
end
