-- redrive: sends a dead mission back to the queue with fresh attempts (same id).
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] mission id
-- ARGV[5] who re-drives
-- ARGV[6] attempts it gets anew (0: its previous max_attempts)
-- Returns: {'requeued', ''} | {'not_dead', status} | {'missing', ''}
local id = ARGV[4]
local key = mkey(id)
local m = redis.call('HMGET', key, 'type', 'status', 'priority', 'max_attempts')
if not m[1] then return { 'missing', '' } end
if m[2] ~= 'failed' then return { 'not_dead', m[2] } end
local max = tonumber(ARGV[6])
if max == 0 then max = tonumber(m[4]) end
redis.call('ZREM', K.dead, id)
redis.call('ZREM', K.expiry, id)
set_status(id, m[1], 'failed', 'pending')
redis.call('HSET', key, 'attempts', 0, 'max_attempts', max)
redis.call('HDEL', key, 'finished_ms', 'error', 'error_kind', 'result')
redis.call('ZADD', K.ready, ready_score(m[3]), id)
emit('mission.retrying', id, { attempt = 0, max_attempts = max, next_attempt_at = NOW / 1000,
  redriven_by = ARGV[5] })
wake()
return { 'requeued', '' }
