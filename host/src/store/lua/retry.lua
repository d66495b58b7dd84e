-- retry: sends a failed mission back to the queue with fresh attempts (same id).
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] mission id
-- ARGV[5] who retries it (its event names it `redriven_by`: the wire name is kept)
-- ARGV[6] attempts it gets anew (0: its previous max_attempts)
-- ARGV[7] the host's default `queued_missions` quota (KEYS quotas overrides it)
-- Returns: {'requeued', ''} | {'not_failed', status} | {'missing', ''}, or, with
--          nothing changed, the error `QUOTA queued_missions <limit> 1 <message>`
--          when the tenant already has as many missions waiting as it may.
local id = ARGV[4]
local key = mkey(id)
local m = redis.call('HMGET', key, 'type', 'status', 'priority', 'max_attempts', 'correlation_id', 'tenant', 'traceparent')
if not m[1] then return { 'missing', '' } end
if m[2] ~= 'failed' then return { 'not_failed', m[2] } end
local tenant = remember(id, m[5], m[6], m[7])
local limit = tonumber(ARGV[7])
local set = redis.call('HGET', K.quotas, tenant)
if set then limit = cjson.decode(set).queued_missions or limit end
local waiting = tonumber(redis.call('HGET', K.waiting, tenant)) or 0
if waiting + 1 > limit then
  return redis.error_reply(string.format('QUOTA queued_missions %d 1 tenant %s has %d missions waiting, its limit',
    limit, tenant, waiting))
end
local max = tonumber(ARGV[6])
if max == 0 then max = tonumber(m[4] or RECORD_DEFAULT.max_attempts) end
redis.call('ZREM', K.dead, id)
redis.call('ZREM', K.expiry, id)
set_status(id, m[1], 'failed', 'pending')
redis.call('HSET', key, 'attempts', 0, 'max_attempts', max)
redis.call('HDEL', key, 'finished_ms', 'error', 'error_kind', 'result')
push_ready(id, tenant, m[1], m[3])
emit('mission.retrying', id, { attempt = 0, max_attempts = max, next_attempt_at = NOW / 1000,
  redriven_by = ARGV[5] })
wake()
return { 'requeued', '' }
