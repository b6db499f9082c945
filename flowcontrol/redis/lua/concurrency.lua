-- RedisConcurrency: one account's counters and leases, one script per decision.
-- Self-contained (no prelude) and sparing with arguments and redis.call: it runs on
-- every acquire and release, where each costs a measurable share of a round trip.
-- KEYS: 1 counts (hash counter id -> leases), 2 leases (hash lease -> [expiry] .. shape),
-- 3 seq (the last int lease id); with a ttl also 4 now (the clock's high-water mark),
-- 5 due (lex zset expiry .. lease), 6 expired (list of leases expired, not yet polled).
-- ARGV[1]: the op's letter, then lease_ttl in ns (none: leases never expire). With a ttl
-- the last ARGV is the clock reading ("" = the server's TIME). Instants are 21-digit text,
-- n + 10^20 (flowcontrol.redis._timers.enc): string order is numeric order, and they never
-- become Lua numbers.
-- A lease is named "0" .. 20-digit int id or "1" .. the host's string id, so the due index
-- orders equal expiries as the in-memory machine does (ints first, then strings).
-- A shape lists an acquire's counters: 6-digit byte length, then the id, repeated; their
-- limits travel beside it as 15 digits each (0 = no limit). No Lua number reaches
-- redis.call.
local COUNTS, LEASES, SEQ, NOW, DUE, EXPIRED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local op, ttl = string.sub(ARGV[1], 1, 1), string.sub(ARGV[1], 2)

-- The counter ids of the shape in v from position i.
local function shape_of(v, i)
  local ids, n = {}, #v
  while i <= n do
    local len = tonumber(string.sub(v, i, i + 5))
    ids[#ids + 1] = string.sub(v, i + 6, i + 5 + len)
    i = i + 6 + len
  end
  return ids
end

local function give_back(v, from)
  local ids = shape_of(v, from)
  for i = 1, #ids do
    if redis.call('HINCRBY', COUNTS, ids[i], -1) <= 0 then redis.call('HDEL', COUNTS, ids[i]) end
  end
end

-- With a ttl, every call first moves the clock to max(reading, stored mark) and
-- expires the leases that are due, in (expiry, lease) order, onto the expired list.
local now, from, expired = '', 1, 0
if ttl ~= '' and op ~= 's' and op ~= 'w' then
  now, from = ARGV[#ARGV], 22
  if now == '' then
    local t = redis.call('TIME')
    now = string.format('1%011d%06d000', tonumber(t[1]), tonumber(t[2]))
  end
  -- One call when the clock moves forward (the common case): write, reading the old mark;
  -- a later old mark (a reading that went back) is written back and used.
  local mark = redis.call('SET', NOW, now, 'GET')
  if mark and mark > now then
    redis.call('SET', NOW, mark)
    now = mark
  end
  local bound = '(' .. now .. ';'  -- above every member of this instant, below later ones
  local due = redis.call('ZRANGE', DUE, '-', bound, 'BYLEX')
  if #due > 0 then
    for i = 1, #due do
      local lease = string.sub(due[i], 22)
      give_back(redis.call('HGET', LEASES, lease), from)
      redis.call('HDEL', LEASES, lease)
      redis.call('RPUSH', EXPIRED, lease)
    end
    redis.call('ZREMRANGEBYLEX', DUE, '-', bound)
    expired = #due
  end
end

-- now + ttl, exactly: two limbs (12 + 9 digits) plus the ttl's (<= 19 digits), each < 2^53.
local function expiry()
  local n = #ttl
  local lo = tonumber(string.sub(now, 13)) + tonumber(string.sub(ttl, math.max(n - 8, 1)))
  local hi = tonumber(string.sub(now, 1, 12))
  if n > 9 then hi = hi + tonumber(string.sub(ttl, 1, n - 9)) end
  if lo >= 1000000000 then hi, lo = hi + 1, lo - 1000000000 end
  return string.format('%012d%09d', hi, lo)
end

if op == 'a' then
  -- acquire. ARGV: 2 lease ("" = the next int, "1" .. id, "!" = not a valid id), 3 shape,
  -- 4 limits.
  -- Replies the new int id, or 0 for the host's id (granted); {"R", count...} (refused:
  -- every counter's count, in shape order); "D" (the id is held); "V" (a bad id).
  -- Nothing changes unless it replies a number.
  local ids, limits = shape_of(ARGV[3], 1), ARGV[4]
  local counts = redis.call('HMGET', COUNTS, unpack(ids))
  local full = false
  for i = 1, #ids do
    local c = tonumber(counts[i] or '0')
    counts[i] = c
    local limit = tonumber(string.sub(limits, 15 * i - 14, 15 * i))
    if limit > 0 and c >= limit then full = true end
  end
  if full then
    table.insert(counts, 1, 'R')
    return counts
  end
  local lease, id = ARGV[2], 0
  if lease == '!' then return 'V' end
  if lease == '' then
    id = redis.call('INCR', SEQ)
    lease = string.format('0%020d', id)
  elseif redis.call('HEXISTS', LEASES, lease) == 1 then
    return 'D'
  end
  for i = 1, #ids do redis.call('HINCRBY', COUNTS, ids[i], '1') end
  if ttl ~= '' then
    local at = expiry()
    redis.call('HSET', LEASES, lease, at .. ARGV[3])
    redis.call('ZADD', DUE, '0', at .. lease)
  else
    redis.call('HSET', LEASES, lease, ARGV[3])
  end
  return id
elseif op == 'r' then  -- release. ARGV[2] lease; replies 1 if it was held, else 0
  local lease = ARGV[2]
  local v = redis.call('HGET', LEASES, lease)
  if not v then return 0 end
  give_back(v, from)
  redis.call('HDEL', LEASES, lease)
  if ttl ~= '' then redis.call('ZREM', DUE, string.sub(v, 1, 21) .. lease) end
  return 1
elseif op == 'e' then  -- extend. ARGV[2] lease; replies 1 if it is held (now renewed)
  local lease = ARGV[2]
  local v = redis.call('HGET', LEASES, lease)
  if not v then return 0 end
  if ttl == '' then return 1 end
  local at, old = expiry(), string.sub(v, 1, 21)
  if at ~= old then
    redis.call('ZREM', DUE, old .. lease)
    redis.call('ZADD', DUE, '0', at .. lease)
    redis.call('HSET', LEASES, lease, at .. string.sub(v, 22))
  end
  return 1
elseif op == 'p' then  -- poll: the leases expired since the last poll, in expiry order
  local out = redis.call('LRANGE', EXPIRED, 0, -1)
  redis.call('DEL', EXPIRED)
  return out
elseif op == 'x' then  -- prune: how many leases this call expired
  return expired
elseif op == 'c' then  -- counts. ARGV[2] shape; replies its counters' counts
  local ids = shape_of(ARGV[2], 1)
  local counts = redis.call('HMGET', COUNTS, unpack(ids))
  for i = 1, #ids do counts[i] = tonumber(counts[i] or '0') end
  return counts
elseif op == 'u' then  -- usage: every counter and its count
  return redis.call('HGETALL', COUNTS)
elseif op == 'l' then  -- leases: {from, {lease, value, ...}}; a value's shape starts at from
  return {from, redis.call('HGETALL', LEASES)}
elseif op == 's' then  -- snapshot (reads only, moves no clock): {now, seq, leases, expired}
  if ttl == '' then return {'', redis.call('GET', SEQ) or '0', redis.call('HGETALL', LEASES), {}} end
  return {redis.call('GET', NOW) or '', redis.call('GET', SEQ) or '0',
          redis.call('HGETALL', LEASES), redis.call('LRANGE', EXPIRED, 0, -1)}
elseif op == 'w' then
  -- restore: replace the whole state. ARGV: 2 now ("" = none), 3 seq, 4 how many counters,
  -- then (counter id, count) pairs, how many leases, (lease, value) pairs, expired leases.
  redis.call('DEL', COUNTS, LEASES, SEQ)
  if ttl ~= '' then redis.call('DEL', NOW, DUE, EXPIRED) end
  if ARGV[2] ~= '' then redis.call('SET', NOW, ARGV[2]) end
  if ARGV[3] ~= '0' then redis.call('SET', SEQ, ARGV[3]) end
  local i = 5
  for _ = 1, tonumber(ARGV[4]) do
    redis.call('HSET', COUNTS, ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    redis.call('HSET', LEASES, ARGV[i], ARGV[i + 1])
    if ttl ~= '' then redis.call('ZADD', DUE, '0', string.sub(ARGV[i + 1], 1, 21) .. ARGV[i]) end
    i = i + 2
  end
  for j = i, #ARGV do redis.call('RPUSH', EXPIRED, ARGV[j]) end
  return n
end
return redis.error_reply('concurrency.lua: unknown op ' .. op)
