-- plugin_put: stores a validated plugin version: its bytes (by digest) and its record.
-- KEYS: the fixed queue keys (see prelude).
-- ARGV[4] plugin name
-- ARGV[5] version
-- ARGV[6] digest (sha256:<hex>)
-- ARGV[7] record (JSON: name, version, digest, size, manifest, uploaded_at, uploaded_by)
-- ARGV[8] the component's bytes
-- Returns: {'stored', ''} | {'exists', ''} (same version, same digest: nothing
--          changes) | {'conflict', existing digest} (versions are immutable).
local name, version, digest = ARGV[4], ARGV[5], ARGV[6]
local vkey = versions_key(name)
local existing = redis.call('HGET', vkey, version)
if existing then
  local d = cjson.decode(existing).digest
  if d == digest then return { 'exists', '' } end
  return { 'conflict', d }
end
redis.call('SET', blob_key(digest), ARGV[8])
redis.call('HSET', vkey, version, ARGV[7])
redis.call('SADD', K.names, name)
local rec = cjson.decode(ARGV[7])
emit('plugin.uploaded', false, { name = name, version = version, digest = digest, size = rec.size,
  mission_types = rec.manifest.mission_types, uploaded_by = rec.uploaded_by })
return { 'stored', '' }
