-- Batcher (flowcontrol.machines.batch) on Redis: one call per decision.
-- KEYS: 1 now (high-water mark), 2 seq (last batch id), 3 due (lexicographic index:
-- deadline .. id (20 digits)), 4 recs (hash: id -> record), 5 active (hash: key -> id ..
-- position, both 20 digits; the position keeps the key's place in the in-memory dict),
-- 6 seen (hash: event id -> expiry), 7 seenq (lexicographic index of seen: expiry ..
-- insertion number (20 digits) .. ':' .. event id, so equal expiries keep the in-memory
-- dict's order), 8 seenn (the last insertion number; deleted with the last seen id).
-- ARGV: 1 op, 2 clock reading ("" = server TIME), then per op (see each branch).
-- A record is first_at, deadline, bytes (21 characters each), the event count (16
-- digits), "<bytes>:<key>", then the event ids as "<bytes>:<id>" pieces in arrival order.
local op, now_key, seq_key, due, recs, active, seen, seenq, seenn =
  ARGV[1], KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local ZERO = '1' .. string.rep('0', 20)

local function id_of(m) return string.format('%d', tonumber(string.sub(m, 22, 41))) end
local function active_id(a) return string.format('%d', tonumber(string.sub(a, 1, 20))) end
local function member(deadline, id) return deadline .. string.format('%020d', tonumber(id)) end
local function field(v, i) return string.sub(v, 21 * i - 20, 21 * i) end
local function framed(s) return string.format('%d', #s) .. ':' .. s end
-- The key and the event-id pieces of record v.
local function key_events(v)
  local c = string.find(v, ':', 80, true)
  local n = tonumber(string.sub(v, 80, c - 1))
  return string.sub(v, c + 1, c + n), string.sub(v, c + n + 1)
end

-- Forget the dedupe ids whose window has passed at now; returns how many.
local function expire(now)
  local gone = redis.call('ZRANGEBYLEX', seenq, '-', upto(now))
  for _, m in ipairs(gone) do redis.call('HDEL', seen, string.sub(m, 43)) end
  if #gone > 0 then
    redis.call('ZREMRANGEBYLEX', seenq, '-', upto(now))
    if redis.call('HLEN', seen) == 0 then redis.call('DEL', seenn) end
  end
  return #gone
end

-- Hand out batch id (record v) flushed at flushed_at; the key stays in active only if it
-- now points at a newer batch.
local function close(id, v, flushed_at, reason)
  local key, events = key_events(v)
  local a = redis.call('HGET', active, key)
  if a and active_id(a) == id then redis.call('HDEL', active, key) end
  redis.call('ZREM', due, member(field(v, 2), id))
  redis.call('HDEL', recs, id)
  return {id, key, events, field(v, 3), field(v, 1), flushed_at, reason}
end

-- The key's open batch (id, record); nil and the active entry when its latest batch is
-- due (an open batch whose deadline has come is due); nil when it has none.
local function open_batch(key, now)
  local a = redis.call('HGET', active, key)
  if not a then return nil end
  local id = active_id(a)
  local v = redis.call('HGET', recs, id)
  if field(v, 2) <= now then return nil, a end
  return id, v
end

if op == 'add' then
  -- ARGV: 3 key, 4 event id, 5 size, 6 max_size, 7 max_bytes (an instant-style
  -- 21-character number), 8 timeout, 9 dedupe window ("0" = off)
  local now = tick(now_key, ARGV[2])
  local key, event_id = ARGV[3], ARGV[4]
  expire(now)
  if redis.call('HEXISTS', seen, event_id) == 1 then return {'duplicate'} end
  if ARGV[9] ~= '0' then
    local until_ = ns_add(now, ARGV[9])
    redis.call('HSET', seen, event_id, until_)
    local n = string.format('%020d', redis.call('INCR', seenn))
    redis.call('ZADD', seenq, '0', until_ .. n .. ':' .. event_id)
  end
  local id, v = open_batch(key, now)
  if not id then
    local stale = v  -- the active entry of a due batch: the key keeps its position
    id = string.format('%d', redis.call('INCR', seq_key))
    local pos = string.format('%020d', tonumber(id))
    if stale then pos = string.sub(stale, 21, 40) end
    local deadline = ns_add(now, ARGV[8])
    v = now .. deadline .. ZERO .. string.format('%016d', 0) .. framed(key)
    redis.call('HSET', active, key, string.format('%020d', tonumber(id)) .. pos)
    redis.call('ZADD', due, '0', member(deadline, id))
  end
  local n = tonumber(string.sub(v, 64, 79)) + 1
  local nbytes = ns_add(field(v, 3), ARGV[5])
  v = field(v, 1) .. field(v, 2) .. nbytes .. string.format('%016d', n) .. string.sub(v, 80)
    .. framed(event_id)
  if n >= tonumber(ARGV[6]) then return {'flushed', close(id, v, now, 'full')} end
  if nbytes >= ARGV[7] then return {'flushed', close(id, v, now, 'max_bytes')} end
  redis.call('HSET', recs, id, v)
  if n == 1 then return {'new', id, n, field(v, 2)} end
  return {'appended', id, n, field(v, 2)}

elseif op == 'flush' then
  -- ARGV: 3 key
  local now = tick(now_key, ARGV[2])
  local id, v = open_batch(ARGV[3], now)
  if not id then return false end
  return close(id, v, now, 'manual')

elseif op == 'poll' then
  local now = tick(now_key, ARGV[2])
  local members = redis.call('ZRANGEBYLEX', due, '-', upto(now))
  local out = {}
  for i, m in ipairs(members) do
    local id = id_of(m)
    local v = redis.call('HGET', recs, id)
    out[i] = close(id, v, field(v, 2), 'timeout')
  end
  return out

elseif op == 'prune' then
  return expire(tick(now_key, ARGV[2]))

elseif op == 'snapshot' then
  -- everything, read in one go: the mark, the last id, records, active ids, dedupe ids
  return {redis.call('GET', now_key) or '', redis.call('GET', seq_key) or '0',
    redis.call('HGETALL', recs), redis.call('HGETALL', active),
    redis.call('ZRANGE', seenq, '0', '-1')}

elseif op == 'restore' then
  -- Replace the whole state. ARGV: 3 now, 4 last id, 5 timeout, 6 how many batches, then
  -- 7 per batch: id, key, first_at, bytes (21 characters), event count, the event-id
  -- pieces, "1" when it is its key's active batch; then 2 per dedupe id, in insertion
  -- order: event id, expiry.
  redis.call('DEL', now_key, seq_key, due, recs, active, seen, seenq, seenn)
  redis.call('SET', now_key, ARGV[3])
  if ARGV[4] ~= '0' then redis.call('SET', seq_key, ARGV[4]) end
  local i = 7
  for _ = 1, tonumber(ARGV[6]) do
    local id, key, first = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local deadline = ns_add(first, ARGV[5])
    redis.call('HSET', recs, id, first .. deadline .. ARGV[i + 3]
      .. string.format('%016d', tonumber(ARGV[i + 4])) .. framed(key) .. ARGV[i + 5])
    redis.call('ZADD', due, '0', member(deadline, id))
    if ARGV[i + 6] == '1' then
      local pos = string.format('%020d', tonumber(id))
      redis.call('HSET', active, key, pos .. pos)
    end
    i = i + 7
  end
  local n = 0
  while i <= #ARGV do
    n = n + 1
    redis.call('HSET', seen, ARGV[i], ARGV[i + 1])
    redis.call('ZADD', seenq, '0', ARGV[i + 1] .. string.format('%020d', n) .. ':' .. ARGV[i])
    i = i + 2
  end
  if n > 0 then redis.call('SET', seenn, string.format('%d', n)) end
  return 1

elseif op == 'pending' then
  -- ARGV: 3 key (no clock reading: a query)
  local a = redis.call('HGET', active, ARGV[3])
  if not a then return false end
  local _, events = key_events(redis.call('HGET', recs, active_id(a)))
  return events
end
return redis.error_reply('unknown op ' .. tostring(op))
