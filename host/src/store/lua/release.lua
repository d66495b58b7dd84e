-- release: gives back the leases of attempts a stopping worker interrupted.
-- They go straight back to the queue for another worker, and the interrupted
-- attempt is not charged against max_attempts (the plugin did not fail).
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] why (for the event)
-- ARGV[5..] pairs of mission id, lease token
-- Returns: the ids released (those whose token still held the lease).
local released = {}
for i = 5, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local key = mkey(id)
  local m = redis.call('HMGET', key, 'status', 'lease_token', 'type', 'priority', 'max_attempts', 'tenant')
  if m[1] == 'running' and m[2] == token then
    release(id)
    local attempt = redis.call('HINCRBY', key, 'attempts', -1)
    set_status(id, m[3], 'running', 'retrying')
    redis.call('HSET', key, 'next_attempt_ms', NOW)
    push_ready(id, m[6] or DEFAULT_TENANT, m[3], m[4])
    emit('mission.retrying', id, { attempt = attempt, max_attempts = tonumber(m[5] or RECORD_DEFAULT.max_attempts),
      next_attempt_at = NOW / 1000, reason = ARGV[4] })
    wake()
    released[#released + 1] = id
  end
end
return released
