-- report: appends what a plugin or client reported, in order: log lines (each
-- with a mission.log_appended event) and progress (on the record, each with a
-- mission.progress event).
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] mission id
-- ARGV[5] lease token of the attempt reporting ('' for a client); progress is
--         only accepted while this token holds the lease
-- ARGV[6] most lines a mission's log keeps; lines past it are only counted
-- ARGV[7] who reports: 'plugin' or 'client'
-- ARGV[8..] triples: 'log', level, message | 'progress', percent, message
-- Returns: how many reports were stored (-1 if the mission does not exist).
local id, token, cap, origin = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
local key = mkey(id)
local m = redis.call('HMGET', key, 'status', 'lease_token', 'correlation_id', 'tenant', 'traceparent')
if not m[1] then return -1 end
remember(id, m[3], m[4], m[5])
local leased = token ~= '' and m[1] == 'running' and m[2] == token
return apply_reports(id, leased, cap, origin, 8)
