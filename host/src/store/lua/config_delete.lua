-- config_delete: removes one configuration value of a plugin, with its event.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] plugin name
-- ARGV[5] tenant ('' for the plugin-wide value)
-- ARGV[6] name
-- ARGV[7] who deletes it
-- Returns: {'deleted'} | {'missing'}
local plugin, tenant, name = ARGV[4], ARGV[5], ARGV[6]
if redis.call('HDEL', config_key(plugin), tenant .. '|' .. name) == 0 then return { 'missing' } end
if redis.call('HINCRBY', config_counts_key(plugin), tenant, -1) <= 0 then
  redis.call('HDEL', config_counts_key(plugin), tenant)
end
emit('plugin.config_deleted', false, { name = plugin, key = name, tenant_override = tenant ~= '',
  deleted_by = ARGV[7] })
return { 'deleted' }
