-- kv_delete: deletes a key.
-- KEYS: the fixed queue keys (see prelude). ARGV[4..6]: see kv_prelude.lua.
-- Returns: {'ok', 1 if it held a live value, else 0}
local live = kv_value(KV_KEY)
if live then kv_remove(KV_KEY) end
return { 'ok', live and 1 or 0 }
