-- kv_set: sets a key, with an optional TTL, within the namespace's quotas.
-- KEYS: the fixed queue keys (see prelude). ARGV[4..6]: see kv_prelude.lua.
-- ARGV[7] value
-- ARGV[8] TTL in ms ('' none)
-- ARGV[9] max keys, ARGV[10] max value bytes, ARGV[11] max total bytes
-- Returns: {'ok'} | {'quota', why}
local why = kv_write(KV_KEY, ARGV[7], kv_ttl(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]))
if why then return { 'quota', why } end
return { 'ok' }
