-- counter-record.lua: record a count into one event (record, recordCount, recordAt, recordAgo).
-- Runs after counter-lib.lua (see there for the common ARGV head and the hash layout).
--
-- KEYS[1]  event hash  <prefix>{<eventId>}
-- KEYS[2]  its pending set (unused here; passed so every script names its keys the same way)
-- ARGV[1..4+3U]  common head
-- ARGV[h]    count (integer 0 .. 2^32-1)
-- ARGV[h+1]  instant to record at in epoch ms, or "" for now
-- ARGV[h+2]  age in ms (server clock: at = server now - age), or ""
-- ARGV[h+3 .. h+2+U]  ordinal of the instant per unit, or "" (uniform from the instant)
-- Returns 1 when something was recorded, 0 when every unit dropped the instant;
-- error "TALLY_FUTURE <now>" when the instant is after now, "TALLY_CONFIG ..." on a layout mismatch.

local h = read_head()
local p = h.next
local count = tonumber(ARGV[p])
local t = h.now
local at_ords = nil
if ARGV[p + 1] ~= "" or ARGV[p + 2] ~= "" then
  if ARGV[p + 1] ~= "" then t = tonumber(ARGV[p + 1]) else t = h.now - tonumber(ARGV[p + 2]) end
  if t > h.now then return redis.error_reply("TALLY_FUTURE " .. num(h.now)) end
  at_ords = {}
  for u = 1, #h.units do
    local o = ARGV[p + 2 + u]
    if o == nil or o == "" then at_ords[u] = uniform_ordinal(h.units[u].code, t) else at_ords[u] = tonumber(o) end
  end
end
local want = {}
for u = 1, #h.units do want[u] = 1 end
local e, err = load_event(h, KEYS[1], KEYS[2], at_ords == nil and want or nil)
if e == nil then return redis.error_reply(err) end
if record(h, e, count, t, at_ords) then return 1 end
return 0
