-- enqueue: creates missions of one tenant, all in one step (a batch is all or
-- none), within the tenant's quotas.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4]  idempotency window (ms)
-- ARGV[5]  the host's default quotas (JSON: queued_missions, submissions_per_second,
--          submission_burst, max_priority, max_timeout_ms, sse_streams); what an
--          admin set for the tenant (KEYS quotas) overrides them field by field
-- ARGV[6..] 18 per mission (store::Queue::enqueue_args), '' for one not given:
--           id, type, priority, payload (JSON text), max_attempts, timeout_ms,
--           run_at_ms (0: now), backoff_base_ms, backoff_cap_ms, correlation_id,
--           idempotency_key, tenant, created_by (idempotency keys are per
--           tenant), traceparent (W3C trace context), name, description,
--           expires_at_ms ('': the type's ttl_ms, if its settings have one), and
--           the optional fields the record stores, one letter each (OPTIONAL,
--           generated from model::submission::OPTIONAL_FIELDS; the host picks
--           those given and not their record default): most missions store
--           none or one, and a check of all nine was a tenth of this script's work.
--           Numbers arrive as text: stored and put in events as they are.
-- Returns: the missions not created because their idempotency key was already
--          used within the window, as pairs {position (1-based), existing id, ...}
--          (the rest were created under the ids given: no reply to build for
--          them); or, with nothing written, the error `UNKNOWN_TYPE <type>` if a
--          type has no active plugin, or `QUOTA <quota> <limit> <retry after (s)>
--          <message>` past a quota.
-- Quotas count only the missions this call creates (not idempotent repeats):
-- waiting missions (pending + retrying) against queued_missions, and a token
-- bucket (rate submissions_per_second, size submission_burst) refilled by time.
-- The missions are read from ARGV in place, at offsets from their first
-- argument: a table per mission cost more than the rest of its Lua.
local A = ARGV
local idem_ttl = tonumber(A[4])
if (#ARGV - 5) % 18 ~= 0 then return redis.error_reply('ERR enqueue takes 18 arguments per mission') end
local known = {}
for i = 6, #ARGV, 18 do
  local mtype = A[i + 1]
  if not known[mtype] then
    if redis.call('HEXISTS', K.plugins, mtype) == 0 then
      return redis.error_reply('UNKNOWN_TYPE ' .. mtype)
    end
    known[mtype] = true
  end
end
local tenant = A[17]

-- Each type's default time to live before start (flow settings), once per type.
local ttls = {}
local function ttl_of(mtype)
  if ttls[mtype] == nil then
    local raw = redis.call('HGET', K.flow, mtype)
    ttls[mtype] = raw and tonumber(cjson.decode(raw).ttl_ms) or false
  end
  return ttls[mtype]
end

local q = cjson.decode(A[5])
local set = redis.call('HGET', K.quotas, tenant)
if set then
  for k, v in pairs(cjson.decode(set)) do q[k] = v end
end
local function over(quota, limit, retry_s, message)
  return redis.error_reply(string.format('QUOTA %s %d %d %s', quota, limit, retry_s, message))
end

-- Numbers by their text: a batch holds few distinct priorities and
-- timeouts, and a tonumber of text is a strtod.
local numbers = {}
local function number(text)
  local v = numbers[text]
  if not v then
    v = tonumber(text)
    numbers[text] = v
  end
  return v
end

-- Per mission: what it asks for. Only an admin can raise these, so the
-- Retry-After is long. Which missions are new: a key used within the window
-- (or earlier in this batch) returns its first mission instead.
local existing, claimed, new_n, n, priorities = {}, {}, 0, 0, {}
for i = 6, #ARGV, 18 do
  n = n + 1
  if A[i + 11] ~= tenant then return redis.error_reply('ERR one tenant per enqueue call') end
  local priority = number(A[i + 2])
  priorities[n] = priority
  if priority > q.max_priority then
    return over('max_priority', q.max_priority, 60, string.format(
      'mission %d asks for priority %d; tenant %s may use at most %d', n - 1, priority, tenant, q.max_priority))
  end
  local timeout = number(A[i + 5])
  if timeout > q.max_timeout_ms then
    return over('max_timeout_ms', q.max_timeout_ms, 60, string.format(
      'mission %d asks for timeout_ms %d; tenant %s may use at most %d', n - 1, timeout, tenant, q.max_timeout_ms))
  end
  local ikey = A[i + 10]
  if ikey ~= '' then
    local ik = idem_key(tenant, ikey)
    existing[n] = claimed[ik] or redis.call('GET', ik)
    if not existing[n] then claimed[ik] = A[i] end
  end
  if not existing[n] then new_n = new_n + 1 end
end

if new_n > 0 then
  local waiting = tonumber(redis.call('HGET', K.waiting, tenant)) or 0
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

local out, all = {}, all_key(tenant)
reserve_seq(new_n)
n = 0
for i = 6, #ARGV, 18 do
  n = n + 1
  if existing[n] then
    out[#out + 1] = n
    out[#out + 1] = existing[n]
  else
    local id, mtype, priority, max_attempts = A[i], A[i + 1], A[i + 2], A[i + 4]
    local cid, ikey, tp, name, description = A[i + 9], A[i + 10], A[i + 13], A[i + 14], A[i + 15]
    if ikey ~= '' then redis.call('SET', idem_key(tenant, ikey), id, 'PX', idem_ttl) end
    -- The id is the key's; a correlation id equal to it, an empty
    -- idempotency key, no attempts yet, `updated_ms` equal to `created_ms`,
    -- the default tenant and a value equal to its record default
    -- (RECORD_DEFAULT, from model::mission::RECORD_DEFAULTS) are left out
    -- (the readers fill them in): less memory per queued mission, and less
    -- for Redis to write. The fields a claim reads come first (after the
    -- status, see set_status): each read scans the record from its start.
    -- (One constructor per case: a table grown after it is built is copied,
    -- so only a record with optional fields grows.)
    local fields
    if tenant == DEFAULT_TENANT then
      fields = { 'type', mtype, 'payload', A[i + 3], 'created_by', A[i + 12], 'created_ms', NOW_MS }
    else
      fields = { 'type', mtype, 'tenant', tenant, 'payload', A[i + 3], 'created_by', A[i + 12], 'created_ms', NOW_MS }
    end
    local stored = A[i + 17]
    for k = 1, #stored do
      local o = OPTIONAL[string.byte(stored, k)]
      fields[#fields + 1] = o[1]
      fields[#fields + 1] = A[i + o[2]]
    end
    if cid ~= id then
      fields[#fields + 1] = 'correlation_id'
      fields[#fields + 1] = cid
    end
    local run_at = A[i + 6]
    local delayed = run_at ~= '0' and tonumber(run_at) > NOW
    if delayed then
      fields[#fields + 1] = 'run_at_ms'
      fields[#fields + 1] = run_at
    end
    local expires = A[i + 16]
    if expires == '' then
      local ttl = ttl_of(mtype)
      if ttl then expires = string.format('%d', NOW + ttl) end
    end
    if expires ~= '' then
      fields[#fields + 1] = 'expires_ms'
      fields[#fields + 1] = expires
    end
    remember(id, cid, tenant, tp ~= '' and tp)
    later('ZADD', all, NOW_MS, id)
    set_status(id, mtype, nil, 'pending', unpack(fields))
    if delayed then
      later('ZADD', K.delayed, run_at, id)
    else
      push_ready(id, tenant, mtype, priorities[n])
    end
    if expires ~= '' then later('ZADD', K.deadlines, expires, id) end
    -- The payload as text: its numbers are text already (times in seconds
    -- with milliseconds, as NOW_S), and a type name (a plugin's, checked
    -- above; lower-case letters, digits, '.', '_', '-') needs no escaping.
    local created = '{"type":"' .. mtype .. '","priority":' .. priority .. ',"max_attempts":' .. max_attempts
      .. ',"created_at":' .. NOW_S
    if delayed then created = created .. ',"run_at":' .. string.format('%.3f', tonumber(run_at) / 1000) end
    if expires ~= '' then created = created .. ',"expires_at":' .. string.format('%.3f', tonumber(expires) / 1000) end
    if name ~= '' then created = created .. ',"name":' .. cjson.encode(name) end
    if description ~= '' then created = created .. ',"description":' .. cjson.encode(description) end
    emit('mission.created', id, created .. '}')
  end
end
wake(new_n)
return out
