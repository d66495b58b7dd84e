-- complete: ends running attempts in success, any number in one call (a
-- worker acknowledges together the attempts that finished while its previous
-- call was in flight: the script's fixed cost is paid once per batch).
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] retention of finished missions (ms, 0: keep)
-- ARGV[5] most lines a mission's log keeps
-- ARGV[6..] per attempt: mission id, lease token, then what its claim returned
--          (type, tenant, correlation id, traceparent or '', attempt number,
--          start time in ms), result (JSON text), result summary for the
--          event (the truncated result as a JSON string), n, then the
--          attempt's last n reports, not
--          yet stored (triples, as report.lua takes them): written first, so
--          the log is whole before the outcome. The claimed parts never change
--          and the token ties them to this lease: the record itself is read
--          only for its status and token (each field read from a record is a
--          scan of it, and most of these would be scans to its end).
-- Returns: per attempt, in order, 'ok', or 'stale:<status>' when its token does
--          not hold the lease (the lease expired or the mission was cancelled);
--          nothing changes for that attempt then.
-- Numbers parsed once per call (a tonumber of text is a strtod).
local retention_ms, cap = tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {}
-- A local: each read of the global ARGV is a lookup by name.
local A, n = ARGV, #ARGV
local i = 6
while i <= n do
  local id, token, mtype, tenant, cid, tp, attempt, started, result, summary =
    A[i], A[i + 1], A[i + 2], A[i + 3], A[i + 4], A[i + 5], A[i + 6], A[i + 7], A[i + 8], A[i + 9]
  local reports = A[i + 10]
  local first, last = i + 11, reports == '0' and i + 10 or i + 10 + 3 * tonumber(reports)
  i = last + 1
  local key = mkey(id)
  local m = redis.call('HMGET', key, 'status', 'lease_token')
  if m[1] ~= 'running' or m[2] ~= token then
    out[#out + 1] = 'stale:' .. tostring(m[1] or 'missing')
  else
    remember(id, cid, tenant, tp ~= '' and tp or nil)
    if last >= first then apply_reports(id, true, cap, 'plugin', first, last) end
    -- Only an attempt after the first can find an earlier attempt's error
    -- (every failure ends its attempt, and a re-drive clears it).
    release(id, attempt ~= '1' and { 'error', 'error_kind' } or nil)
    set_status(id, mtype, 'running', 'completed', 'result', result)
    schedule_expiry(id, retention_ms)
    -- The payload from text as it came (see itoa): the attempt's start, from
    -- which readers derive its duration (the entry's time is its end).
    emit('mission.completed', id, '{"started_ms":' .. started .. ',"result_summary":' .. summary .. '}')
    out[#out + 1] = 'ok'
  end
end
return out
