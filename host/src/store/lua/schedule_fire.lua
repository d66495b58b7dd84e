-- schedule_fire: applies one step a host computed for a due schedule
-- (model::schedule_plan), if the schedule is still as the host saw it: its
-- next tick, last mission, buffered tick, and whether that mission was still
-- running (compare-and-set). Hosts compute the same step concurrently; the
-- first to arrive applies it and the others find it stale, so each tick
-- creates exactly one mission. In the same step: the tick missions are
-- created through the enqueue script's own code (enqueue_missions, loaded
-- before this; same quotas, idempotency key `schedule:<name>:<tick>`), each
-- records its `schedule` and `schedule_tick`, the schedule its next tick, and
-- each decision its event (`schedule.fired`, `schedule.skipped`).
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4], ARGV[5] and ARGV[6..#ARGV-1]: as the enqueue script (one mission
--          per tick in `fire`, in order; none when `fire` is empty).
-- ARGV[#ARGV] the step (JSON): tenant, name; expect_next, expect_last,
--          expect_buffered, expect_running (what the host saw: 0 or '' for
--          none); fire (ticks, ms), skipped ({tick, reason} pairs), missed
--          ({first, last, count} of ticks skipped by the catch-up policy, or
--          empty), buffered, next, due (ms; 0: none)
-- Returns: {'ok', fired, skipped, refusal ('' if none)}, or {'stale'},
--          {'gone'} or {'paused'} with nothing written.
local step = STEP
local tenant, name = step.tenant, step.name
local key = sched_key(tenant, name)
local member = sched_member(tenant, name)
local r = redis.call('HMGET', key, 'next_ms', 'last_mission', 'buffered_ms', 'paused')
if not r[1] then
  redis.call('ZREM', sched_due_key(), member)
  return { 'gone' }
end
if r[4] == '1' then return { 'paused' } end
if (tonumber(r[1]) or 0) ~= step.expect_next or (r[2] or '') ~= step.expect_last
    or (tonumber(r[3]) or 0) ~= step.expect_buffered then
  return { 'stale' }
end
local running = false
if r[2] then
  local st = redis.call('HGET', mkey(r[2]), 'status')
  running = st ~= false and st ~= 'completed' and st ~= 'failed' and st ~= 'cancelled'
end
if running ~= step.expect_running then return { 'stale' } end

local fired, skipped, refusal = 0, 0, ''
local function skip(tick, reason, extra)
  local p = { schedule = name, tick = tick / 1000, reason = reason }
  for k, v in pairs(extra or {}) do p[k] = v end
  emit_schedule('schedule.skipped', tenant, p)
  skipped = skipped + 1
end
if #step.fire > 0 then
  local res = enqueue_missions()
  if res.err then
    -- Refused (a quota, no plugin for the type): the ticks pass, skipped.
    refusal = res.err
    for _, tick in ipairs(step.fire) do skip(tick, 'refused', { error = res.err }) end
  else
    -- The missions' ids, the first mission of a repeated idempotency key
    -- in place of one not created (enqueue.lua's reply names only those).
    local repeats = {}
    for k = 1, #res, 2 do repeats[res[k]] = res[k + 1] end
    for i, tick in ipairs(step.fire) do
      local created = not repeats[i]
      local id = repeats[i] or ARGV[6 + (i - 1) * 18]
      if created then
        redis.call('HSET', mkey(id), 'schedule', name, 'schedule_tick', string.format('%d', tick))
      end
      emit('schedule.fired', id, { schedule = name, tick = tick / 1000, created = created })
      redis.call('HSET', key, 'last_mission', id, 'last_tick_ms', string.format('%d', tick))
      fired = fired + 1
    end
  end
end
for _, s in ipairs(step.skipped) do skip(s[1], s[2]) end
if #step.missed == 3 then
  local first, last, count = step.missed[1], step.missed[2], step.missed[3]
  emit_schedule('schedule.skipped', tenant, { schedule = name, reason = 'catch_up',
    first_tick = first / 1000, last_tick = last / 1000, ticks = count })
  skipped = skipped + count
end
redis.call('HINCRBY', key, 'fired', fired)
redis.call('HINCRBY', key, 'skipped', skipped)
redis.call('HSET', key, 'next_ms', string.format('%d', step.next))
if step.buffered > 0 then
  redis.call('HSET', key, 'buffered_ms', string.format('%d', step.buffered))
else
  redis.call('HDEL', key, 'buffered_ms')
end
if step.due > 0 then
  redis.call('ZADD', sched_due_key(), step.due, member)
else
  redis.call('ZREM', sched_due_key(), member)
end
return { 'ok', fired, skipped, refusal }
