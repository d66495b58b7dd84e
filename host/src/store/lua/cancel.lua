-- cancel: cancels a mission that has not finished; a running one loses its lease
-- and its worker is told on the cancel channel to stop the attempt.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] mission id
-- ARGV[5] who cancels
-- ARGV[6] why (may be empty)
-- ARGV[7] retention of finished missions (ms, 0: keep)
-- ARGV[8] cancel channel (pub/sub)
-- Returns: {'cancelled', previous status} | {'finished', status} | {'missing', ''}
local id, by, reason = ARGV[4], ARGV[5], ARGV[6]
local key = mkey(id)
local m = redis.call('HMGET', key, 'type', 'status', 'correlation_id', 'tenant', 'traceparent')
if not m[1] then return { 'missing', '' } end
local tenant = remember(id, m[3], m[4], m[5])
local status = m[2]
if status == 'completed' or status == 'failed' or status == 'cancelled' then
  return { 'finished', status }
end
remove_ready(id, tenant, m[1])
redis.call('ZREM', K.delayed, id)
redis.call('ZREM', K.deadlines, id)
if status == 'running' then
  release(id)
  redis.call('PUBLISH', ARGV[8], id)
end
set_status(id, m[1], status, 'cancelled', 'cancelled_by', by, 'cancel_reason', reason)
redis.call('HDEL', key, 'next_attempt_ms', 'run_at_ms')
schedule_expiry(id, ARGV[7])
emit('mission.cancelled', id, { cancelled_by = by, reason = reason, previous_status = status, cancelled_at = NOW / 1000 })
return { 'cancelled', status }
