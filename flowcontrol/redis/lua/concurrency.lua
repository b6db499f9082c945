-- RedisConcurrency: one account's counters and leases, one script per decision.
-- Self-contained (no prelude) and sparing with arguments and redis.call: it runs on
-- every acquire and release, where each costs a measurable share of a round trip.
-- KEYS: 1 counts (hash: counter id -> leases held; "#s" the last int lease id; with a
-- ttl also "#" the clock's high-water mark and "#d" a lower bound of every expiry in the
-- due index, "~" = it is empty; counter ids never start with "#"), 2 leases (hash lease
-- -> [expiry] .. shape); with a ttl also 3 due (lex zset expiry .. lease), 4 expired
-- (list of leases expired, not yet polled). The mark, the bound and the sequence share
-- the counts' HMGET and HSET, so a call reads and writes them at no extra redis.call.
-- ARGV[1]: the op's letter, then lease_ttl in ns (none: leases never expire). With a ttl
-- the last ARGV is the clock reading ("" = the server's TIME). Instants are 21-digit text,
-- n + 10^20 (flowcontrol.redis._timers.enc): string order is numeric order, and they never
-- become Lua numbers.
-- A lease is named "0" .. 20-digit int id or "1" .. the host's string id, so the due index
-- orders equal expiries as the in-memory machine does (ints first, then strings).
-- A shape lists an acquire's counters: 6-digit byte length, then the id, repeated; their
-- limits travel beside it as 15 digits each (0 = no limit). Counts go back as text
-- (string.format), so no Lua number reaches redis.call.
local COUNTS, LEASES, DUE, EXPIRED = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
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

-- The counts of an acquire's counters (got[base + i], nil = 0) as numbers, and whether
-- one of them is at its limit (ARGV[4]: 15 digits each, 0 = none).
local function check(got, base, n)
  local counts, full, limits = {}, false, ARGV[4]
  for i = 1, n do
    local c = tonumber(got[base + i] or '0')
    counts[i] = c
    local limit = tonumber(string.sub(limits, 15 * i - 14, 15 * i))
    if limit > 0 and c >= limit then full = true end
  end
  return counts, full
end

-- t + ttl, exactly: two limbs (12 + 9 digits) plus the ttl's (<= 19 digits), each < 2^53.
local function expiry(t)
  local n = #ttl
  local lo = tonumber(string.sub(t, 13)) + tonumber(string.sub(ttl, math.max(n - 8, 1)))
  local hi = tonumber(string.sub(t, 1, 12))
  if n > 9 then hi = hi + tonumber(string.sub(ttl, 1, n - 9)) end
  if lo >= 1000000000 then hi, lo = hi + 1, lo - 1000000000 end
  return string.format('%012d%09d', hi, lo)
end

-- Acquire and release without a ttl: no clock, no index.
if ttl == '' and op == 'a' then
  -- acquire. ARGV: 2 lease ("" = the next int, "1" .. id, "!" = not a valid id), 3 shape,
  -- 4 limits.
  -- Replies the new int id, or 0 for the host's id (granted); {"R", count...} (refused:
  -- every counter's count, in shape order); "D" (the id is held); "V" (a bad id).
  -- Nothing changes unless it replies a number.
  local ids = shape_of(ARGV[3], 1)
  local counts, full = check(redis.call('HMGET', COUNTS, unpack(ids)), 0, #ids)
  if full then
    table.insert(counts, 1, 'R')
    return counts
  end
  local lease, id = ARGV[2], 0
  if lease == '!' then return 'V' end
  if lease == '' then
    id = redis.call('HINCRBY', COUNTS, '#s', 1)
    lease = string.format('0%020d', id)
  elseif redis.call('HEXISTS', LEASES, lease) == 1 then
    return 'D'
  end
  for i = 1, #ids do redis.call('HINCRBY', COUNTS, ids[i], '1') end
  redis.call('HSET', LEASES, lease, ARGV[3])
  return id
elseif ttl == '' and op == 'r' then  -- release. ARGV[2] lease; replies 1 if it was held, else 0
  local v = redis.call('HGET', LEASES, ARGV[2])
  if not v then return 0 end
  local ids = shape_of(v, 1)
  for i = 1, #ids do
    if redis.call('HINCRBY', COUNTS, ids[i], -1) <= 0 then redis.call('HDEL', COUNTS, ids[i]) end
  end
  redis.call('HDEL', LEASES, ARGV[2])
  return 1
end

-- With a ttl, the hot path: acquire and release when no lease can be due (the stored
-- bound is above now), straight-line and with few redis.call (every Lua step costs here
-- too). It only reads until it knows it can finish; otherwise the general path below
-- runs the op from the start, reusing the clock reading. A shape never lists a counter
-- twice.
local reading = nil
if op == 'a' or op == 'r' then
  local v, shape, from = nil, ARGV[3], 1
  if op == 'r' then
    v = redis.call('HGET', LEASES, ARGV[2])
    shape, from = v or '', 22
  end
  local ids = shape_of(shape, from)
  local now, fields = ARGV[#ARGV], {}
  if now == '' then
    local t = redis.call('TIME')  -- text, padded by concatenation (cheaper than format)
    local sec, usec = t[1], t[2]
    now = '1' .. string.rep('0', 11 - #sec) .. sec .. string.rep('0', 6 - #usec) .. usec .. '000'
  end
  reading = now
  local got = redis.call('HMGET', COUNTS, '#', '#d', '#s', unpack(ids))
  local mark, bound, base = got[1], got[2], 3
  if mark and mark >= now then now = mark else fields = {'#', now} end
  local hot = bound and bound > now
  if hot and op == 'a' then
    local counts, full = check(got, base, #ids)
    local lease, id, refusal = ARGV[2], 0, nil
    if full then
      table.insert(counts, 1, 'R')
      refusal = counts
    elseif lease == '!' then
      refusal = 'V'
    elseif lease == '' then
      id = tonumber(got[base] or '0') + 1
      lease = string.format('0%020d', id)
      fields[#fields + 1] = '#s'
      fields[#fields + 1] = string.format('%d', id)
    elseif redis.call('HEXISTS', LEASES, lease) == 1 then
      refusal = 'D'
    end
    if refusal then
      if fields[1] then redis.call('HSET', COUNTS, unpack(fields)) end
      return refusal
    end
    for i = 1, #ids do
      fields[#fields + 1] = ids[i]
      fields[#fields + 1] = string.format('%d', counts[i] + 1)
    end
    local at = expiry(now)
    if at < bound then
      fields[#fields + 1] = '#d'
      fields[#fields + 1] = at
    end
    redis.call('HSET', COUNTS, unpack(fields))
    redis.call('HSET', LEASES, lease, at .. shape)
    redis.call('ZADD', DUE, '0', at .. lease)
    return id
  elseif hot then
    local gone = nil
    if v then
      for i = 1, #ids do
        local c = tonumber(got[base + i] or '0') - 1
        if c > 0 then
          fields[#fields + 1] = ids[i]
          fields[#fields + 1] = string.format('%d', c)
        else
          gone = gone or {}
          gone[#gone + 1] = ids[i]
        end
      end
    end
    if fields[1] then redis.call('HSET', COUNTS, unpack(fields)) end
    if not v then return 0 end
    if gone then redis.call('HDEL', COUNTS, unpack(gone)) end
    redis.call('HDEL', LEASES, ARGV[2])
    redis.call('ZREM', DUE, string.sub(v, 1, 21) .. ARGV[2])
    return 1
  end
end

-- The general path: every other op, and acquire and release with a ttl when a lease
-- may be due.
local function give_back(v, from)
  local ids = shape_of(v, from)
  for i = 1, #ids do
    if redis.call('HINCRBY', COUNTS, ids[i], -1) <= 0 then redis.call('HDEL', COUNTS, ids[i]) end
  end
end

-- The fields of counts this call writes, in one HSET at its end (flush).
local fields, slot = {}, {}
local function put(f, val)
  local i = slot[f]
  if i then
    fields[i + 1] = val
  else
    fields[#fields + 1] = f
    slot[f] = #fields
    fields[#fields + 1] = val
  end
end
local function flush()
  if #fields > 0 then redis.call('HSET', COUNTS, unpack(fields)) end
end

-- The op's counters (an acquire's shape, the released lease's) are read with the clock
-- mark in one HMGET: got[base + i] is the count of ids[i].
local ids, v, got, base = {}, nil, nil, 0
if op == 'a' then
  ids = shape_of(ARGV[3], 1)
elseif op == 'r' then
  v = redis.call('HGET', LEASES, ARGV[2])
  if v then ids = shape_of(v, 22) end
end

-- With a ttl, every call first moves the clock to max(reading, stored mark) and
-- expires the leases that are due, in (expiry, lease) order, onto the expired list.
-- The due index is scanned only when the stored bound says a lease may be due.
local now, from, expired, bound = '', 1, 0, nil
if ttl ~= '' and op ~= 's' and op ~= 'w' then
  now, from = reading or ARGV[#ARGV], 22
  if now == '' then
    local t = redis.call('TIME')
    now = string.format('1%011d%06d000', tonumber(t[1]), tonumber(t[2]))
  end
  got, base = redis.call('HMGET', COUNTS, '#', '#d', unpack(ids)), 2
  local mark
  mark, bound = got[1], got[2]
  if mark and mark > now then
    now = mark  -- a reading that went back: no time passes
  elseif mark ~= now then
    put('#', now)
  end
  if not bound or bound <= now then
    local upto = '(' .. now .. ';'  -- above every member of this instant, below later ones
    local due = redis.call('ZRANGE', DUE, '-', upto, 'BYLEX')
    if #due > 0 then
      for i = 1, #due do
        local lease = string.sub(due[i], 22)
        give_back(redis.call('HGET', LEASES, lease), from)
        redis.call('HDEL', LEASES, lease)
        redis.call('RPUSH', EXPIRED, lease)
      end
      redis.call('ZREMRANGEBYLEX', DUE, '-', upto)
      expired = #due
      -- what expiring changed: the released lease, the counts
      if op == 'r' then
        v = redis.call('HGET', LEASES, ARGV[2])
        ids = v and shape_of(v, 22) or {}
      end
      got, base = (#ids > 0 and redis.call('HMGET', COUNTS, unpack(ids)) or {}), 0
    end
    local first = redis.call('ZRANGE', DUE, 0, 0)
    bound = first[1] and string.sub(first[1], 1, 21) or '~'
    put('#d', bound)
  end
end

-- A new expiry in the due index (with a ttl): the bound follows it down.
local function due_at(at, lease)
  redis.call('ZADD', DUE, '0', at .. lease)
  if at < bound then put('#d', at) end
end

if op == 'a' then
  -- acquire. ARGV: 2 lease ("" = the next int, "1" .. id, "!" = not a valid id), 3 shape,
  -- 4 limits.
  -- Replies the new int id, or 0 for the host's id (granted); {"R", count...} (refused:
  -- every counter's count, in shape order); "D" (the id is held); "V" (a bad id).
  -- Nothing changes but the clock unless it replies a number.
  local counts, full = check(got, base, #ids)
  if full then
    flush()
    table.insert(counts, 1, 'R')
    return counts
  end
  local lease, id = ARGV[2], 0
  if lease == '!' then flush() return 'V' end
  if lease == '' then
    id = redis.call('HINCRBY', COUNTS, '#s', 1)
    lease = string.format('0%020d', id)
  elseif redis.call('HEXISTS', LEASES, lease) == 1 then
    flush()
    return 'D'
  end
  local new = {}  -- a counter listed twice takes two slots
  for i = 1, #ids do new[ids[i]] = (new[ids[i]] or counts[i]) + 1 end
  for i = 1, #ids do put(ids[i], string.format('%d', new[ids[i]])) end
  if ttl ~= '' then
    local at = expiry(now)
    redis.call('HSET', LEASES, lease, at .. ARGV[3])
    due_at(at, lease)
  else
    redis.call('HSET', LEASES, lease, ARGV[3])
  end
  flush()
  return id
elseif op == 'r' then  -- release. ARGV[2] lease; replies 1 if it was held, else 0
  if not v then flush() return 0 end
  local lease, new, gone = ARGV[2], {}, {}
  for i = 1, #ids do new[ids[i]] = (new[ids[i]] or tonumber(got[base + i] or '0')) - 1 end
  for i = 1, #ids do
    local n = new[ids[i]]
    if n > 0 then put(ids[i], string.format('%d', n)) else gone[#gone + 1] = ids[i] end
  end
  flush()
  if #gone > 0 then redis.call('HDEL', COUNTS, unpack(gone)) end
  redis.call('HDEL', LEASES, lease)
  if ttl ~= '' then redis.call('ZREM', DUE, string.sub(v, 1, 21) .. lease) end
  return 1
end
flush()
if op == 'e' then  -- extend. ARGV[2] lease; replies 1 if it is held (now renewed)
  local lease = ARGV[2]
  local v = redis.call('HGET', LEASES, lease)
  if not v then return 0 end
  if ttl == '' then return 1 end
  local at, old = expiry(now), string.sub(v, 1, 21)
  if at ~= old then
    redis.call('ZREM', DUE, old .. lease)
    fields, slot = {}, {}
    due_at(at, lease)
    flush()
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
  local all, out = redis.call('HGETALL', COUNTS), {}
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 1) ~= '#' then
      out[#out + 1] = all[i]
      out[#out + 1] = all[i + 1]
    end
  end
  return out
elseif op == 'l' then  -- leases: {from, {lease, value, ...}}; a value's shape starts at from
  return {from, redis.call('HGETALL', LEASES)}
elseif op == 's' then  -- snapshot (reads only, moves no clock): {now, seq, leases, expired}
  if ttl == '' then return {'', redis.call('HGET', COUNTS, '#s') or '0', redis.call('HGETALL', LEASES), {}} end
  return {redis.call('HGET', COUNTS, '#') or '', redis.call('HGET', COUNTS, '#s') or '0',
          redis.call('HGETALL', LEASES), redis.call('LRANGE', EXPIRED, 0, -1)}
elseif op == 'w' then
  -- restore: replace the whole state. ARGV: 2 now ("" = none), 3 seq, 4 how many counters,
  -- then (counter id, count) pairs, how many leases, (lease, value) pairs, expired leases.
  redis.call('DEL', COUNTS, LEASES)
  if ttl ~= '' then redis.call('DEL', DUE, EXPIRED) end
  if ARGV[2] ~= '' then redis.call('HSET', COUNTS, '#', ARGV[2]) end
  if ARGV[3] ~= '0' then redis.call('HSET', COUNTS, '#s', ARGV[3]) end
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
  if ttl ~= '' then
    local first = redis.call('ZRANGE', DUE, 0, 0)
    redis.call('HSET', COUNTS, '#d', first[1] and string.sub(first[1], 1, 21) or '~')
  end
  return n
end
return redis.error_reply('concurrency.lua: unknown op ' .. op)
