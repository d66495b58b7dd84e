-- Prelude of the key-value scripts (kv_*.lua), after the common prelude.
-- One namespace per plugin and tenant: kv_data_key (HASH key -> value),
-- kv_expiry_key (ZSET key -> expiry ms, only keys with a TTL) and
-- kv_usage_key (STRING: bytes held, keys and values).
-- ARGV[4] plugin name, ARGV[5] tenant, ARGV[6] key (each script's own from ARGV[7]).
--
-- Expiry is ours, not Redis': a key past its expiry is never returned (every
-- read checks it), and every call first purges up to KV_PURGE expired keys,
-- subtracting their bytes; a write that would exceed a quota purges up to
-- KV_PURGE_FULL more before refusing. So the key count and the bytes, which
-- the quotas read, stay exact: a key counts until the call that removes it,
-- and no quota is refused while expired keys could make room (up to
-- KV_PURGE_FULL of them per call).
local KV_PLUGIN, KV_TENANT, KV_KEY = ARGV[4], ARGV[5], ARGV[6]
local DATA = kv_data_key(KV_PLUGIN, KV_TENANT)
local EXP = kv_expiry_key(KV_PLUGIN, KV_TENANT)
local USAGE = kv_usage_key(KV_PLUGIN, KV_TENANT)
local KV_PURGE = 64
local KV_PURGE_FULL = 1000

-- Removes `key`, its expiry and its bytes; whether it held a value.
local function kv_remove(key)
  redis.call('ZREM', EXP, key)
  local v = redis.call('HGET', DATA, key)
  if not v then return false end
  redis.call('HDEL', DATA, key)
  redis.call('DECRBY', USAGE, #key + #v)
  return true
end

-- Removes up to `n` expired keys; how many.
local function kv_purge(n)
  local due = redis.call('ZRANGEBYSCORE', EXP, '-inf', NOW, 'LIMIT', 0, n)
  for _, k in ipairs(due) do kv_remove(k) end
  return #due
end

-- The live value of `key` (false when absent; an expired key is removed).
local function kv_value(key)
  local exp = redis.call('ZSCORE', EXP, key)
  if exp and tonumber(exp) <= NOW then
    kv_remove(key)
    return false
  end
  return redis.call('HGET', DATA, key)
end

-- Why writing `value` at `key` would break a quota (nil: it fits). `old` is its live value or false.
local function kv_over(key, old, value, max_keys, max_total)
  if not old and redis.call('HLEN', DATA) >= max_keys then
    return 'grants.kv.max_keys (' .. max_keys .. ') keys are held'
  end
  local used = tonumber(redis.call('GET', USAGE) or '0')
  local after = used - (old and (#key + #old) or 0) + #key + #value
  if after > max_total then
    return 'the namespace would hold ' .. after .. ' bytes, over grants.kv.max_total_bytes (' .. max_total .. ')'
  end
  return nil
end

-- Writes `value` at `key` within the quotas: ttl (ms) sets the expiry, false
-- clears it, 'keep' keeps it. Returns nil, or the reason it was refused.
local function kv_write(key, value, ttl, max_keys, max_value, max_total)
  if #value > max_value then
    return 'a value of ' .. #value .. ' bytes is over grants.kv.max_value_bytes (' .. max_value .. ')'
  end
  local old = kv_value(key)
  local why = kv_over(key, old, value, max_keys, max_total)
  if why and kv_purge(KV_PURGE_FULL) > 0 then why = kv_over(key, old, value, max_keys, max_total) end
  if why then return why end
  redis.call('HSET', DATA, key, value)
  redis.call('INCRBY', USAGE, #key + #value - (old and (#key + #old) or 0))
  if ttl == false then
    redis.call('ZREM', EXP, key)
  elseif ttl ~= 'keep' then
    redis.call('ZADD', EXP, NOW + ttl, key)
  end
  return nil
end

-- An optional TTL argument: '' is none (false), else milliseconds.
local function kv_ttl(arg)
  if arg == '' then return false end
  return tonumber(arg)
end

kv_purge(KV_PURGE)
