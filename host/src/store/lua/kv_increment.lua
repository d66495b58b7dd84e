-- kv_increment: adds to the integer at a key (absent: 0), keeping its expiry.
-- KEYS: the fixed queue keys (see prelude). ARGV[4..6]: see kv_prelude.lua.
-- ARGV[7] delta (a signed 64-bit integer, as text)
-- ARGV[8] max keys, ARGV[9] max value bytes, ARGV[10] max total bytes
-- Returns: {'ok', new value as text} | {'invalid', why} | {'quota', why}
-- Redis' own HINCRBY does the 64-bit arithmetic (Lua numbers are doubles);
-- the value is put back if the result does not fit the quotas.
local old = kv_value(KV_KEY)
if old and not string.match(old, '^-?%d+$') then
  return { 'invalid', 'the value at this key is not an integer' }
end
local r = redis.pcall('HINCRBY', DATA, KV_KEY, ARGV[7])
if type(r) == 'table' and r.err then
  return { 'invalid', 'the increment overflows a signed 64-bit integer, or the value is not one' }
end
local new = redis.call('HGET', DATA, KV_KEY)
if old then redis.call('HSET', DATA, KV_KEY, old) else redis.call('HDEL', DATA, KV_KEY) end
local why = kv_write(KV_KEY, new, 'keep', tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]))
if why then return { 'quota', why } end
return { 'ok', new }
