-- heartbeat: renews the leases a worker holds.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] lease length (ms)
-- ARGV[5..] pairs of mission id, lease token
-- Returns: the ids whose lease is lost (expired and reclaimed, or cancelled);
--          the worker must stop those attempts at once.
local until_ms = NOW + tonumber(ARGV[4])
local lost = {}
for i = 5, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local m = redis.call('HMGET', mkey(id), 'status', 'lease_token')
  if m[1] == 'running' and m[2] == token then
    redis.call('HSET', mkey(id), 'lease_until', until_ms)
    redis.call('ZADD', K.active, until_ms, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
