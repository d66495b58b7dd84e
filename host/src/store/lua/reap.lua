-- reap: recovers missions whose lease expired (their worker died or stalled).
-- The attempt counts: it retries with backoff, or is dead past its last attempt.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] how many to recover at most
-- ARGV[5] jitter in [0, 1) for the backoff
-- ARGV[6] retention of dead missions (ms, 0: keep)
-- Returns: the ids recovered.
local expired = redis.call('ZRANGEBYSCORE', K.active, '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(expired) do
  local worker = redis.call('HGET', mkey(id), 'worker') or 'unknown'
  fail_attempt(id, 'retryable', 'lease expired: worker ' .. worker .. ' stopped renewing it', ARGV[5], ARGV[6])
end
return expired
