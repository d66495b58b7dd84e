-- config_set: sets one configuration value of a plugin (plugin-wide, or a
-- tenant's override), within the budget of names, with its event (no value).
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] plugin name
-- ARGV[5] tenant ('' for the plugin-wide value)
-- ARGV[6] name
-- ARGV[7] entry (JSON: value or sealed, secret, set_at, set_by, tenant)
-- ARGV[8] most names per plugin (and per tenant's overrides)
-- ARGV[9] '1' if a secret
-- ARGV[10] who sets it
-- Returns: {'set', ''} | {'too_many', names held}
local plugin, tenant, name = ARGV[4], ARGV[5], ARGV[6]
local field = tenant .. '|' .. name
local ckey = config_key(plugin)
if redis.call('HEXISTS', ckey, field) == 0 then
  local held = tonumber(redis.call('HGET', config_counts_key(plugin), tenant) or '0')
  if held >= tonumber(ARGV[8]) then return { 'too_many', tostring(held) } end
  redis.call('HINCRBY', config_counts_key(plugin), tenant, 1)
end
redis.call('HSET', ckey, field, ARGV[7])
emit('plugin.config_set', false, { name = plugin, key = name, secret = ARGV[9] == '1',
  tenant_override = tenant ~= '', set_by = ARGV[10] })
return { 'set', '' }
