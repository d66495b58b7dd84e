-- enqueue: creates missions of one tenant, all in one step (a batch is all or
-- none), within the tenant's quotas.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4]  idempotency window (ms)
-- ARGV[5]  the host's default quotas (JSON: queued_missions, submissions_per_second,
--          submission_burst, max_priority, max_timeout_ms, sse_streams); what an
--          admin set for the tenant (KEYS quotas) overrides them field by field
-- ARGV[6..] 17 per mission (store::Queue::enqueue_args), '' for one not given:
--           id, type, priority, payload (JSON text), max_attempts, timeout_ms,
--           run_at_ms (0: now), backoff_base_ms, backoff_cap_ms, correlation_id,
--           idempotency_key, tenant, created_by (idempotency keys are per
--           tenant), traceparent (W3C trace context), name, description, and
--           expires_at_ms ('': the type's ttl_ms, if its settings have one).
--           Numbers arrive as text: stored and put in events as they are.
-- Returns: per mission, in order, {id, 1} if created or {existing id, 0} when its
--          idempotency key was already used within the window; or, with nothing
--          written, the error `UNKNOWN_TYPE <type>` if a type has no active plugin,
--          or `QUOTA <quota> <limit> <retry after (s)> <message>` past a quota.
-- Quotas count only the missions this call creates (not idempotent repeats):
-- waiting missions (pending + retrying) against queued_missions, and a token
-- bucket (rate submissions_per_second, size submission_burst) refilled by time.
local idem_ttl = tonumber(ARGV[4])
local specs, known = {}, {}
local function given(v) if v ~= '' then return v end end
if (#ARGV - 5) % 17 ~= 0 then return redis.error_reply('ERR enqueue takes 17 arguments per mission') end
for i = 6, #ARGV, 17 do
  local spec = { id = ARGV[i], type = ARGV[i + 1], priority = ARGV[i + 2], payload = ARGV[i + 3],
    max_attempts = ARGV[i + 4], timeout_ms = ARGV[i + 5], run_at_ms = ARGV[i + 6], backoff_base_ms = ARGV[i + 7],
    backoff_cap_ms = ARGV[i + 8], correlation_id = ARGV[i + 9], idempotency_key = ARGV[i + 10], tenant = ARGV[i + 11],
    created_by = ARGV[i + 12], traceparent = given(ARGV[i + 13]), name = given(ARGV[i + 14]),
    description = given(ARGV[i + 15]), expires_at_ms = given(ARGV[i + 16]) }
  specs[#specs + 1] = spec
  if not known[spec.type] then
    if redis.call('HEXISTS', K.plugins, spec.type) == 0 then
      return redis.error_reply('UNKNOWN_TYPE ' .. spec.type)
    end
    known[spec.type] = true
  end
end
local tenant = specs[1].tenant

-- Each type's default time to live before start (flow settings), once per type.
local ttls = {}
local function ttl_of(mtype)
  if ttls[mtype] == nil then
    local raw = redis.call('HGET', K.flow, mtype)
    ttls[mtype] = raw and tonumber(cjson.decode(raw).ttl_ms) or false
  end
  return ttls[mtype]
end

local q = cjson.decode(ARGV[5])
local set = redis.call('HGET', K.quotas, tenant)
if set then
  for k, v in pairs(cjson.decode(set)) do q[k] = v end
end
local function over(quota, limit, retry_s, message)
  return redis.error_reply(string.format('QUOTA %s %d %d %s', quota, limit, retry_s, message))
end

-- Per mission: what it asks for. Only an admin can raise these, so the
-- Retry-After is long.
for i, m in ipairs(specs) do
  if m.tenant ~= tenant then return redis.error_reply('ERR one tenant per enqueue call') end
  if tonumber(m.priority) > q.max_priority then
    return over('max_priority', q.max_priority, 60, string.format(
      'mission %d asks for priority %d; tenant %s may use at most %d', i - 1, m.priority, tenant, q.max_priority))
  end
  if tonumber(m.timeout_ms) > q.max_timeout_ms then
    return over('max_timeout_ms', q.max_timeout_ms, 60, string.format(
      'mission %d asks for timeout_ms %d; tenant %s may use at most %d', i - 1, m.timeout_ms, tenant, q.max_timeout_ms))
  end
end

-- Which missions are new: a key used within the window (or earlier in this
-- batch) returns its first mission instead.
local existing, claimed, new_n = {}, {}, 0
for i, m in ipairs(specs) do
  if m.idempotency_key ~= '' then
    local ik = idem_key(m.tenant, m.idempotency_key)
    existing[i] = claimed[ik] or redis.call('GET', ik)
    if not existing[i] then claimed[ik] = m.id end
  end
  if not existing[i] then new_n = new_n + 1 end
end

if new_n > 0 then
  flush_later()
  local waiting = redis.call('ZCARD', status_key(tenant, 'pending')) + redis.call('ZCARD', status_key(tenant, 'retrying'))
  if waiting + new_n > q.queued_missions then
    return over('queued_missions', q.queued_missions, 1, string.format(
      'tenant %s has %d missions waiting; %d more would pass its limit of %d', tenant, waiting, new_n, q.queued_missions))
  end
  local rate, burst = q.submissions_per_second, q.submission_burst
  if new_n > burst then
    return over('submission_burst', burst, 60, string.format(
      '%d missions at once is more than tenant %s may submit at once (%d); send smaller batches', new_n, tenant, burst))
  end
  local bucket = bucket_key(tenant)
  local b = redis.call('HMGET', bucket, 'tokens', 'ts_ms')
  local tokens = tonumber(b[1]) or burst
  local since = math.max(0, NOW - (tonumber(b[2]) or NOW))
  tokens = math.min(burst, tokens + since * rate / 1000)
  if tokens < new_n then
    return over('submissions_per_second', rate, math.max(1, math.ceil((new_n - tokens) / rate)), string.format(
      'tenant %s may submit %d missions per second (up to %d at once)', tenant, rate, burst))
  end
  redis.call('HSET', bucket, 'tokens', string.format('%.3f', tokens - new_n), 'ts_ms', NOW_MS)
  -- Once full again the bucket says nothing a missing one would not.
  redis.call('PEXPIRE', bucket, math.ceil(burst * 1000 / rate) + 1000)
end

local out, created_n = {}, 0
reserve_seq(new_n)
for i, m in ipairs(specs) do
  if existing[i] then
    out[#out + 1] = { existing[i], 0 }
  else
    local id = m.id
    if m.idempotency_key ~= '' then
      redis.call('SET', idem_key(m.tenant, m.idempotency_key), id, 'PX', idem_ttl)
    end
    -- The id is the key's; a correlation id equal to it, an empty
    -- idempotency key, no attempts yet and `updated_ms` equal to `created_ms`
    -- are left out (the readers fill them in): less memory per queued mission.
    -- The fields a claim reads come first (after the status, see set_status):
    -- each read scans the record from its start.
    local fields = { 'type', m.type, 'tenant', m.tenant, 'max_attempts', m.max_attempts,
      'timeout_ms', m.timeout_ms, 'payload', m.payload, 'priority', m.priority,
      'backoff_base_ms', m.backoff_base_ms, 'backoff_cap_ms', m.backoff_cap_ms,
      'created_by', m.created_by, 'created_ms', NOW_MS }
    if m.correlation_id ~= id then
      fields[#fields + 1] = 'correlation_id'
      fields[#fields + 1] = m.correlation_id
    end
    if m.idempotency_key ~= '' then
      fields[#fields + 1] = 'idempotency_key'
      fields[#fields + 1] = m.idempotency_key
    end
    if m.traceparent then
      fields[#fields + 1] = 'traceparent'
      fields[#fields + 1] = m.traceparent
    end
    -- Name and description only when given: most missions have neither.
    for _, f in ipairs({ 'name', 'description' }) do
      if m[f] then
        fields[#fields + 1] = f
        fields[#fields + 1] = m[f]
      end
    end
    local run_at = tonumber(m.run_at_ms)
    local delayed = run_at > NOW
    if delayed then
      fields[#fields + 1] = 'run_at_ms'
      fields[#fields + 1] = m.run_at_ms
    end
    local expires = m.expires_at_ms
    if not expires then
      local ttl = ttl_of(m.type)
      if ttl then expires = string.format('%d', NOW + ttl) end
    end
    if expires then
      fields[#fields + 1] = 'expires_ms'
      fields[#fields + 1] = expires
    end
    remember(id, m.correlation_id, m.tenant, m.traceparent)
    later('ZADD', all_key(m.tenant), NOW_MS, id)
    set_status(id, m.type, nil, 'pending', fields)
    if delayed then
      later('ZADD', K.delayed, m.run_at_ms, id)
    else
      push_ready(id, m.tenant, m.type, m.priority)
    end
    if expires then later('ZADD', K.deadlines, expires, id) end
    -- The payload as text: its numbers are text already (times in seconds
    -- with milliseconds, as NOW_S), and a type name (a plugin's, checked
    -- above; lower-case letters, digits, '.', '_', '-') needs no escaping.
    local created = '{"type":"' .. m.type .. '","priority":' .. m.priority .. ',"max_attempts":'
      .. m.max_attempts .. ',"created_at":' .. NOW_S
    if delayed then created = created .. ',"run_at":' .. string.format('%.3f', run_at / 1000) end
    if expires then created = created .. ',"expires_at":' .. string.format('%.3f', tonumber(expires) / 1000) end
    if m.name then created = created .. ',"name":' .. cjson.encode(m.name) end
    if m.description then created = created .. ',"description":' .. cjson.encode(m.description) end
    emit('mission.created', id, created .. '}')
    created_n = created_n + 1
    out[#out + 1] = { id, 1 }
  end
end
wake(created_n)
return out
