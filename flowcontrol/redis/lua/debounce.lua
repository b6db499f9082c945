-- Debounce (flowcontrol.machines.debounce) on Redis: one call per decision.
-- KEYS: 1 now (high-water mark), 2 seq (last debounce id), 3 due (lexicographic index:
-- fire_at .. id (20 digits)), 4 recs (hash: id -> record), 5 active (hash: key -> id).
-- ARGV: 1 op, 2 clock reading ("" = server TIME), then per op (see each branch).
-- A record is first_at, last_at, fire_at, cap, ts (21 characters each), the count (16
-- digits), then "<bytes>:<key>", "<bytes>:<event id>" and the payload (JSON text).
local NONE = string.rep('9', 21)
local op, now_key, seq_key, due, recs, active = ARGV[1], KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

local function member(fire_at, id) return fire_at .. string.format('%020d', tonumber(id)) end
local function field(v, i) return string.sub(v, 21 * i - 20, 21 * i) end
local function framed(s) return string.format('%d', #s) .. ':' .. s end
local function pack(first, last, fire, cap, ts, count, key, event_id, payload)
  return first .. last .. fire .. cap .. ts .. string.format('%016d', count) .. framed(key)
    .. framed(event_id) .. payload
end
-- id, key, event id, payload, header (the fixed-width fields and the count): the reply
-- Fired and DebounceCancelled are built from.
local function unpack_record(id, v)
  local i = 122
  local out = {id}
  for k = 2, 3 do
    local c = string.find(v, ':', i, true)
    local n = tonumber(string.sub(v, i, c - 1))
    out[k] = string.sub(v, c + 1, c + n)
    i = c + n + 1
  end
  out[4] = string.sub(v, i)
  out[5] = string.sub(v, 1, 121)
  return out
end

if op == 'push' then
  -- ARGV: 3 key, 4 event id, 5 ts ("" = now), 6 payload, 7 period, 8 timeout ("" = none)
  local now = tick(now_key, ARGV[2])
  local key, event_id, payload = ARGV[3], ARGV[4], ARGV[6]
  local ts = ARGV[5]
  if ts == '' then ts = now end
  local id = redis.call('HGET', active, key)
  if id then
    local v = redis.call('HGET', recs, id)
    local first, fire, cap = field(v, 1), field(v, 3), field(v, 4)
    local count = tonumber(string.sub(v, 106, 121)) + 1
    if fire > now then
      local r = unpack_record(id, v)
      if field(v, 5) > ts then
        redis.call('HSET', recs, id,
          pack(first, field(v, 2), fire, cap, field(v, 5), count, key, r[3], r[4]))
        return {'ignored', id, fire, event_id}
      end
      local new_fire = ns_add(now, ARGV[7])
      if new_fire > cap then new_fire = cap end
      redis.call('ZREM', due, member(fire, id))
      redis.call('ZADD', due, '0', member(new_fire, id))
      redis.call('HSET', recs, id, pack(first, now, new_fire, cap, ts, count, key, event_id, payload))
      return {'extended', id, new_fire, r[3]}
    end
    -- Due but not polled yet: it has fired as far as the key is concerned.
  end
  id = string.format('%d', redis.call('INCR', seq_key))
  local cap = NONE
  if ARGV[8] ~= '' then cap = ns_add(now, ARGV[8]) end
  local fire = ns_add(now, ARGV[7])
  if fire > cap then fire = cap end
  redis.call('HSET', active, key, id)
  redis.call('ZADD', due, '0', member(fire, id))
  redis.call('HSET', recs, id, pack(now, now, fire, cap, ts, 1, key, event_id, payload))
  return {'scheduled', id, fire}

elseif op == 'cancel' then
  -- ARGV: 3 key
  local now = tick(now_key, ARGV[2])
  local id = redis.call('HGET', active, ARGV[3])
  if not id then return false end
  local v = redis.call('HGET', recs, id)
  local fire = field(v, 3)
  if fire <= now then return false end
  redis.call('HDEL', active, ARGV[3])
  redis.call('ZREM', due, member(fire, id))
  redis.call('HDEL', recs, id)
  return unpack_record(id, v)

elseif op == 'poll' then
  local now = tick(now_key, ARGV[2])
  local members = redis.call('ZRANGEBYLEX', due, '-', upto(now))
  local out = {}
  for i, m in ipairs(members) do
    local id = string.format('%d', tonumber(string.sub(m, 22)))
    local r = unpack_record(id, redis.call('HGET', recs, id))
    if redis.call('HGET', active, r[2]) == id then redis.call('HDEL', active, r[2]) end
    redis.call('HDEL', recs, id)
    out[i] = r
  end
  if #members > 0 then redis.call('ZREMRANGEBYLEX', due, '-', upto(now)) end
  return out

elseif op == 'tick' then
  -- a call refused after reading the clock still moves the mark, as in memory
  tick(now_key, ARGV[2])
  return 1

elseif op == 'snapshot' then
  -- everything, read in one go: the mark, the last id, the records, the active ids
  return {redis.call('GET', now_key) or '', redis.call('GET', seq_key) or '0',
    redis.call('HGETALL', recs), redis.call('HGETALL', active)}

elseif op == 'restore' then
  -- Replace the whole state. ARGV: 3 now, 4 last id, 5 timeout ("" = none), then 10 per
  -- debounce: id, first_at, last_at, fire_at, ts, count, key, event id, payload, and "1"
  -- when it is its key's active debounce ("0" otherwise).
  redis.call('DEL', now_key, seq_key, due, recs, active)
  redis.call('SET', now_key, ARGV[3])
  if ARGV[4] ~= '0' then redis.call('SET', seq_key, ARGV[4]) end
  for i = 6, #ARGV, 10 do
    local id, first, key = ARGV[i], ARGV[i + 1], ARGV[i + 6]
    local cap = NONE
    if ARGV[5] ~= '' then cap = ns_add(first, ARGV[5]) end
    redis.call('HSET', recs, id, pack(first, ARGV[i + 2], ARGV[i + 3], cap, ARGV[i + 4],
      tonumber(ARGV[i + 5]), key, ARGV[i + 7], ARGV[i + 8]))
    redis.call('ZADD', due, '0', member(ARGV[i + 3], id))
    if ARGV[i + 9] == '1' then redis.call('HSET', active, key, id) end
  end
  return 1

elseif op == 'fire_at' then
  -- ARGV: 3 key (no clock reading: a query)
  local id = redis.call('HGET', active, ARGV[3])
  if not id then return false end
  return field(redis.call('HGET', recs, id), 3)
end
return redis.error_reply('unknown op ' .. tostring(op))
