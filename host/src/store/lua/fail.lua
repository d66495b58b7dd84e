-- fail: ends a running attempt in failure; retries it later or dead-letters it.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] mission id
-- ARGV[5] lease token of the attempt
-- ARGV[6] error kind: 'retryable' or 'permanent'
-- ARGV[7] error message
-- ARGV[8] jitter in [0, 1) for the backoff
-- ARGV[9] retention of dead missions (ms, 0: keep)
-- Returns: {'retrying', next_attempt_ms} | {'failed', 0} | {'stale:<status>', 0}
local id, token = ARGV[4], ARGV[5]
local m = redis.call('HMGET', mkey(id), 'status', 'lease_token')
if m[1] ~= 'running' or m[2] ~= token then
  return { 'stale:' .. tostring(m[1] or 'missing'), 0 }
end
return fail_attempt(id, ARGV[6], ARGV[7], ARGV[8], ARGV[9])
