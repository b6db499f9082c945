-- Shared by the debounce, batch, priority-queue and concurrency scripts; runs after the
-- exact-integer prelude (flowcontrol.redis._bigint). Instants are 21-character decimal
-- strings, n + 10^20 zero-padded (flowcontrol.redis._timers.enc), so string order is
-- numeric order and no instant ever becomes a Lua number.

-- e (an instant) plus d (signed decimal text, a duration), as an instant.
local function ns_add(e, d)
  local s = fc_str(fc_add(fc_parse(e), fc_parse(d)))
  return string.rep('0', 21 - #s) .. s
end

local FC_EPOCH = fc_parse('100000000000000000000')

-- The machine's high-water mark: the later of the stored mark and this call's reading
-- ("" reads the server's TIME). A reading below the mark is no time passing.
local function tick(now_key, reading)
  if reading == '' then
    local s = fc_str(fc_add(fc_time_ns(), FC_EPOCH))
    reading = string.rep('0', 21 - #s) .. s
  end
  local mark = redis.call('GET', now_key)
  if mark and mark >= reading then return mark end
  redis.call('SET', now_key, reading)
  return reading
end

-- Above every index member that starts with an instant at most t and goes on with a
-- digit or ':' (the characters below ';'), below every member of a later instant.
local function upto(t) return '(' .. t .. ';' end
