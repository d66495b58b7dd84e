-- schedule_pause: pauses or resumes a schedule, with its event. Paused, it
-- leaves the due set, so no host looks at it; resumed, it ticks from the
-- next tick after now (ticks that passed while paused are not caught up),
-- and a tick buffered before the pause is dropped.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] tenant
-- ARGV[5] name
-- ARGV[6] 'pause' or 'resume'
-- ARGV[7] resume: the next tick (Unix ms; 0: none)
-- ARGV[8] who
-- Returns: 'ok', 'same' (already in that state) or 'missing'.
local tenant, name, op, who = ARGV[4], ARGV[5], ARGV[6], ARGV[8]
local key = sched_key(tenant, name)
local paused = redis.call('HGET', key, 'paused')
if not paused then return 'missing' end
local member = sched_member(tenant, name)
if op == 'pause' then
  if paused == '1' then return 'same' end
  redis.call('HSET', key, 'paused', '1', 'updated_ms', NOW_MS)
  redis.call('ZREM', sched_due_key(), member)
  emit_schedule('schedule.paused', tenant, { schedule = name, by = who })
  return 'ok'
end
if paused ~= '1' then return 'same' end
local next_ms = tonumber(ARGV[7])
redis.call('HSET', key, 'paused', '0', 'next_ms', ARGV[7], 'updated_ms', NOW_MS)
redis.call('HDEL', key, 'buffered_ms')
if next_ms > 0 then redis.call('ZADD', sched_due_key(), next_ms, member) end
emit_schedule('schedule.resumed', tenant, { schedule = name, by = who, next_tick = next_ms / 1000 })
return 'ok'
