-- RedisConcurrency: one account's counters and leases, one script per decision.
-- KEYS: 1 now (high-water mark), 2 seq (last int lease id), 3 counts (hash counter id ->
-- leases), 4 leases (hash lease -> [expiry] .. counter ids), 5 due (lex zset expiry .. lease),
-- 6 expired (list of leases expired and not yet polled).
-- ARGV: 1 op, 2 lease_ttl in ns ("" = leases never expire), 3 the clock reading ("" = TIME).
-- A lease is named "0" .. 20-digit int id or "1" .. the host's string id, so the due index
-- orders equal expiries as the in-memory machine does (ints first, then strings).
-- Counter id lists are "<byte length>:<id>" repeated. No Lua number reaches redis.call.
local NOW, SEQ, COUNTS, LEASES, DUE, EXPIRED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local op, ttl = ARGV[1], ARGV[2]

local function ids_of(v, i)
  local out, n = {}, #v
  while i <= n do
    local c = string.find(v, ':', i, true)
    local len = tonumber(string.sub(v, i, c - 1))
    out[#out + 1] = string.sub(v, c + 1, c + len)
    i = c + len + 1
  end
  return out
end

local function give_back(v, from)
  local ids = ids_of(v, from)
  for i = 1, #ids do
    if redis.call('HINCRBY', COUNTS, ids[i], -1) <= 0 then redis.call('HDEL', COUNTS, ids[i]) end
  end
end

-- With a ttl, every call but the read-only queries first moves the clock and expires the
-- leases that are due, in (expiry, lease) order, onto the expired list.
local now, from, expired = '', 1, 0
if ttl ~= '' then
  now, from = tick(NOW, ARGV[3]), 22
  local bound = upto(now)
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

if op == 'acquire' then
  -- ARGV: 4 lease ("" = next int, "1" .. id, "!" = not a valid id), 5 counter ids encoded,
  -- 6 how many counters, then the counter ids, then their limits ("0" = no limit).
  -- Replies {"A", int id} or {"A"} (the host's id), {"R", count...} (refused: every
  -- counter's count), {"D"} (the id is held), {"V"} (a bad id; nothing changes).
  local n = tonumber(ARGV[6])
  local counts = redis.call('HMGET', COUNTS, unpack(ARGV, 7, 6 + n))
  local full = false
  for i = 1, n do
    local c = tonumber(counts[i] or '0')
    counts[i] = c
    local limit = tonumber(ARGV[6 + n + i])
    if limit > 0 and c >= limit then full = true end
  end
  if full then
    table.insert(counts, 1, 'R')
    return counts
  end
  local lease, id = ARGV[4], nil
  if lease == '!' then return {'V'} end
  if lease == '' then
    id = redis.call('INCR', SEQ)
    lease = string.format('0%020d', id)
  elseif redis.call('HEXISTS', LEASES, lease) == 1 then
    return {'D'}
  end
  for i = 7, 6 + n do redis.call('HINCRBY', COUNTS, ARGV[i], '1') end
  if ttl ~= '' then
    local at = ns_add(now, ttl)
    redis.call('HSET', LEASES, lease, at .. ARGV[5])
    redis.call('ZADD', DUE, '0', at .. lease)
  else
    redis.call('HSET', LEASES, lease, ARGV[5])
  end
  return {'A', id}
elseif op == 'release' then  -- ARGV[4] lease; replies 1 if it was held, else 0
  local lease = ARGV[4]
  local v = redis.call('HGET', LEASES, lease)
  if not v then return 0 end
  give_back(v, from)
  redis.call('HDEL', LEASES, lease)
  if ttl ~= '' then redis.call('ZREM', DUE, string.sub(v, 1, 21) .. lease) end
  return 1
elseif op == 'extend' then  -- ARGV[4] lease; replies 1 if it is held (now renewed), else 0
  local lease = ARGV[4]
  local v = redis.call('HGET', LEASES, lease)
  if not v then return 0 end
  if ttl == '' then return 1 end
  local at, old = ns_add(now, ttl), string.sub(v, 1, 21)
  if at ~= old then
    redis.call('ZREM', DUE, old .. lease)
    redis.call('ZADD', DUE, '0', at .. lease)
    redis.call('HSET', LEASES, lease, at .. string.sub(v, 22))
  end
  return 1
elseif op == 'poll' then  -- the leases expired since the last poll, in expiry order
  local out = redis.call('LRANGE', EXPIRED, 0, -1)
  redis.call('DEL', EXPIRED)
  return out
elseif op == 'prune' then  -- how many leases this call expired
  return expired
elseif op == 'counts' then  -- ARGV[4..]: counter ids; replies their counts
  local out = {}
  for i = 4, #ARGV do out[#out + 1] = tonumber(redis.call('HGET', COUNTS, ARGV[i]) or '0') end
  return out
elseif op == 'usage' then
  return redis.call('HGETALL', COUNTS)
elseif op == 'leases' then  -- {lease, value, ...}; a value's counter ids start at `from`
  return {from, redis.call('HGETALL', LEASES)}
end
return redis.error_reply('concurrency.lua: unknown op ' .. op)
