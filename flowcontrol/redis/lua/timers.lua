-- Shared by the debounce, batch and priority-queue scripts, which need nothing of the
-- general exact-integer prelude (flowcontrol.redis._bigint; defining it costs each call
-- about 4 us of server time). Instants are 21-character decimal strings, n + 10^20
-- zero-padded (flowcontrol.redis._timers.enc), so string order is numeric order and no
-- instant ever becomes a Lua number.

-- e (an instant) plus d (signed decimal text, any int64 duration), as an instant, for
-- sums of int64 values. Two base-10^9 limbs on the fixed width: about 3 us a call where
-- fc_add's general limbs take 11 us (measured in one script, 10,000 calls each); a push
-- or an add makes up to three of these.
local function ns_add(e, d)
  local neg = string.byte(d, 1) == 45
  if neg then d = string.sub(d, 2) end
  local n = #d
  local dhi, dlo = 0, tonumber(d)
  if n > 9 then
    dhi = tonumber(string.sub(d, 1, n - 9))
    dlo = tonumber(string.sub(d, n - 8))
  end
  local hi = tonumber(string.sub(e, 1, 12))
  local lo = tonumber(string.sub(e, 13))
  if neg then
    hi, lo = hi - dhi, lo - dlo
    if lo < 0 then hi, lo = hi - 1, lo + 1000000000 end
  else
    hi, lo = hi + dhi, lo + dlo
    if lo >= 1000000000 then hi, lo = hi + 1, lo - 1000000000 end
  end
  return string.format('%012d%09d', hi, lo)
end

-- The machine's high-water mark: the later of the stored mark and this call's reading
-- ("" reads the server's TIME). A reading below the mark is no time passing.
local function tick(now_key, reading)
  if reading == '' then  -- TIME: seconds and microseconds, as an instant (ns + 10^20)
    local t = redis.call('TIME')
    reading = '1' .. string.format('%011d', tonumber(t[1]))
      .. string.format('%06d', tonumber(t[2])) .. '000'
  end
  local mark = redis.call('GET', now_key)
  if mark and mark >= reading then return mark end
  redis.call('SET', now_key, reading)
  return reading
end

-- Above every index member that starts with an instant at most t and goes on with a
-- digit or ':' (the characters below ';'), below every member of a later instant.
local function upto(t) return '(' .. t .. ';' end
