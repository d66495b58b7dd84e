-- claim: promotes due delayed missions, then leases up to N ready missions to a worker,
-- tenants in fair share, types within a tenant by priority, past no paused or
-- limited type and past no mission of another tenant.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] how many missions to claim at most
-- ARGV[5] worker id
-- ARGV[6] lease length (ms)
-- ARGV[7] lease token (unique per call), the same for every mission this call
--         leases: a token is checked against its own mission's record, so it
--         tells one lease of a mission from another, and a token per mission
--         would cost a number formatted per mission (see itoa)
-- ARGV[8] how many due delayed missions to promote at most
-- ARGV[9] retention of finished missions (ms, 0: keep), for missions found expired
-- Returns: {due_in_ms, started_ms, m1..., m2..., ...}, flat (a table per
--          mission costs Redis more to reply than its fields), where due_in_ms
--          is how long until the earliest delayed mission is due or a
--          rate-limited type has a token again (-1 if neither), started_ms the
--          start time of every attempt it leases (which complete.lua takes
--          back), and each m is 11 values (the token is ARGV[7] for every one):
--          id, type, attempt, max_attempts, payload, timeout_ms, correlation_id,
--          plugin, plugin digest, traceparent, tenant: the plugin version (`name@version`, '' if none)
--          active for its type at this moment, which the worker must run, and
--          the submission's trace context ('' if none), and the mission's tenant
--          (the namespace of its plugin's configuration overrides and key-value state).
local count, worker, lease_ms, token = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7]
local retention_ms = ARGV[9]

