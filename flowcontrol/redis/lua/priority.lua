-- PriorityQueue (flowcontrol.machines.priority) on Redis: one call per decision.
-- KEYS: 1 now (high-water mark), 2 seq (last sequence number), 3 q (lexicographic
-- order: score (21 characters) .. seq (20 digits) .. item id; it also holds removed
-- items' entries until they surface or are compacted, as the in-memory heap does),
-- 4 items (hash: item id -> seq .. score .. created_at .. factor).
-- ARGV: 1 op, 2 clock reading ("" = server TIME; unused by queries), then per op.
local op, now_key, seq_key, q, items = ARGV[1], KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local function item_id(m) return string.sub(m, 42) end
-- An entry is live when its item is still queued under the same sequence number.
local function live(m)
  local v = redis.call('HGET', items, item_id(m))
  return v and string.sub(v, 1, 20) == string.sub(m, 22, 41)
end
-- The first live entry, dropping the removed ones in front of it (the heap's _head).
local function head()
  while true do
    local first = redis.call('ZRANGE', q, '0', '0')[1]
    if not first then return nil end
    if live(first) then return first end
    redis.call('ZREM', q, first)
  end
end
local function take(m)
  local id = item_id(m)
  local v = redis.call('HGET', items, id)
  redis.call('ZREM', q, m)
  redis.call('HDEL', items, id)
  return {id, v}
end
local function compact()
  for _, m in ipairs(redis.call('ZRANGE', q, '0', '-1')) do
    if not live(m) then redis.call('ZREM', q, m) end
  end
end

if op == 'push' then
  -- ARGV: 3 item id, 4 created_at ("" = now), 5 at ("" = now), 6 the factor's shift of
  -- the score (signed ns), 7 "1" for run kinds, 8 the FUTURE_AT_LIMIT, 9 factor
  local now = tick(now_key, ARGV[2])
  local id = ARGV[3]
  if redis.call('HEXISTS', items, id) == 1 then return false end
  local created, due = ARGV[4], ARGV[5]
  if created == '' then created = now end
  if due == '' then due = now end
  local score = due
  if ARGV[7] == '1' and due <= ns_add(now, ARGV[8]) then score = ns_add(created, ARGV[6]) end
  local seq = string.format('%020d', redis.call('INCR', seq_key))
  redis.call('ZADD', q, '0', score .. seq .. id)
  local v = seq .. score .. created .. ARGV[9]
  redis.call('HSET', items, id, v)
  return {id, v}

elseif op == 'pop' then
  local now = tick(now_key, ARGV[2])
  local m = head()
  if not m or string.sub(m, 1, 21) > now then return false end
  return take(m)

elseif op == 'poll' then
  local now = tick(now_key, ARGV[2])
  local out = {}
  while true do
    local m = head()
    if not m or string.sub(m, 1, 21) > now then return out end
    out[#out + 1] = take(m)
  end

elseif op == 'peek' then
  local m = head()
  if not m then return false end
  return {item_id(m), redis.call('HGET', items, item_id(m))}

elseif op == 'remove' then
  -- ARGV: 3 item id
  if redis.call('HDEL', items, ARGV[3]) == 0 then return 0 end
  local n_live = redis.call('HLEN', items)
  local dead = redis.call('ZCARD', q) - n_live
  if dead > 64 and dead > n_live then compact() end
  return 1

elseif op == 'tick' then
  -- a call refused after reading the clock still moves the mark, as in memory
  tick(now_key, ARGV[2])
  return 1

elseif op == 'snapshot' then
  -- everything, read in one go: the mark, the last sequence number, the items
  return {redis.call('GET', now_key) or '', redis.call('GET', seq_key) or '0',
    redis.call('HGETALL', items)}

elseif op == 'restore' then
  -- Replace the whole state. ARGV: 3 now, 4 last sequence number, then 2 per item: its
  -- entry in q and its value in items (built by the caller in the layout above).
  redis.call('DEL', now_key, seq_key, q, items)
  redis.call('SET', now_key, ARGV[3])
  if ARGV[4] ~= '0' then redis.call('SET', seq_key, ARGV[4]) end
  for i = 5, #ARGV, 2 do
    redis.call('ZADD', q, '0', ARGV[i])
    redis.call('HSET', items, item_id(ARGV[i]), ARGV[i + 1])
  end
  return 1

elseif op == 'prune' then
  local dead = redis.call('ZCARD', q) - redis.call('HLEN', items)
  if dead > 0 then compact() end
  return dead
end
return redis.error_reply('unknown op ' .. tostring(op))
