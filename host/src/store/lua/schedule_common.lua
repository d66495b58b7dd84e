-- Shared by the schedule scripts (after the prelude): a schedule's members in
-- the global sets, and its events, which go to its tenant's stream (no mission).

-- `<tenant>/<name>`: a schedule's member in sched_due_key() and sched_all_key().
local function sched_member(tenant, name)
  return tenant .. '/' .. name
end

-- Appends a `schedule.*` event that concerns no single mission to the tenant's stream.
local function emit_schedule(etype, tenant, payload)
  local meta = { schema_version = '1', producer = 'mission-runner', correlation_id = '', tenant = tenant }
  local sid = redis.call('XADD', events_key(tenant), 'MAXLEN', '~', MAXLEN, '*',
    'type', etype, 'mission', '', 'tenant', tenant, 'source', SOURCE, 'timestamp', NOW_S,
    'payload', cjson.encode(payload), 'meta', cjson.encode(meta))
  redis.call('HINCRBY', K.counts, tenant .. '|' .. etype, 1)
  return sid
end
