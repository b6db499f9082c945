-- Batcher (flowcontrol.machines.batch) on Redis: one call per decision.
-- KEYS: 1 now (high-water mark), 2 seq (last batch id), 3 due (lexicographic index:
-- deadline .. id), 4 recs (hash: <id> header, <id>:e event ids as "<bytes>:<id>"
-- pieces in arrival order, <id>:k key), 5 active (hash: key -> id .. position, both 20
-- digits; the position keeps the key's place in the in-memory dict), 6 seen (hash:
-- event id -> expiry), 7 seenq (lexicographic index of seen: expiry .. ':' .. event id).
-- ARGV: 1 op, 2 clock reading ("" = server TIME), then per op (see each branch).
-- A header is first_at, deadline, bytes (21 characters each), then the event count.
local op, now_key, seq_key, due, recs, active, seen, seenq =
  ARGV[1], KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local ZERO = '1' .. string.rep('0', 20)

local function id_of(m) return string.format('%d', tonumber(string.sub(m, 22, 41))) end
local function active_id(a) return string.format('%d', tonumber(string.sub(a, 1, 20))) end
local function member(deadline, id) return deadline .. string.format('%020d', tonumber(id)) end
local function field(h, i) return string.sub(h, 21 * i - 20, 21 * i) end

-- Forget the dedupe ids whose window has passed at now; returns how many.
local function expire(now)
  local gone = redis.call('ZRANGEBYLEX', seenq, '-', upto(now))
  for _, m in ipairs(gone) do redis.call('HDEL', seen, string.sub(m, 23)) end
  if #gone > 0 then redis.call('ZREMRANGEBYLEX', seenq, '-', upto(now)) end
  return #gone
end

-- Hand out batch id (its header h) flushed at flushed_at; the key stays in active
-- only if it now points at a newer batch.
local function close(id, h, flushed_at, reason)
  local r = redis.call('HMGET', recs, id .. ':k', id .. ':e')
  local a = redis.call('HGET', active, r[1])
  if a and active_id(a) == id then redis.call('HDEL', active, r[1]) end
  redis.call('ZREM', due, member(field(h, 2), id))
  redis.call('HDEL', recs, id, id .. ':k', id .. ':e')
  return {id, r[1], r[2], field(h, 3), field(h, 1), flushed_at, reason}
end

-- The key's open batch (id, header) or nil; an open batch whose deadline has come is due.
local function open_batch(key, now)
  local a = redis.call('HGET', active, key)
  if not a then return nil end
  local id = active_id(a)
  local h = redis.call('HGET', recs, id)
  if field(h, 2) <= now then return nil, a end
  return id, h
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
    redis.call('ZADD', seenq, 0, until_ .. ':' .. event_id)
  end
  local id, h = open_batch(key, now)
  if not id then
    local stale = h  -- the due batch still named by active (kept for its position)
    id = string.format('%d', redis.call('INCR', seq_key))
    local pos = string.format('%020d', tonumber(id))
    if stale then pos = string.sub(stale, 21, 40) end
    local deadline = ns_add(now, ARGV[8])
    h = now .. deadline .. ZERO .. '0'
    redis.call('HSET', active, key, string.format('%020d', tonumber(id)) .. pos)
    redis.call('ZADD', due, 0, member(deadline, id))
    redis.call('HSET', recs, id .. ':k', key)
  end
  local n = tonumber(string.sub(h, 64)) + 1
  local nbytes = ns_add(field(h, 3), ARGV[5])
  h = field(h, 1) .. field(h, 2) .. nbytes .. string.format('%d', n)
  local piece = string.format('%d', #event_id) .. ':' .. event_id
  local events = redis.call('HGET', recs, id .. ':e')
  if events then piece = events .. piece end
  redis.call('HSET', recs, id, h, id .. ':e', piece)
  if n >= tonumber(ARGV[6]) then return {'flushed', close(id, h, now, 'full')} end
  if nbytes >= ARGV[7] then return {'flushed', close(id, h, now, 'max_bytes')} end
  if n == 1 then return {'new', id, n, field(h, 2)} end
  return {'appended', id, n, field(h, 2)}

elseif op == 'flush' then
  -- ARGV: 3 key
  local now = tick(now_key, ARGV[2])
  local id, h = open_batch(ARGV[3], now)
  if not id then return false end
  return close(id, h, now, 'manual')

elseif op == 'poll' then
  local now = tick(now_key, ARGV[2])
  local members = redis.call('ZRANGEBYLEX', due, '-', upto(now))
  local out = {}
  for i, m in ipairs(members) do
    local id = id_of(m)
    local h = redis.call('HGET', recs, id)
    out[i] = close(id, h, field(h, 2), 'timeout')
  end
  return out

elseif op == 'prune' then
  return expire(tick(now_key, ARGV[2]))

elseif op == 'pending' then
  -- ARGV: 3 key (no clock reading: a query)
  local a = redis.call('HGET', active, ARGV[3])
  if not a then return false end
  return redis.call('HGET', recs, active_id(a) .. ':e') or ''
end
return redis.error_reply('unknown op ' .. tostring(op))
