-- Shared by the debounce, batch and priority-queue scripts (flowcontrol.redis timers).
-- Instants are 21-character decimal strings: "1" .. 20 digits for n >= 0 and
-- "0" .. (10^20 + n) for n < 0, so string order is numeric order and no instant ever
-- becomes a Lua number. ns_add adds a signed decimal string with two base-10^9 limbs.
local function ns_add(e, d)
  local neg = string.sub(d, 1, 1) == '-'
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
-- (ARGV[2]; "" reads the server's TIME). A reading below the mark is no time passing.
local function tick(now_key, reading)
  if reading == '' then
    local t = redis.call('TIME')
    reading = '1' .. string.format('%011d', tonumber(t[1])) .. string.format('%09d', tonumber(t[2]) * 1000)
  end
  local mark = redis.call('GET', now_key)
  if mark and mark >= reading then return mark end
  redis.call('SET', now_key, reading)
  return reading
end

-- Above every index member that starts with an instant at most t and goes on with a
-- digit or ':' (the characters below ';'), below every member of a later instant.
local function upto(t) return '(' .. t .. ';' end
