-- lapse: cancels missions whose deadline passed before they started (reason
-- `expired`), taking them out of the ready queues and the delayed set, so they
-- do not sit in the queue. (A claim that meets one first cancels it itself.)
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] how many to cancel at most
-- ARGV[5] retention of finished missions (ms, 0: keep)
-- Returns: how many deadlines were handled.
local ids = redis.call('ZRANGEBYSCORE', K.deadlines, '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  redis.call('ZREM', K.deadlines, id)
  local m = redis.call('HMGET', mkey(id), 'type', 'status', 'correlation_id', 'tenant', 'traceparent')
  if m[1] and (m[2] == 'pending' or m[2] == 'retrying') then
    local tenant = remember(id, m[3], m[4], m[5])
    remove_ready(id, tenant, m[1])
    redis.call('ZREM', K.delayed, id)
    expire_waiting(id, m[1], m[2], ARGV[5])
  end
end
return #ids
