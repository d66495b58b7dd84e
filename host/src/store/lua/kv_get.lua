-- kv_get: the live value of a key.
-- KEYS: the fixed queue keys (see prelude). ARGV[4..6]: see kv_prelude.lua.
-- Returns: {'ok', value} | {'none'}
local v = kv_value(KV_KEY)
if v then return { 'ok', v } end
return { 'none' }
