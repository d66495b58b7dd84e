-- flow_set: pauses, resumes or sets the limits of one mission type, or pauses or
-- resumes every type ('*'), with its event; parked queues of the type are made
-- claimable again (a claim parks them anew if they still are blocked) and idle
-- workers are woken, so the change applies at the next claim of every host.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] mission type, or '*' for every type
-- ARGV[5] what: 'pause' | 'resume' | 'limits'
-- ARGV[6] who (principal name)
-- ARGV[7] for 'limits': JSON {concurrency?, rate?: {limit, window_ms, burst?}, ttl_ms?}
-- Returns: the settings now (JSON text; '{}' when none), or 'unchanged' for a
--          pause of a paused type or a resume of a running one (no event then).
local mtype, what, by = ARGV[4], ARGV[5], ARGV[6]
local raw = redis.call('HGET', K.flow, mtype)
local f = raw and cjson.decode(raw) or {}
local scope = mtype == '*' and 'queue' or 'type'
local payload = { scope = scope }
if mtype ~= '*' then payload.mission_type = mtype end
if what == 'pause' then
  if f.paused then return 'unchanged' end
  f.paused = { by = by, at = NOW / 1000 }
  payload.paused_by = by
  emit('queue.paused', nil, payload)
elseif what == 'resume' then
  if not f.paused then return 'unchanged' end
  f.paused = nil
  payload.resumed_by = by
  emit('queue.resumed', nil, payload)
elseif what == 'limits' then
  local l = cjson.decode(ARGV[7])
  f.concurrency, f.rate, f.ttl_ms = l.concurrency, l.rate, l.ttl_ms
  -- A new rate starts with a full bucket.
  redis.call('HDEL', K.rates, mtype .. '|tokens', mtype .. '|ts')
  payload.changed_by = by
  payload.concurrency, payload.rate, payload.ttl_ms = l.concurrency, l.rate, l.ttl_ms
  emit('queue.limits_changed', nil, payload)
else
  return redis.error_reply('ERR unknown flow change ' .. what)
end
local out = '{}'
if next(f) == nil then
  redis.call('HDEL', K.flow, mtype)
  if mtype ~= '*' then redis.call('HDEL', K.running, mtype) end
else
  if not raw and mtype ~= '*' then
    -- From now on set_status keeps the type's running count: start it from
    -- the per-tenant counters (one read of the stats hash, on this rare change).
    local stats, running = redis.call('HGETALL', K.stats), 0
    local suffix = '|' .. mtype .. '|running'
    for i = 1, #stats, 2 do
      local field = stats[i]
      if string.sub(field, -#suffix) == suffix and not string.find(string.sub(field, 1, -#suffix - 1), '|', 1, true) then
        running = running + tonumber(stats[i + 1])
      end
    end
    redis.call('HSET', K.running, mtype, running)
  end
  out = cjson.encode(f)
  redis.call('HSET', K.flow, mtype, out)
end
if mtype == '*' then
  wake(256)
else
  redis.call('ZREM', K.wakeups, mtype)
  unblock(mtype)
end
return out
