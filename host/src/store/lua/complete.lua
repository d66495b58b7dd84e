-- complete: ends running attempts in success, any number in one call (a
-- worker acknowledges together the attempts that finished while its previous
-- call was in flight: the script's fixed cost is paid once per batch).
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] retention of finished missions (ms, 0: keep)
-- ARGV[5] most lines a mission's log keeps
-- ARGV[6..] per attempt: mission id, lease token, result (JSON text), result
--          summary for the event (truncated result), n, then the attempt's
--          last n reports, not yet stored (triples, as report.lua takes them):
--          written first, so the log is whole before the outcome
-- Returns: per attempt, in order, 'ok', or 'stale:<status>' when its token does
--          not hold the lease (the lease expired or the mission was cancelled);
--          nothing changes for that attempt then.
local retention_ms, cap = ARGV[4], tonumber(ARGV[5])
local out = {}
local i = 6
while i <= #ARGV do
  local id, token, result, summary = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local first, last = i + 5, i + 4 + 3 * tonumber(ARGV[i + 4])
  i = last + 1
  local key = mkey(id)
  local m = redis.call('HMGET', key, 'type', 'status', 'lease_token', 'started_ms', 'correlation_id', 'tenant', 'traceparent')
  if m[2] ~= 'running' or m[3] ~= token then
    out[#out + 1] = 'stale:' .. tostring(m[2] or 'missing')
  else
    remember(id, m[5], m[6], m[7])
    apply_reports(id, true, cap, 'plugin', first, last)
    -- The error of an earlier attempt goes with the lease, in one HDEL.
    release(id, { 'error', 'error_kind' })
    set_status(id, m[1], 'running', 'completed', { 'result', result, 'finished_ms', NOW_MS })
    schedule_expiry(id, retention_ms)
    -- The payload as text (see itoa); the summary goes in as a JSON string.
    emit('mission.completed', id, '{"duration_ms":' .. itoa(NOW - (tonumber(m[4]) or NOW)) .. ',"result_summary":'
      .. cjson.encode(summary) .. '}')
    out[#out + 1] = 'ok'
  end
end
return out
