-- expire: deletes finished missions past their retention, with their log, event
-- index and every queue and index entry (their events stay in the capped stream).
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] how many to delete at most
-- Returns: how many were deleted.
local ids = redis.call('ZRANGEBYSCORE', K.expiry, '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  local key = mkey(id)
  local m = redis.call('HMGET', key, 'type', 'status', 'tenant')
  if m[1] then
    local tenant = m[3] or DEFAULT_TENANT
    if INDEXED[m[2]] then redis.call('ZREM', status_key(tenant, m[2]), id) end
    local counted = STATUSES[tenant][m[1]]
    counted[m[2]] = (counted[m[2]] or 0) - 1
    redis.call('ZREM', all_key(tenant), id)
  end
  redis.call('ZREM', K.dead, id)
  redis.call('ZREM', K.expiry, id)
  redis.call('DEL', key, log_key(id))
end
return #ids
