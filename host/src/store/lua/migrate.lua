-- migrate: moves ready missions of a version before flow control (one ready
-- ZSET for all) into their (tenant, type) queues, in their order. Run at
-- start-up until it returns 0; a no-op (one ZRANGE) once the old set is empty.
-- First, it replaces the status indexes of pending, retrying and running
-- missions, which versions before the `waiting` counter kept per tenant, by
-- that counter (see set_status): a no-op (an HKEYS of the stats and an
-- EXISTS per tenant) once they are gone.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] how many to move at most
-- Returns: how many were moved.
local tenants = {}
for _, field in ipairs(redis.call('HKEYS', K.stats)) do
  local tenant = string.match(field, '^([^|]*)|')
  if tenant then tenants[tenant] = true end
end
for tenant in pairs(tenants) do
  local old = { status_key(tenant, 'pending'), status_key(tenant, 'retrying'), status_key(tenant, 'running') }
  if redis.call('EXISTS', unpack(old)) > 0 then
    local waiting = redis.call('ZCARD', old[1]) + redis.call('ZCARD', old[2])
    if waiting > 0 then redis.call('HINCRBY', K.waiting, tenant, waiting) end
    redis.call('DEL', unpack(old))
  end
end

local ids = redis.call('ZRANGE', K.legacy_ready, 0, tonumber(ARGV[4]) - 1)
for _, id in ipairs(ids) do
  redis.call('ZREM', K.legacy_ready, id)
  local m = redis.call('HMGET', mkey(id), 'priority', 'tenant', 'type', 'status')
  if m[3] and (m[4] == 'pending' or m[4] == 'retrying') then
    push_ready(id, m[2] or DEFAULT_TENANT, m[3], m[1])
  end
end
if #ids > 0 then wake(#ids) end
return #ids
