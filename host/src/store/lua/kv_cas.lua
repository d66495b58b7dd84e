-- kv_cas: compare-and-swap: sets a key only if its live value is the expected one.
-- KEYS: the fixed queue keys (see prelude). ARGV[4..6]: see kv_prelude.lua.
-- ARGV[7] '1' if a value is expected, '0' if the key must be absent
-- ARGV[8] the expected value (ignored when ARGV[7] is '0')
-- ARGV[9] the new value
-- ARGV[10] TTL in ms ('' none)
-- ARGV[11] max keys, ARGV[12] max value bytes, ARGV[13] max total bytes
-- Returns: {'ok', 1 if set, else 0} | {'quota', why}
local live = kv_value(KV_KEY)
if ARGV[7] == '1' then
  if live ~= ARGV[8] then return { 'ok', 0 } end
elseif live then
  return { 'ok', 0 }
end
local why = kv_write(KV_KEY, ARGV[9], kv_ttl(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13]))
if why then return { 'quota', why } end
return { 'ok', 1 }
