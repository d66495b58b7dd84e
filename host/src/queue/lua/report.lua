-- report: appends what a plugin or client reported, in order: log lines (each
-- with a mission.log_appended event) and progress (on the record, each with a
-- mission.progress event).
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] mission id
-- ARGV[5] lease token of the attempt reporting ('' for a client); progress is
--         only accepted while this token holds the lease
-- ARGV[6] most lines a mission's log keeps; lines past it are only counted
-- ARGV[7] who reports: 'plugin' or 'client'
-- ARGV[8..] triples: 'log', level, message | 'progress', percent, message
-- Returns: how many reports were stored (-1 if the mission does not exist).
local id, token, cap, origin = ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
local key = mkey(id)
local m = redis.call('HMGET', key, 'status', 'lease_token')
if not m[1] then return -1 end
local leased = token ~= '' and m[1] == 'running' and m[2] == token
local logkey = key .. ':log'
local stored = 0
for i = 8, #ARGV, 3 do
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
