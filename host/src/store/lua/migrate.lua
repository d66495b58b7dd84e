-- migrate: moves ready missions of a version before flow control (one ready
-- ZSET for all) into their (tenant, type) queues, in their order. Run at
-- start-up until it returns 0; a no-op (one ZRANGE) once the old set is empty.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] how many to move at most
-- Returns: how many were moved.
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
