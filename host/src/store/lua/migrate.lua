-- migrate: moves ready missions of a version before flow control (one ready
-- ZSET for all) into their (tenant, type) queues, in their order. Run at
-- start-up until it returns 0; a no-op (one ZRANGE) once the old set is empty.
-- First, it sets each tenant's `waiting` count (see flush_counters) from the
-- status counters, which every version keeps exactly: the count of a data set
-- from before it existed, and of missions moved by hosts of such a version
-- since, is right from here on. It deletes the indexes of pending, retrying
-- and running missions such a version kept. (One HGETALL of the counters, a
-- field per tenant, type and status.)
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] how many to move at most
-- Returns: how many were moved.
local waiting = {}
local counters = redis.call('HGETALL', K.stats)
for i = 1, #counters, 2 do
  local tenant, status = string.match(counters[i], '^([^|]*)|.*|([^|]*)$')
  if tenant then
    waiting[tenant] = (waiting[tenant] or 0) + ((WAITING[status] and tonumber(counters[i + 1])) or 0)
  end
end
for tenant, n in pairs(waiting) do
  redis.call('HSET', K.waiting, tenant, n)
  local old = { status_key(tenant, 'pending'), status_key(tenant, 'retrying'), status_key(tenant, 'running') }
  if redis.call('EXISTS', unpack(old)) > 0 then redis.call('DEL', unpack(old)) end
end

local ids = redis.call('ZRANGE', K.legacy_ready, 0, tonumber(ARGV[4]) - 1)
for _, id in ipairs(ids) do
  redis.call('ZREM', K.legacy_ready, id)
  local m = redis.call('HMGET', mkey(id), 'priority', 'tenant', 'type', 'status')
  if m[3] and (m[4] == 'pending' or m[4] == 'retrying') then
    push_ready(id, m[2] or DEFAULT_TENANT, m[3], m[1])
  end
end
if #ids > 0 then wake(#ids) end
return #ids
