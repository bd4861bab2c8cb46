/**
 * The script that writes the Pulsar door's records in Valkey: one hash per kind of record (a
 * field per record, its JSON), plus `names` (username → user id) for the username's uniqueness.
 * KEYS: the hashes of users, names, topics, grants, refresh tokens, logged-out ids (one hash tag,
 * one slot). ARGV: the change channel, the guard ('' for none, or 'fill': write each record only
 * where none is, for a migration), then (kind, key, value) per record, value '' removing it, and
 * the notice of each record. Returns 1 when written, 0 when the first record's guard failed.
 * Every record that changed is published, so the other nodes reload it.
 */
export const WRITE_RECORDS = `
local hashes = { user = KEYS[1], topic = KEYS[3], grant = KEYS[4], refresh = KEYS[5], denied = KEYS[6] }
local names = KEYS[2]
local channel, guard = ARGV[1], ARGV[2]

local function holds(kind, key, value)
  local stored = redis.call('HGET', hashes[kind], key)
  if guard == 'present' then return stored ~= false end
  if guard == 'unrevoked' then return stored ~= false and not cjson.decode(stored).revoked end
  if stored then return false end
  if kind == 'user' then return redis.call('HEXISTS', names, cjson.decode(value).username) == 0 end
  if kind == 'grant' then return redis.call('HEXISTS', KEYS[3], string.match(key, '^[^/]*')) == 1 end
  return true
end

if guard ~= '' and guard ~= 'fill' and not holds(ARGV[3], ARGV[4], ARGV[5]) then return 0 end
for i = 3, #ARGV, 4 do
  local kind, key, value, notice = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local hash = hashes[kind]
  if guard ~= 'fill' or redis.call('HEXISTS', hash, key) == 0 then
    local changed = true
    if kind == 'user' then
      local old = redis.call('HGET', hash, key)
      if old then redis.call('HDEL', names, cjson.decode(old).username) end
      if value ~= '' then redis.call('HSET', names, cjson.decode(value).username, key) end
    end
    if value == '' then
      changed = redis.call('HDEL', hash, key) == 1
    else
      redis.call('HSET', hash, key, value)
    end
    if changed then redis.call('PUBLISH', channel, notice) end
  end
end
return 1
`;
