-- counter-batch.lua: the main chunk of the joined counter script (counter-lib.lua, counter-record.lua,
-- counter-evaluate.lua, counter-settle.lua, then this file). One call carries one or more operations
-- (the backend batches the operations started in the same tick); they run in order, each judged on
-- the state the previous ones left, so the call as a whole is atomic and each operation is exactly
-- what it would be alone.
--
-- KEYS: the keys of every operation, in order (each operation says how many it uses).
-- ARGV: the head (counter-lib.lua), then entries, each: kind, number of ARGV after these three, number
--   of KEYS, then its arguments:
--   "P" a plan for later "E" entries (counter-evaluate.lua), one argument; no reply
--   "R" record (counter-record.lua), "E" evaluate (counter-evaluate.lua), "S" settle (counter-settle.lua)
-- Reply: one element per R/E/S operation, in order: its reply, or a "TALLY_..." string for a refusal
-- that concerns that operation only (layout mismatch, future instant). A Lua or Redis error fails the
-- whole call (operations before it may have been applied, as with any lost reply).

local replies = {}
local plans = {}
local n_args = #ARGV
local p = HEAD
local k = 1
local i = 0
while p <= n_args do
  local kind = ARGV[p]
  local argc = tonumber(ARGV[p + 1])
  if kind == "P" then
    plans[#plans + 1] = read_plan(ARGV[p + 3])
  else
    local reply
    if kind == "E" then
      reply = op_evaluate(p + 3, k, plans)
    elseif kind == "R" then
      reply = op_record(p + 3, k)
    elseif kind == "S" then
      reply = op_settle(p + 3, k)
    else
      return redis.error_reply("TALLY_ARGS unknown operation " .. tostring(kind))
    end
    i = i + 1
    replies[i] = reply
    k = k + tonumber(ARGV[p + 2])
  end
  p = p + 3 + argc
end
return replies
