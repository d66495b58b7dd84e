-- complete: ends a running attempt in success.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] mission id
-- ARGV[5] lease token of the attempt
-- ARGV[6] result (JSON text)
-- ARGV[7] result summary for the event (truncated result)
-- ARGV[8] retention of finished missions (ms, 0: keep)
-- ARGV[9] most lines a mission's log keeps
-- ARGV[10..] the attempt's last reports, not yet stored (triples, as report.lua
--          takes them): written first, so the log is whole before the outcome
-- Returns: 'ok', or 'stale:<status>' when the token does not hold the lease
--          (the lease expired or the mission was cancelled); nothing changes then.
local id, token = ARGV[4], ARGV[5]
local key = mkey(id)
local m = redis.call('HMGET', key, 'type', 'status', 'lease_token', 'started_ms', 'correlation_id', 'tenant', 'traceparent')
if m[2] ~= 'running' or m[3] ~= token then
  return 'stale:' .. tostring(m[2] or 'missing')
end
remember(id, m[5], m[6], m[7])
apply_reports(id, true, tonumber(ARGV[9]), 'plugin', 10)
release(id)
set_status(id, m[1], 'running', 'completed')
redis.call('HSET', key, 'result', ARGV[6], 'finished_ms', NOW_MS)
redis.call('HDEL', key, 'error', 'error_kind')
schedule_expiry(id, ARGV[8])
emit('mission.completed', id, { duration_ms = NOW - tonumber(m[4]), result_summary = ARGV[7] })
return 'ok'
