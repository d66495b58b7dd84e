-- schedule_due: the schedules a host should look at now.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] most schedules to return
-- Returns: { now (Unix ms, the Redis clock), member... } where each member is
--          `<tenant>/<name>` with a due time at or before now, earliest first.
local out = { NOW_MS }
local due = redis.call('ZRANGEBYSCORE', sched_due_key(), '-inf', NOW_MS, 'LIMIT', 0, tonumber(ARGV[4]))
for _, m in ipairs(due) do out[#out + 1] = m end
return out
