-- plugin_activate: makes a stored version the active plugin of each of its
-- mission types (also a rollback), and tells every host on the plugins channel.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] plugin name
-- ARGV[5] version
-- ARGV[6] who activates
-- ARGV[7] '1' to leave alone types that already have an active plugin
-- ARGV[8] plugins channel (pub/sub)
-- Returns: {'activated', types changed (JSON)} | {'unchanged', ''} | {'missing', ''}
local name, version, by = ARGV[4], ARGV[5], ARGV[6]
local rec = redis.call('HGET', versions_key(name), version)
if not rec then return { 'missing', '' } end
rec = cjson.decode(rec)
local value = cjson.encode({ name = name, version = version, digest = rec.digest })
local changed, previous = {}, {}
for _, t in ipairs(rec.manifest.mission_types) do
  local cur = redis.call('HGET', K.plugins, t)
  local same = false
  if cur then
    local c = cjson.decode(cur)
    same = c.name == name and c.version == version
  end
  local skip = cur and (ARGV[7] == '1' or same)
  if not skip then
    redis.call('HSET', K.plugins, t, value)
    changed[#changed + 1] = t
    if cur then previous[t] = cjson.decode(cur) end
  end
end
if #changed == 0 then return { 'unchanged', '' } end
emit('plugin.activated', false, { name = name, version = version, digest = rec.digest,
  mission_types = changed, previous = previous, activated_by = by })
redis.call('PUBLISH', ARGV[8], name .. '@' .. version)
return { 'activated', cjson.encode(changed) }
