-- Prelude shared by every queue script (prepended when the scripts are loaded).
--
-- KEYS (the same fixed list for every script, `FIXED` in keys.rs, named in K by it):
--   1 ready     ZSET  tenants with claimable work, score = virtual time (pass) of the fair share
--   2 delayed   ZSET  missions waiting for run_at / a retry, score = due time (ms)
--   3 active    ZSET  missions under a lease, score = lease expiry (ms)
--   4 dead      ZSET  failed missions (the dead-letter set), score = failure time (ms)
--   5 events    STREAM events of no tenant (plugin.*), which every tenant sees
--   6 wake      LIST  markers that wake idle workers blocked on BLPOP
--   7 stats     HASH  "<tenant>|<type>|<status>" -> number of missions
--   8 seq       STRING sequence for FIFO order within one priority
--   9 expiry    ZSET  finished missions, score = when they expire (ms)
--  10 workers   HASH  worker id -> JSON description (refreshed by its heartbeat)
--  11 seen      ZSET  worker id, score = its last heartbeat (ms)
--  12 counts    HASH  "<tenant>|<event type>" -> events written (never trimmed)
--  13 plugins   HASH  mission type -> JSON {name, version, digest} of its active plugin
--  14 quotas    HASH  tenant -> JSON of the quotas an admin set for it
--  15 names     SET   plugin names
--  16 flow      HASH  mission type -> JSON settings (paused, concurrency, rate, ttl_ms); '*' -> global pause
--  17 running   HASH  mission type -> missions running now (kept by set_status for types in `flow`)
--  18 weights   HASH  tenant -> fair-share weight (absent: 1)
--  19 passes    HASH  tenant -> its pass when it left `ready`; '*' -> the virtual clock
--  20 rates     HASH  '<type>|tokens', '<type>|ts' -> a rate-limited type's token bucket
--  21 wakeups   ZSET  mission type -> when its rate bucket holds a token again (ms)
--  22 deadlines ZSET  mission id -> when it expires unless started (ms)
--  23 legacy_ready ZSET the ready missions of versions before flow control (emptied at start-up)
--  24 waiting   HASH  tenant -> its missions pending or retrying (its queued quota's usage)
-- Ready missions live in one ZSET per (tenant, type), q:<tenant>:<type> (score
-- as above: priority rank * 2^32 + sequence); t:<tenant>:types indexes the
-- tenant's claimable types by their head's score; flow:blocked:<type> is the SET
-- of tenants whose queue of that type is parked (paused or over a limit).
-- Listing indexes are per tenant (derived from the prefix, see below): t:<tenant>:all and
-- t:<tenant>:status:<status> for the final statuses (INDEXED), scored by time
-- (ms). (No index per type, nor for pending, retrying or running: each costs
-- moves per mission and memory while it waits; a listing of those reads `all`
-- or `active`, and `waiting` counts the waiting.)
-- Each tenant's mission events go to its own stream, t:<tenant>:events, capped
-- on its own: one tenant's burst cannot trim another's history.
-- ARGV (the same first three for every script; each script's own start at ARGV[4]):
--   1 key prefix with its hash tag, e.g. "{mr}:"; per-mission keys are derived from it
--   2 approximate cap (MAXLEN ~) of each event stream (each tenant's, the shared one)
--   3 source of the events this call writes (the producing host or worker)
-- Time comes from the Redis server (TIME), the one clock every host shares.

local P = ARGV[1]
local MAXLEN = ARGV[2]
local SOURCE = ARGV[3]
-- K (the fixed keys by name, from KEYS), one function per derived key (mkey(id),
-- log_key(id), all_key(tenant), status_key(tenant, status), events_key(tenant),
-- bucket_key(tenant), streams_key(tenant), idem_key(tenant, key),
-- versions_key(name), blob_key(digest), config_key(name), config_counts_key(name),
-- kv_data_key(plugin, tenant), kv_expiry_key(plugin, tenant), kv_usage_key(plugin, tenant))
-- and DEFAULT_TENANT are generated from
-- keys.rs (FIXED, DERIVED) and inserted here: no key is spelled in Lua.
--@KEYS@

local t = redis.call('TIME')
-- NOW (ms) as text, cut from TIME's own text (seconds, microseconds): no
-- number formatted (see itoa), and Redis would format the number for every
-- command it is passed to. NOW_S: seconds with milliseconds, as in payloads.
local NOW_MS3 = string.sub(string.rep('0', 6 - #t[2]) .. t[2], 1, 3)
local NOW_MS = t[1] .. NOW_MS3
local NOW_S = t[1] .. '.' .. NOW_MS3
local NOW = tonumber(NOW_MS)


-- Numbers as text, memoised per call. Lua formats a number with a printf
-- wherever it becomes text (a redis.call argument, a concatenation, cjson),
-- which made number formatting a tenth of the scripts' work: values that
-- repeat within a call (attempt counts, a lease's or retention's end) are
-- formatted once, and values read from Redis stay text.
local ITOA = {}
local function itoa(n)
  local s = ITOA[n]
  if not s then
    s = string.format('%d', n)
    ITOA[n] = s
  end
  return s
end

-- A per-call memo of `make(key)`: built on the first read of a key, a plain
-- table read after (no function call: each concatenation builds, hashes and
-- interns a new string, and a batch builds the same few keys again and again).
local function memo(make)
  return setmetatable({}, { __index = function(t, k)
    local v = make(k)
    t[k] = v
    return v
  end })
end

-- Per-call memo of each mission's correlation id, tenant and traceparent,
-- which never change: scripts that read the record anyway prime it, so events
-- and index moves cost no extra reads. A record without a correlation id uses
-- its id; one without a traceparent (false: none) adds none to its events.
-- Three tables by id, not a table per mission (an allocation each).
-- remember returns the tenant.
local CIDS, TENANTS, TPS = {}, {}, {}
local function remember(id, cid, tenant, traceparent)
  tenant = tenant or DEFAULT_TENANT
  CIDS[id], TENANTS[id], TPS[id] = cid or id, tenant, traceparent or false
  return tenant
end
-- The tenant of mission `id`, its record read once per call.
local function tenant_of(id)
  local t = TENANTS[id]
  if t then return t end
  local m = redis.call('HMGET', mkey(id), 'correlation_id', 'tenant', 'traceparent')
  return remember(id, m[1], m[2], m[3])
end

-- Deferred writes to index sets: key -> runs of one command each ({cmd, n,
-- args...}), in the order they were asked for. A batch of missions moving
-- between the same indexes then costs one ZADD or ZREM per index instead of
-- one per mission (each redis.call costs about a microsecond of conversion
-- beside its own work). Flushed when the body has run (scripts.rs appends the
-- call) and before any read of a deferred key, so no script sees them pending.
-- Only whole-member ZADD/ZREM go through here: a deferred key is never also
-- written directly in the same call before its flush.
local LATER, LATER_KEYS = {}, {}
local function later(cmd, key, a, b)
  local runs = LATER[key]
  if not runs then
    runs = {}
    LATER[key] = runs
    LATER_KEYS[#LATER_KEYS + 1] = key
  end
  local run = runs[#runs]
  if not run or run.cmd ~= cmd then
    run = { cmd = cmd, n = 0 }
    runs[#runs + 1] = run
  end
  run.n = run.n + 1
  run[run.n] = a
  if b ~= nil then
    run.n = run.n + 1
    run[run.n] = b
  end
end
-- Adds PIN (see keys.rs) to a sorted set that stays near the listpack limit
-- under load, once per call, with the call's first deferred write to it.
local PINNED = {}
local function pin(key, score)
  if PINNED[key] then return end
  PINNED[key] = true
  later('ZADD', key, score, PIN)
end
local function flush_later()
  for _, key in ipairs(LATER_KEYS) do
    for _, run in ipairs(LATER[key]) do
      -- In slices of 4,000 arguments (an even number: ZADD's pairs stay
      -- whole), well below Lua's limit on unpacked values.
      for i = 1, run.n, 4000 do
        redis.call(run.cmd, key, unpack(run, i, math.min(run.n, i + 3999)))
      end
    end
  end
  LATER, LATER_KEYS = {}, {}
end

-- Sequence numbers reserved in one INCRBY for a batch (reserve_seq), handed
-- out by ready_score before it falls back to one INCR each.
local SEQ_NEXT, SEQ_LAST = 0, -1
local function reserve_seq(n)
  if n < 1 then return end
  SEQ_LAST = redis.call('INCRBY', K.seq, n)
  SEQ_NEXT = SEQ_LAST - n + 1
end

-- Ready-queue score: higher priority first, FIFO within one priority.
-- Priorities are 0..100, so the score stays below 2^53 and exact in a double.
local function ready_score(priority)
  local seq
  if SEQ_NEXT <= SEQ_LAST then
    seq = SEQ_NEXT
    SEQ_NEXT = SEQ_NEXT + 1
  else
    seq = redis.call('INCR', K.seq)
  end
  return (100 - tonumber(priority)) * 4294967296 + seq % 4294967296
end

-- A tenant gets claimable work: it joins `ready` at its own pass, or at the
-- virtual clock if that is later (an idle tenant banks no credit).
local function activate(tenant)
  if redis.call('ZSCORE', K.ready, tenant) then return end
  local p = redis.call('HMGET', K.passes, tenant, '*')
  redis.call('ZADD', K.ready, math.max(tonumber(p[1]) or 0, tonumber(p[2]) or 0), tenant)
end

-- Per-call memo of the (tenant, type) queues this call made claimable (their
-- lowest score) or found parked (false): a batch pays the checks once.
local PUSHED = {}

-- Puts a mission into its tenant's queue of its type, and makes that queue
-- claimable unless the type is parked for the tenant.
local function push_ready(id, tenant, mtype, priority)
  local score = ready_score(priority or RECORD_DEFAULT.priority)
  -- As an integer's text: Redis would format a number argument with '%.17g',
  -- several times the cost of '%d'.
  local text = string.format('%d', score)
  later('ZADD', queue_key(tenant, mtype), text, id)
  local memo_key = tenant .. '|' .. mtype
  local seen = PUSHED[memo_key]
  if seen == false or (seen and seen <= score) then return end
  if seen == nil and redis.call('SISMEMBER', blocked_key(mtype), tenant) == 1 then
    PUSHED[memo_key] = false
    return
  end
  redis.call('ZADD', types_key(tenant), 'LT', text, mtype)
  if seen == nil then activate(tenant) end
  PUSHED[memo_key] = score
end

-- Takes a mission out of its ready queue (cancel, expiry); keeps the tenant's
-- type index on the queue's new head. (An emptied tenant leaves `ready` at the
-- next claim that meets it.)
local function remove_ready(id, tenant, mtype)
  flush_later()
  local q = queue_key(tenant, mtype)
  if redis.call('ZREM', q, id) == 0 then return end
  local tk = types_key(tenant)
  if not redis.call('ZSCORE', tk, mtype) then return end
  local h = redis.call('ZRANGE', q, 0, 0, 'WITHSCORES')
  if h[1] then redis.call('ZADD', tk, h[2], mtype) else redis.call('ZREM', tk, mtype) end
end

-- Wakes up to `n` (default 1) blocked workers, one marker each (the list is
-- capped: a marker is only a hint).
local function wake(n)
  n = math.min(n or 1, 256)
  if n < 1 then return end
  local markers = {}
  for i = 1, n do markers[i] = '1' end
  redis.call('LPUSH', K.wake, unpack(markers))
  redis.call('LTRIM', K.wake, 0, 255)
end

-- Makes a parked type claimable again for every tenant that has its missions
-- waiting (resumed, a slot freed, tokens refilled, a limit changed): one step
-- per parked tenant, none per mission. A claim parks it again if it still is.
local function unblock(mtype)
  local bk = blocked_key(mtype)
  local tenants = redis.call('SMEMBERS', bk)
  if #tenants == 0 then return 0 end
  redis.call('DEL', bk)
  flush_later()
  for _, tenant in ipairs(tenants) do
    local h = redis.call('ZRANGE', queue_key(tenant, mtype), 0, 0, 'WITHSCORES')
    if h[1] then
      redis.call('ZADD', types_key(tenant), h[2], mtype)
      activate(tenant)
    end
  end
  wake(#tenants)
  return #tenants
end

-- Per-call sums of counter increments, written by flush_counters once the
-- script body has run (scripts.rs appends the call): a batch of missions pays
-- one HINCRBY per counter it moves, not one per mission. Only for counters a
-- script reads back only before it moves them. Each is kept by its parts in
-- tables built on their first read (memo), so a change costs table reads and
-- a write, with no function call and no string built per mission; the field
-- (`a|b|c`) is joined at the flush.
--   STATUSES: K.stats, tenant -> type -> status -> delta (missions per status);
--   EVENTS_BY: K.counts, tenant -> event type -> delta (events written).
-- K.waiting (per tenant, the missions in a WAITING status) is the sum of its
-- status counters: its change is summed from theirs at the flush.
local STATUSES, EVENTS_BY
local WAITING = { pending = true, retrying = true }
local function reset_counters()
  STATUSES = memo(function() return memo(function() return {} end) end)
  EVENTS_BY = memo(function() return {} end)
end
reset_counters()
local function flush_counters()
  for tenant, by_type in pairs(STATUSES) do
    local waited = 0
    for mtype, by_status in pairs(by_type) do
      for status, delta in pairs(by_status) do
        if delta ~= 0 then
          redis.call('HINCRBY', K.stats, tenant .. '|' .. mtype .. '|' .. status, delta)
          if WAITING[status] then waited = waited + delta end
        end
      end
    end
    if waited ~= 0 then redis.call('HINCRBY', K.waiting, tenant, waited) end
  end
  for tenant, by_type in pairs(EVENTS_BY) do
    for etype, delta in pairs(by_type) do
      redis.call('HINCRBY', K.counts, tenant .. '|' .. etype, delta)
    end
  end
  reset_counters()
end

-- Appends an event: one field, `e`, holding the event type, mission id,
-- tenant, source, correlation id (only when it is not the mission id),
-- traceparent (when there is one) and payload, in that order, separated by
-- U+001F (none of the first six can hold it; the payload, last, may). Each
-- argument of a command costs Redis a conversion and the stream a list entry:
-- one field instead of five to seven is 3,500 instructions less per event. The
-- payload is a Lua table, JSON-encoded, or JSON text built by the caller from
-- text it already has (see itoa). The rest of the envelope is built when the
-- entry is read (Event::from_entry): the timestamp from the entry id, `meta`
-- from constants and these fields, `mission_id` in the payload from the
-- mission (EVENTS.md, "stream entries"). Events of a mission go to its
-- tenant's own stream; events without a mission (plugins) belong to no
-- tenant and go to the shared stream.
-- Each stream is capped (MAXLEN ~) by the first few events a call adds to it;
-- a call that adds more trims it once at its end (flush_streams): trimming
-- with every XADD costs 2,200 instructions an event.
local SEP = '\31'
-- ADDED: events per stream in this call; STREAMS: each tenant's stream key.
local ADDED, TRIM_INLINE, STREAMS = {}, 4, memo(events_key)
local function emit(etype, id, payload)
  local tenant, stream, cid, tp = '', K.events, '', ''
  if id then
    tenant = tenant_of(id)
    if CIDS[id] ~= id then cid = CIDS[id] end
    if TPS[id] then tp = TPS[id] end
    stream = STREAMS[tenant]
  end
  local entry = etype .. SEP .. (id or '') .. SEP .. tenant .. SEP .. SOURCE .. SEP .. cid .. SEP .. tp .. SEP
    .. (type(payload) == 'string' and payload or cjson.encode(payload))
  local n = (ADDED[stream] or 0) + 1
  ADDED[stream] = n
  local sid
  if n <= TRIM_INLINE then
    sid = redis.call('XADD', stream, 'MAXLEN', '~', MAXLEN, '*', 'e', entry)
  else
    sid = redis.call('XADD', stream, '*', 'e', entry)
  end
  local counted = EVENTS_BY[tenant]
  counted[etype] = (counted[etype] or 0) + 1
  return sid
end
local function flush_streams()
  for stream, n in pairs(ADDED) do
    if n > TRIM_INLINE then redis.call('XTRIM', stream, 'MAXLEN', '~', MAXLEN) end
  end
  ADDED = {}
end

-- Per-call memo: whether a type has flow settings (pause or limits).
local FLOWED = {}
local function flowed(mtype)
  if FLOWED[mtype] == nil then FLOWED[mtype] = redis.call('HEXISTS', K.flow, mtype) == 1 end
  return FLOWED[mtype]
end

-- Each tenant's status index keys (tenant -> status -> key).
local STATUS_KEYS = memo(function(tenant)
  return memo(function(status) return status_key(tenant, status) end)
end)

-- Moves a mission between statuses: record, its tenant's status index (final
-- statuses only, INDEXED) and counters.
-- The running count of a type with flow settings (its concurrency limit) moves
-- with it: every script that ends a lease goes through here, so a reaped
-- host's leases stop counting, and a freed slot makes the type's parked queues
-- claimable. (Types without settings pay one HEXISTS per call; flow_set.lua
-- counts a type's running missions when it gets settings.)
local function set_status(id, mtype, from, to, ...)
  local tenant = tenant_of(id)
  local keys, counted = STATUS_KEYS[tenant], STATUSES[tenant][mtype]
  if from then
    if INDEXED[from] then later('ZREM', keys[from], id) end
    counted[from] = (counted[from] or 0) - 1
  end
  if (from == 'running' or to == 'running') and flowed(mtype) then
    if from == 'running' then
      redis.call('HINCRBY', K.running, mtype, -1)
      if redis.call('EXISTS', blocked_key(mtype)) == 1 then unblock(mtype) end
    else
      redis.call('HINCRBY', K.running, mtype, 1)
    end
  end
  if INDEXED[to] then later('ZADD', keys[to], NOW_MS, id) end
  counted[to] = (counted[to] or 0) + 1
  -- The record's other changes of this step (`...`: name, value, ...), if
  -- any, go in the same HSET: one command less per transition. (Arguments,
  -- not a table: a table per mission is an allocation, and one grown past
  -- its constructor is copied.)
  if from and (to == 'completed' or to == 'failed' or to == 'cancelled') then
    -- A start's time is its `started_ms` and an end's its `finished_ms`
    -- (written here), which readers take as the update time when it is the
    -- later one: one field less to find and write.
    redis.call('HSET', mkey(id), 'status', to, 'finished_ms', NOW_MS, ...)
  elseif from and to ~= 'running' then
    redis.call('HSET', mkey(id), 'status', to, 'updated_ms', NOW_MS, ...)
  else
    -- A start (its `started_ms` is among the fields) or a new record, which
    -- gets `status` first: Redis keeps a small hash as a list that each field
    -- read or write scans from its start, and every later step reads the
    -- status. (A new mission's `updated_ms` would equal its `created_ms`: left
    -- out.)
    redis.call('HSET', mkey(id), 'status', to, ...)
  end
end

-- A finished mission expires `retention_ms` from now (0 keeps it forever).
local function schedule_expiry(id, retention_ms)
  retention_ms = tonumber(retention_ms)
  if retention_ms > 0 then
    later('ZADD', K.expiry, itoa(NOW + retention_ms), id)
  end
end

-- Cancels a mission that waited past its deadline (never started): reason
-- `expired`, by `expiry`. The caller has taken it out of the ready or delayed set.
local function expire_waiting(id, mtype, status, retention_ms)
  local key = mkey(id)
  set_status(id, mtype, status, 'cancelled', 'cancelled_by', 'expiry', 'cancel_reason', 'expired')
  redis.call('HDEL', key, 'next_attempt_ms', 'run_at_ms')
  redis.call('ZREM', K.deadlines, id)
  schedule_expiry(id, retention_ms)
  emit('mission.cancelled', id, { cancelled_by = 'expiry', reason = 'expired', previous_status = status,
    cancelled_at = NOW / 1000 })
end

-- Drops a mission's lease (the record keeps which worker ran it last, and
-- its token: every check of a token also asks for the status `running`, which
-- the caller changes, so a command per transition is spared). `also`: fields
-- to delete, if any, in one HDEL.
local function release(id, also)
  later('ZREM', K.active, id)
  if also then redis.call('HDEL', mkey(id), unpack(also)) end
end

-- Applies reports in order from ARGV[first..last] (last: #ARGV when nil;
-- triples: 'log', level, message |
-- 'progress', percent, message): log lines up to `cap` per mission (the rest
-- only counted), each with a mission.log_appended event; progress only while
-- `leased`, each with a mission.progress event. Returns how many were stored.
local function apply_reports(id, leased, cap, origin, first, last)
  local key = mkey(id)
  local logkey = log_key(id)
  local stored = 0
  for i = first, last or #ARGV, 3 do
    local kind, a, msg = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    if kind == 'log' then
      if redis.call('LLEN', logkey) < cap then
        redis.call('RPUSH', logkey, cjson.encode({ ts = NOW / 1000, level = a, source = origin, message = msg }))
        emit('mission.log_appended', id, { level = a, source = origin, message = msg })
        stored = stored + 1
      else
        redis.call('HINCRBY', key, 'log_dropped', 1)
      end
    elseif kind == 'progress' and leased then
      redis.call('HSET', key, 'progress', a, 'progress_message', msg)
      emit('mission.progress', id, { percent = tonumber(a), message = msg })
      stored = stored + 1
    end
  end
  return stored
end

-- Exponential backoff with equal jitter: half fixed, half random (jitter in [0,1)).
local function backoff_ms(attempt, base, cap, jitter)
  local d = math.min(tonumber(cap), tonumber(base) * 2 ^ (tonumber(attempt) - 1))
  return math.floor(d / 2 + d / 2 * tonumber(jitter))
end

-- Ends a running attempt in failure: retry later while attempts remain and the
-- error is retryable, otherwise fail the mission into the dead-letter set.
-- Returns 'retrying', next attempt time (ms) or 'failed', 0.
local function fail_attempt(id, kind, message, jitter, dead_retention_ms)
  local key = mkey(id)
  local m = redis.call('HMGET', key, 'type', 'attempts', 'max_attempts', 'backoff_base_ms', 'backoff_cap_ms')
  local mtype, attempt = m[1], tonumber(m[2])
  local max = tonumber(m[3] or RECORD_DEFAULT.max_attempts)
  release(id)
  redis.call('HSET', key, 'error_kind', kind, 'error', message)
  local will_retry = kind == 'retryable' and attempt < max
  emit('mission.failed', id, { error = message, error_kind = kind, attempt = attempt, will_retry = will_retry })
  if will_retry then
    local due = NOW + backoff_ms(attempt, m[4] or RECORD_DEFAULT.backoff_base_ms,
      m[5] or RECORD_DEFAULT.backoff_cap_ms, jitter)
    set_status(id, mtype, 'running', 'retrying')
    redis.call('HSET', key, 'next_attempt_ms', due)
    redis.call('ZADD', K.delayed, due, id)
    emit('mission.retrying', id, { attempt = attempt, max_attempts = max, next_attempt_at = due / 1000 })
    wake()
    return { 'retrying', due }
  end
  set_status(id, mtype, 'running', 'failed')
  redis.call('HDEL', key, 'next_attempt_ms')
  redis.call('ZADD', K.dead, NOW, id)
  schedule_expiry(id, dead_retention_ms)
  return { 'failed', 0 }
end

-- ---------------------------------------------------------------- script body
