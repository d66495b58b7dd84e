-- heartbeat: renews the leases a worker holds and refreshes its registration.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] lease length (ms)
-- ARGV[5] worker description (JSON object: id, host, pid, started_at, concurrency,
--         worker_threads)
-- ARGV[6..] pairs of mission id, lease token
-- Returns: the ids whose lease is lost (expired and reclaimed, or cancelled);
--          the worker must stop those attempts at once.
local lease_ms = tonumber(ARGV[4])
local until_ms = NOW + lease_ms
local lost, held = {}, {}
for i = 6, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local m = redis.call('HMGET', mkey(id), 'status', 'lease_token')
  if m[1] == 'running' and m[2] == token then
    redis.call('ZADD', K.active, until_ms, id)
    held[#held + 1] = id
  else
    lost[#lost + 1] = id
  end
end

local w = cjson.decode(ARGV[5])
w.missions = held
w.lease_ms = lease_ms
w.last_heartbeat = NOW / 1000
if #held == 0 then w.missions = nil end -- cjson would write {} for an empty table
redis.call('HSET', K.workers, w.id, cjson.encode(w))
redis.call('ZADD', K.seen, NOW, w.id)
-- Forget workers silent for an hour (crashed, or scaled away).
local gone = redis.call('ZRANGEBYSCORE', K.seen, '-inf', NOW - 3600000, 'LIMIT', 0, 100)
for _, id in ipairs(gone) do
  redis.call('HDEL', K.workers, id)
  redis.call('ZREM', K.seen, id)
end
return lost
