-- plugin_delete: deletes a version that is not active; its bytes go with the
-- last version that uses them.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] plugin name
-- ARGV[5] version
-- ARGV[6] who deletes
-- Returns: {'deleted', ''} | {'active', mission type it serves} | {'missing', ''}
local name, version = ARGV[4], ARGV[5]
local vkey = versions_key(name)
local rec = redis.call('HGET', vkey, version)
if not rec then return { 'missing', '' } end
local digest = cjson.decode(rec).digest
local active = redis.call('HGETALL', K.plugins)
for i = 1, #active, 2 do
  if cjson.decode(active[i + 1]).digest == digest then return { 'active', active[i] } end
end
redis.call('HDEL', vkey, version)
local still_used = false
for _, n in ipairs(redis.call('SMEMBERS', K.names)) do
  for _, r in ipairs(redis.call('HVALS', versions_key(n))) do
    if cjson.decode(r).digest == digest then still_used = true end
  end
end
if not still_used then redis.call('DEL', blob_key(digest)) end
if redis.call('HLEN', vkey) == 0 then redis.call('SREM', K.names, name) end
emit('plugin.deleted', false, { name = name, version = version, digest = digest, deleted_by = ARGV[6] })
return { 'deleted', '' }