-- The structure (see store/flow.rs): `ready` holds tenants by pass; each
-- tenant's `types` index holds its claimable types by head score; each
-- (tenant, type) queue holds missions by priority and sequence. A type that is
-- paused or over a limit is parked (taken out of the tenant's index into the
-- type's `blocked` set) when a claim meets it: O(1) per type, never per mission.

-- The earliest delayed mission and rate wake-up, read once: the ranges below
-- (and the re-reads at the end) only when something is due, which most claims
-- of a busy queue are not.
local first_due = redis.call('ZRANGE', K.delayed, 0, 0, 'WITHSCORES')
local first_wake = redis.call('ZRANGE', K.wakeups, 0, 0, 'WITHSCORES')
local function is_due(head) return head[2] and tonumber(head[2]) <= NOW end

-- Promote due missions: they keep their status (pending or retrying) until
-- claimed; their run_at goes now (it has passed), so the start needs no HDEL.
local due = {}
if is_due(first_due) then
  due = redis.call('ZRANGEBYSCORE', K.delayed, '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[8]))
end
for _, id in ipairs(due) do
  redis.call('ZREM', K.delayed, id)
  local m = redis.call('HMGET', mkey(id), 'priority', 'tenant', 'type', 'run_at_ms')
  if m[3] then
    if m[4] then redis.call('HDEL', mkey(id), 'run_at_ms') end
    push_ready(id, m[2] or DEFAULT_TENANT, m[3], m[1])
  end
end

-- Rate-limited types whose bucket has refilled become claimable again.
local woken = {}
if is_due(first_wake) then woken = redis.call('ZRANGEBYSCORE', K.wakeups, '-inf', NOW, 'LIMIT', 0, 100) end
for _, mtype in ipairs(woken) do
  redis.call('ZREM', K.wakeups, mtype)
  unblock(mtype)
end
-- Whether this call changed the wake-ups (then the end reads them again).
local wakeups_moved = #woken > 0

-- Per-call caches: each type's settings (false: none) and each tenant's weight.
local flows, weights = {}, {}
local function flow_of(mtype)
  local f = flows[mtype]
  if f == nil then
    local raw = redis.call('HGET', K.flow, mtype)
    f = raw and cjson.decode(raw) or false
    flows[mtype] = f
    FLOWED[mtype] = f ~= false
  end
  return f
end
local function weight_of(tenant)
  local w = weights[tenant]
  if not w then
    w = tonumber(redis.call('HGET', K.weights, tenant)) or 1
    weights[tenant] = w
  end
  return w
end

-- How many of `mtype` may start now (at most `want`), 0 if it is blocked;
-- and the rate bucket's tokens (nil: no rate limit).
local function allowance(mtype, want)
  local f = flow_of(mtype)
  if not f then return want, nil end
  if f.paused then return 0, nil end
  if f.concurrency then
    local running = tonumber(redis.call('HGET', K.running, mtype)) or 0
    want = math.min(want, f.concurrency - running)
    if want <= 0 then return 0, nil end
  end
  local tokens
  if f.rate then
    local b = redis.call('HMGET', K.rates, mtype .. '|tokens', mtype .. '|ts')
    local burst = f.rate.burst or f.rate.limit
    tokens = tonumber(b[1]) or burst
    local since = math.max(0, NOW - (tonumber(b[2]) or NOW))
    tokens = math.min(burst, tokens + since * f.rate.limit / f.rate.window_ms)
    want = math.min(want, math.floor(tokens))
    if want <= 0 then
      -- Asleep until the next token: the claim after that time wakes it.
      local wait = math.ceil((1 - tokens) * f.rate.window_ms / f.rate.limit)
      redis.call('ZADD', K.wakeups, 'LT', NOW + math.max(1, wait), mtype)
      wakeups_moved = true
      return 0, tokens
    end
  end
  return want, tokens
end

local out = { -1, NOW_MS }
local plugins = {}
-- The same for every mission of this call: formatted once.
local until_ms = itoa(NOW + lease_ms)
local worker_json = '{"worker_id":' .. cjson.encode(worker)
local function start(id)
  local key = mkey(id)
  local m = redis.call('HMGET', key, 'type', 'status', 'max_attempts', 'payload', 'timeout_ms', 'correlation_id', 'tenant',
    'traceparent', 'expires_ms')
  if not m[1] then return end
  remember(id, m[6], m[7], m[8])
  if m[9] then
    -- Checked here, in the claiming step itself: never started past its expiry.
    if NOW >= tonumber(m[9]) then
      expire_waiting(id, m[1], m[2], retention_ms)
      return false
    end
    redis.call('ZREM', K.deadlines, id)
    redis.call('HDEL', key, 'expires_ms')
  end
  -- Written with the status: no HINCRBY of its own. A pending mission has
  -- made no attempt (a re-drive starts it again from none): only a retry's
  -- count is read, and each field read is a scan of the record.
  local attempt = 1
  if m[2] == 'retrying' then attempt = (tonumber(redis.call('HGET', key, 'attempts')) or 0) + 1 end
  -- Left out of the record when equal to their defaults.
  local max_attempts, timeout_ms = m[3] or RECORD_DEFAULT.max_attempts, m[5] or RECORD_DEFAULT.timeout_ms
  local attempt_s = itoa(attempt)
  local plugin = plugins[m[1]]
  if not plugin then
    local active = redis.call('HGET', K.plugins, m[1])
    plugin = active and cjson.decode(active) or { name = '', version = '', digest = '' }
    -- The digest without its `sha256:` is 64 characters: short enough for Redis
    -- to keep a small record in its compact encoding (listpack).
    plugin.short_digest = string.gsub(plugin.digest, '^sha256:', '')
    -- `name@version`, '' if none: once per type, not per mission.
    plugin.ref = plugin.name ~= '' and plugin.name .. '@' .. plugin.version or ''
    -- The started event's plugin part, encoded once per type.
    plugin.json = ',"plugin":' .. cjson.encode(plugin.name) .. ',"plugin_version":' .. cjson.encode(plugin.version)
      .. ',"plugin_digest":' .. cjson.encode(plugin.digest)
    plugins[m[1]] = plugin
  end
  -- The lease's expiry is the score in `active` (heartbeats move it there), not a field.
  set_status(id, m[1], m[2], 'running', 'attempts', attempt_s, 'lease_token', token,
    'worker', worker, 'started_ms', NOW_MS, 'plugin_digest', plugin.short_digest,
    'plugin', plugin.ref)
  -- Only a retry has a next attempt time (a promoted run_at went at promotion).
  if m[2] == 'retrying' then redis.call('HDEL', key, 'next_attempt_ms') end
  pin(K.active, '+inf')
  later('ZADD', K.active, until_ms, id)
  -- old_status: pending or retrying, which only this script knows (readers
  -- derive every other event's status change from its type and payload).
  -- The payload as text: the worker, attempt, max_attempts and old_status are
  -- text already (see itoa), and a status, one of this queue's words, needs
  -- no escaping.
  emit('mission.started', id, worker_json .. ',"attempt":' .. attempt_s .. ',"max_attempts":' .. max_attempts
    .. plugin.json .. ',"old_status":"' .. (m[2] or '') .. '"}')
  -- Numbers as the text they are (the host parses them): none converted here.
  local o = #out
  out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5], out[o + 6] =
    id, m[1], attempt_s, max_attempts, m[4], timeout_ms
  out[o + 7], out[o + 8], out[o + 9], out[o + 10], out[o + 11] =
    m[6] or id, plugin.ref, plugin.digest, m[8] or '', m[7] or DEFAULT_TENANT
  return true
end

local taken = 0
-- What the loop learnt of `ready`: found empty, or left non-empty by its last
-- move (either spares the ZCARD at the end).
local ready_empty, ready_filled = false, false
-- Each round either takes missions or removes one entry from an index, so the
-- loop ends; the bound only guards against a foreign writer.
local rounds = 0
-- The virtual clock: the pass at which the latest turn was taken; a tenant
-- that becomes active starts no earlier than it.
local vclock
-- The queues may have deferred additions (promoted missions): written before they are read.
flush_later()
if not redis.call('HGET', K.flow, '*') then
  while taken < count and rounds < count * 4 + 64 do
    rounds = rounds + 1
    local top = redis.call('ZRANGE', K.ready, 0, 1, 'WITHSCORES')
    if not top[1] then
      ready_empty = true
      break
    end
    local tenant, pass = top[1], tonumber(top[2])
    local tk = types_key(tenant)
    local heads = redis.call('ZRANGE', tk, 0, 1, 'WITHSCORES')
    if not heads[1] then
      -- Nothing claimable left: the tenant leaves, keeping its pass.
      redis.call('ZREM', K.ready, tenant)
      redis.call('HSET', K.passes, tenant, pass)
      ready_filled = false
    else
      local mtype = heads[1]
      local want, tokens = allowance(mtype, count - taken)
      if want <= 0 then
        redis.call('ZREM', tk, mtype)
        redis.call('SADD', blocked_key(mtype), tenant)
      else
        -- Fair share: this tenant keeps the turn while its pass stays at or
        -- below the next tenant's.
        local w = weight_of(tenant)
        if top[3] then want = math.min(want, math.max(1, math.floor((tonumber(top[4]) - pass) * w) + 1)) end
        local q = queue_key(tenant, mtype)
        -- Members only: each score read would cost Redis a number formatted
        -- and Lua one parsed, more than the one more read of the new head.
        -- Priority across the tenant's types: none past the next type's head
        -- (its score, as text), but the queue's own head always (its type is
        -- the tenant's first).
        local batch = heads[4] and redis.call('ZRANGE', q, '-inf', heads[4], 'BYSCORE', 'LIMIT', 0, want)
          or redis.call('ZRANGE', q, 0, want - 1)
        if #batch == 0 then batch = redis.call('ZRANGE', q, 0, 0) end
        if #batch > 0 then redis.call('ZREM', q, unpack(batch)) end
        local head = redis.call('ZRANGE', q, 0, 0, 'WITHSCORES')
        if head[1] then redis.call('ZADD', tk, head[2], mtype) else redis.call('ZREM', tk, mtype) end
        pass = pass + #batch / w
        redis.call('ZADD', K.ready, pass, tenant)
        ready_filled = true
        vclock = math.max(vclock or 0, tonumber(top[2]))
        local begun = 0
        for _, id in ipairs(batch) do
          if start(id) then begun = begun + 1 end
        end
        -- Only starts take a token (a mission found expired does not).
        if tokens then
          redis.call('HSET', K.rates, mtype .. '|tokens', string.format('%.4f', tokens - begun), mtype .. '|ts', NOW_MS)
        end
        taken = taken + #batch
      end
    end
  end
end

if vclock then redis.call('HSET', K.passes, '*', vclock) end
if rounds == 0 or ready_empty or (not ready_filled and redis.call('ZCARD', K.ready) == 0) then
  -- Nothing left to hand out (or every type paused): markers would only cause empty claims.
  redis.call('DEL', K.wake)
end
local next_due = first_due
if #due > 0 then next_due = redis.call('ZRANGE', K.delayed, 0, 0, 'WITHSCORES') end
if next_due[2] then out[1] = math.max(0, tonumber(next_due[2]) - NOW) end
local next_wake = first_wake
if wakeups_moved then next_wake = redis.call('ZRANGE', K.wakeups, 0, 0, 'WITHSCORES') end
if next_wake[2] then
  local w = math.max(0, tonumber(next_wake[2]) - NOW)
  if out[1] < 0 or w < out[1] then out[1] = w end
end
return out
