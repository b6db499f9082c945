-- Debounce (flowcontrol.machines.debounce) on Redis: one call per decision.
-- KEYS: 1 now (high-water mark), 2 seq (last debounce id), 3 due (lexicographic index:
-- fire_at .. id, both fixed width), 4 recs (hash: <id> header, <id>:e event id,
-- <id>:p payload, <id>:k key), 5 active (hash: key -> id).
-- ARGV: 1 op, 2 clock reading ("" = server TIME), then per op (see each branch).
-- A header is first_at, last_at, fire_at, cap, ts (21 characters each), then the count.
local NONE = string.rep('9', 21)
local op, now_key, seq_key, due, recs, active = ARGV[1], KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

local function member(fire_at, id) return fire_at .. string.format('%020d', tonumber(id)) end
local function header(first, last, fire, cap, ts, count)
  return first .. last .. fire .. cap .. ts .. string.format('%d', count)
end
local function field(h, i) return string.sub(h, 21 * i - 20, 21 * i) end
local function drop(id)
  redis.call('HDEL', recs, id, id .. ':e', id .. ':p', id .. ':k')
end
-- id, key, event id, payload, header: what Fired and DebounceCancelled are built from.
local function record(id)
  local r = redis.call('HMGET', recs, id, id .. ':k', id .. ':e', id .. ':p')
  return {id, r[2], r[3], r[4], r[1]}
end

if op == 'push' then
  -- ARGV: 3 key, 4 event id, 5 ts ("" = now), 6 payload, 7 period, 8 timeout ("" = none)
  local now = tick(now_key, ARGV[2])
  local key, event_id, payload = ARGV[3], ARGV[4], ARGV[6]
  local ts = ARGV[5]
  if ts == '' then ts = now end
  local id = redis.call('HGET', active, key)
  if id then
    local h = redis.call('HGET', recs, id)
    local first, fire, cap = field(h, 1), field(h, 3), field(h, 4)
    local count = tonumber(string.sub(h, 106)) + 1
    if fire > now then
      if field(h, 5) > ts then
        redis.call('HSET', recs, id, header(first, field(h, 2), fire, cap, field(h, 5), count))
        return {'ignored', id, fire, event_id}
      end
      local previous = redis.call('HGET', recs, id .. ':e')
      local new_fire = ns_add(now, ARGV[7])
      if new_fire > cap then new_fire = cap end
      redis.call('ZREM', due, member(fire, id))
      redis.call('ZADD', due, 0, member(new_fire, id))
      redis.call('HSET', recs, id, header(first, now, new_fire, cap, ts, count),
        id .. ':e', event_id, id .. ':p', payload)
      return {'extended', id, new_fire, previous}
    end
    -- Due but not polled yet: it has fired as far as the key is concerned.
  end
  id = string.format('%d', redis.call('INCR', seq_key))
  local cap = NONE
  if ARGV[8] ~= '' then cap = ns_add(now, ARGV[8]) end
  local fire = ns_add(now, ARGV[7])
  if fire > cap then fire = cap end
  redis.call('HSET', active, key, id)
  redis.call('ZADD', due, 0, member(fire, id))
  redis.call('HSET', recs, id, header(now, now, fire, cap, ts, 1),
    id .. ':e', event_id, id .. ':p', payload, id .. ':k', key)
  return {'scheduled', id, fire}

elseif op == 'cancel' then
  -- ARGV: 3 key
  local now = tick(now_key, ARGV[2])
  local id = redis.call('HGET', active, ARGV[3])
  if not id then return false end
  local r = record(id)
  local fire = field(r[5], 3)
  if fire <= now then return false end
  redis.call('HDEL', active, ARGV[3])
  redis.call('ZREM', due, member(fire, id))
  drop(id)
  return r

elseif op == 'poll' then
  local now = tick(now_key, ARGV[2])
  local members = redis.call('ZRANGEBYLEX', due, '-', upto(now))
  local out = {}
  for i, m in ipairs(members) do
    local id = string.format('%d', tonumber(string.sub(m, 22)))
    local r = record(id)
    if redis.call('HGET', active, r[2]) == id then redis.call('HDEL', active, r[2]) end
    drop(id)
    out[i] = r
  end
  if #members > 0 then redis.call('ZREMRANGEBYLEX', due, '-', upto(now)) end
  return out

elseif op == 'fire_at' then
  -- ARGV: 3 key (no clock reading: a query)
  local id = redis.call('HGET', active, ARGV[3])
  if not id then return false end
  return field(redis.call('HGET', recs, id), 3)
end
return redis.error_reply('unknown op ' .. tostring(op))
