-- claim: promotes due delayed missions, then leases up to N ready missions to a worker.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] how many missions to claim at most
-- ARGV[5] worker id
-- ARGV[6] lease length (ms)
-- ARGV[7] token prefix (unique per call); each lease token is prefix .. ':' .. n
-- ARGV[8] how many due delayed missions to promote at most
-- Returns: {due_in_ms, m1, m2, ...} where due_in_ms is how long until the earliest
--          delayed mission is due (-1 if none) and each m is
--          {id, token, type, attempt, max_attempts, payload, timeout_ms, correlation_id,
--          plugin, plugin digest, traceparent, tenant}: the plugin version (`name@version`, '' if none)
--          active for its type at this moment, which the worker must run, and
--          the submission's trace context ('' if none), and the mission's tenant
--          (the namespace of its plugin's configuration overrides and key-value state).
local count, worker, lease_ms, token_prefix = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7]

-- Promote due missions: they keep their status (pending or retrying) until claimed.
local due = redis.call('ZRANGEBYSCORE', K.delayed, '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[8]))
for _, id in ipairs(due) do
  redis.call('ZREM', K.delayed, id)
  local prio = redis.call('HGET', mkey(id), 'priority')
  if prio then
    redis.call('ZADD', K.ready, ready_score(prio), id)
  end
end

local out = { -1 }
local plugins = {}
local popped = redis.call('ZPOPMIN', K.ready, count)
for i = 1, #popped, 2 do
  local id = popped[i]
  local key = mkey(id)
  local m = redis.call('HMGET', key, 'type', 'status', 'max_attempts', 'payload', 'timeout_ms', 'correlation_id', 'tenant',
    'traceparent')
  if m[1] then
    remember(id, m[6], m[7], m[8])
    local attempt = redis.call('HINCRBY', key, 'attempts', 1)
    local token = token_prefix .. ':' .. i
    local until_ms = NOW + lease_ms
    set_status(id, m[1], m[2], 'running')
    local plugin = plugins[m[1]]
    if not plugin then
      local active = redis.call('HGET', K.plugins, m[1])
      plugin = active and cjson.decode(active) or { name = '', version = '', digest = '' }
      plugins[m[1]] = plugin
    end
    -- The digest without its `sha256:` is 64 characters: short enough for Redis
    -- to keep a small record in its compact encoding (listpack).
    redis.call('HSET', key, 'lease_token', token, 'lease_until', until_ms, 'worker', worker, 'started_ms', NOW_MS,
      'plugin_digest', string.gsub(plugin.digest, '^sha256:', ''), 'plugin', plugin.name .. '@' .. plugin.version)
    redis.call('HDEL', key, 'next_attempt_ms', 'run_at_ms')
    redis.call('ZADD', K.active, until_ms, id)
    -- old_status: pending or retrying, which only this script knows (readers
    -- derive every other event's status change from its type and payload).
    emit('mission.started', id, { worker_id = worker, attempt = attempt, max_attempts = tonumber(m[3]),
      plugin = plugin.name, plugin_version = plugin.version, plugin_digest = plugin.digest, old_status = m[2] })
    local plugin_ref = ''
    if plugin.name ~= '' then plugin_ref = plugin.name .. '@' .. plugin.version end
    out[#out + 1] = { id, token, m[1], attempt, tonumber(m[3]), m[4], tonumber(m[5]), m[6] or id, plugin_ref, plugin.digest,
      m[8] or '', m[7] or DEFAULT_TENANT }
  end
end

if redis.call('ZCARD', K.ready) == 0 then
  -- Nothing left to hand out: markers would only cause empty claims.
  redis.call('DEL', K.wake)
end
local next_due = redis.call('ZRANGE', K.delayed, 0, 0, 'WITHSCORES')
if next_due[2] then out[1] = math.max(0, tonumber(next_due[2]) - NOW) end
return out
