-- enqueue: creates missions, all in one step (a batch is all or none).
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4]  idempotency window (ms)
-- ARGV[5..] one JSON object per mission: id, type, priority, payload (JSON text),
--           max_attempts, timeout_ms, run_at_ms (0: now), backoff_base_ms,
--           backoff_cap_ms, correlation_id, idempotency_key (may be empty),
--           tenant, created_by (idempotency keys are per tenant)
-- Returns: per mission, in order, {id, 1} if created or {existing id, 0} when its
--          idempotency key was already used within the window; or the error
--          `UNKNOWN_TYPE <type>` (nothing written) if a type has no active plugin.
local idem_ttl = tonumber(ARGV[4])
local specs, known = {}, {}
for i = 5, #ARGV do
  local spec = cjson.decode(ARGV[i])
  specs[#specs + 1] = spec
  if not known[spec.type] then
    if redis.call('HEXISTS', K.plugins, spec.type) == 0 then
      return redis.error_reply('UNKNOWN_TYPE ' .. spec.type)
    end
    known[spec.type] = true
  end
end
local out, created_n = {}, 0
for _, m in ipairs(specs) do
  local existing = false
  if m.idempotency_key ~= '' then
    local ik = P .. 'idem:' .. m.tenant .. ':' .. m.idempotency_key
    existing = redis.call('GET', ik)
    if not existing then
      redis.call('SET', ik, m.id, 'PX', idem_ttl)
    end
  end
  if existing then
    out[#out + 1] = { existing, 0 }
  else
    local id = m.id
    -- The id is the key's; a correlation id equal to it and an empty
    -- idempotency key are left out (the reader fills them in): less memory.
    local fields = { 'type', m.type, 'priority', m.priority, 'payload', m.payload,
      'attempts', 0, 'max_attempts', m.max_attempts, 'timeout_ms', m.timeout_ms,
      'backoff_base_ms', m.backoff_base_ms, 'backoff_cap_ms', m.backoff_cap_ms,
      'tenant', m.tenant, 'created_by', m.created_by, 'created_ms', NOW_MS }
    if m.correlation_id ~= id then
      fields[#fields + 1] = 'correlation_id'
      fields[#fields + 1] = m.correlation_id
    end
    if m.idempotency_key ~= '' then
      fields[#fields + 1] = 'idempotency_key'
      fields[#fields + 1] = m.idempotency_key
    end
    redis.call('HSET', mkey(id), unpack(fields))
    remember(id, m.correlation_id, m.tenant)
    redis.call('ZADD', all_key(m.tenant), NOW_MS, id)
    set_status(id, m.type, nil, 'pending')
    local run_at = tonumber(m.run_at_ms)
    if run_at > NOW then
      redis.call('HSET', mkey(id), 'run_at_ms', run_at)
      redis.call('ZADD', K.delayed, run_at, id)
    else
      redis.call('ZADD', K.ready, ready_score(m.priority), id)
    end
    local created = { type = m.type, priority = m.priority, status = 'pending',
      max_attempts = m.max_attempts, created_at = NOW / 1000 }
    if run_at > NOW then created.run_at = run_at / 1000 end
    emit('mission.created', id, created)
    created_n = created_n + 1
    out[#out + 1] = { id, 1 }
  end
end
wake(created_n)
return out
