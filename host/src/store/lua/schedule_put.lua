-- schedule_put: creates a schedule, or replaces the spec of an existing one
-- (its counters, last mission and pause state stay), with its event.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4]  'create' or 'update'
-- ARGV[5]  tenant
-- ARGV[6]  name
-- ARGV[7]  spec (JSON, model::schedule::ScheduleSpec)
-- ARGV[8]  next tick (Unix ms; 0: none)
-- ARGV[9]  '1' to create it paused (create only)
-- ARGV[10] schedules one tenant may hold (create only)
-- ARGV[11] who (the principal's name)
-- Returns: 'ok', 'exists' (create: the name is taken), 'missing' (update: no
--          such schedule) or 'quota' (create: the tenant holds its maximum).
local mode, tenant, name, spec, next_ms, who = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[11]
local key = sched_key(tenant, name)
local member = sched_member(tenant, name)
local exists = redis.call('EXISTS', key) == 1
local paused
if mode == 'create' then
  if exists then return 'exists' end
  if redis.call('SCARD', sched_names_key(tenant)) >= tonumber(ARGV[10]) then return 'quota' end
  paused = ARGV[9]
  redis.call('HSET', key, 'name', name, 'tenant', tenant, 'spec', spec, 'next_ms', next_ms, 'paused', paused,
    'created_by', who, 'created_ms', NOW_MS, 'updated_ms', NOW_MS, 'fired', 0, 'skipped', 0)
  redis.call('SADD', sched_names_key(tenant), name)
  redis.call('ZADD', sched_all_key(), NOW_MS, member)
  emit_schedule('schedule.created', tenant, { schedule = name, by = who, spec = cjson.decode(spec),
    next_tick = tonumber(next_ms) / 1000, paused = paused == '1' })
else
  if not exists then return 'missing' end
  paused = redis.call('HGET', key, 'paused')
  redis.call('HSET', key, 'spec', spec, 'next_ms', next_ms, 'updated_ms', NOW_MS)
  -- A new spec starts afresh: a tick buffered under the old one is dropped.
  redis.call('HDEL', key, 'buffered_ms')
  emit_schedule('schedule.updated', tenant, { schedule = name, by = who, spec = cjson.decode(spec),
    next_tick = tonumber(next_ms) / 1000 })
end
if paused ~= '1' and tonumber(next_ms) > 0 then
  redis.call('ZADD', sched_due_key(), next_ms, member)
else
  redis.call('ZREM', sched_due_key(), member)
end
return 'ok'
