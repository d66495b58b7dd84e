-- schedule_delete: deletes a schedule (the missions it created stay), with its event.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] tenant
-- ARGV[5] name
-- ARGV[6] who
-- Returns: 1 if it was deleted, 0 if there was no such schedule.
local tenant, name = ARGV[4], ARGV[5]
local key = sched_key(tenant, name)
if redis.call('DEL', key) == 0 then return 0 end
local member = sched_member(tenant, name)
redis.call('SREM', sched_names_key(tenant), name)
redis.call('ZREM', sched_all_key(), member)
redis.call('ZREM', sched_due_key(), member)
emit_schedule('schedule.deleted', tenant, { schedule = name, by = ARGV[6] })
return 1
