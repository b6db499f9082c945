-- RedisSingleton: one function's singleton locks, one script per decision.
-- KEYS: 1 holders (hash key -> run), 2 runs (hash run -> key), 3 order (zset of held keys,
-- scored 1, 2, ... in the order they were taken, so active_keys() keeps that order).
-- No Lua number reaches redis.call except the order score, formatted '%d' (below 2^53).
local HOLDERS, RUNS, ORDER = KEYS[1], KEYS[2], KEYS[3]
local op = ARGV[1]

local function free(key, run)
  redis.call('HDEL', HOLDERS, key)
  redis.call('HDEL', RUNS, run)
  redis.call('ZREM', ORDER, key)
end

if op == 'acquire' then
  -- ARGV: 2 mode, 3 run, [4 key] (absent: not a singleton). Replies {"S"} started,
  -- {"C", holder} started after cancelling holder, {"K", holder} skipped, {"H", key}
  -- the run already holds key (nothing changes).
  local run = ARGV[3]
  local held = redis.call('HGET', RUNS, run)
  if held then return {'H', held} end
  if #ARGV < 4 then return {'S'} end
  local key = ARGV[4]
  local holder = redis.call('HGET', HOLDERS, key)
  if not holder then
    local last = redis.call('ZRANGE', ORDER, -1, -1, 'WITHSCORES')
    local seq = 1
    if #last > 0 then seq = tonumber(last[2]) + 1 end
    redis.call('HSET', HOLDERS, key, run)
    redis.call('HSET', RUNS, run, key)
    redis.call('ZADD', ORDER, string.format('%d', seq), key)
    return {'S'}
  end
  if ARGV[2] == 'skip' then return {'K', holder} end
  redis.call('HDEL', RUNS, holder)
  redis.call('HSET', HOLDERS, key, run)
  redis.call('HSET', RUNS, run, key)
  return {'C', holder}
elseif op == 'release' then  -- ARGV: 2 key, 3 run; replies 1 if run held key (now free)
  if redis.call('HGET', HOLDERS, ARGV[2]) ~= ARGV[3] then return 0 end
  free(ARGV[2], ARGV[3])
  return 1
elseif op == 'snapshot' then  -- {key, run, ...} in the order the keys were taken
  local out = {}
  for _, key in ipairs(redis.call('ZRANGE', ORDER, 0, -1)) do
    out[#out + 1] = key
    out[#out + 1] = redis.call('HGET', HOLDERS, key)
  end
  return out
elseif op == 'restore' then  -- ARGV[2..]: key, run, ... in order; replaces every lock
  redis.call('DEL', HOLDERS, RUNS, ORDER)
  for i = 2, #ARGV, 2 do
    redis.call('HSET', HOLDERS, ARGV[i], ARGV[i + 1])
    redis.call('HSET', RUNS, ARGV[i + 1], ARGV[i])
    redis.call('ZADD', ORDER, string.format('%d', i / 2), ARGV[i])
  end
  return (#ARGV - 1) / 2
elseif op == 'finished' then  -- ARGV: 2 run; replies the key it held (now free), or nil
  local key = redis.call('HGET', RUNS, ARGV[2])
  if not key then return false end
  free(key, ARGV[2])
  return key
end
return redis.error_reply('singleton.lua: unknown op ' .. op)
