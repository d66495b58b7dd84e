-- streams: the slots of a tenant's open event streams (SSE), over every host.
-- A slot is a lease: the host serving the stream renews it, and a host that
-- died leaves slots that lapse on their own.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] 'open' | 'renew' | 'close'
-- ARGV[5] tenant
-- ARGV[6] stream id (unique per stream)
-- ARGV[7] lease (ms)
-- ARGV[8] the host's default `sse_streams` quota (KEYS quotas overrides it)
-- Returns: {1, open streams, limit} when the slot is held (or released), or
--          {0, open streams, limit} when opening would pass the limit (nothing changes).
local op, tenant, id, lease = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local key = streams_key(tenant)
if op == 'close' then
  redis.call('ZREM', key, id)
  return { 1, redis.call('ZCARD', key), 0 }
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', NOW)
local limit = tonumber(ARGV[8])
local set = redis.call('HGET', K.quotas, tenant)
if set then
  local q = cjson.decode(set)
  if q.sse_streams then limit = q.sse_streams end
end
local n = redis.call('ZCARD', key)
if op == 'open' and n >= limit then return { 0, n, limit } end
local added = redis.call('ZADD', key, NOW + lease, id)
redis.call('PEXPIRE', key, lease)
return { 1, n + added, limit }
