/**
 * The Lua scripts the Valkey engine runs. Each runs atomically on the server, so the epoch, the
 * sequence numbers, the dedupe keys, the stream and the live publication of a batch never
 * disagree, whichever node appends.
 */

/**
 * Reads the namespace's head (KEYS[1] meta, KEYS[2] stream) and starts a new epoch when the
 * engine lost data: no meta (a restart without persistence, a flush), or a top below what the
 * calling node already saw in the same epoch (ARGV[2] epoch, ARGV[3] seq; a lost tail). The new
 * epoch (ARGV[1]) continues after anything that survived, so no sequence is given out twice.
 * The oldest retained sequence is the first entry's, or meta `f` when set: where retention put
 * it while purges (PURGE) deleted entries at the front, which no resume should count as lost.
 */
const HEAD = `
local function seq_of(entry) return tonumber(string.match(entry[1], '^%d+')) end
local meta, stream = KEYS[1], KEYS[2]
local head = redis.call('HMGET', meta, 'e', 'b', 's', 't', 'f')
local epoch, base, top, newest = head[1], tonumber(head[2]) or 0, tonumber(head[3]) or 0,
  tonumber(head[4]) or 0
local kept = tonumber(head[5])
local known = tonumber(ARGV[3])
if not epoch or (epoch == ARGV[2] and top < known) then
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  if last then top = math.max(top, seq_of(last)) end
  if epoch == ARGV[2] then top = math.max(top, known) end
  epoch, base = ARGV[1], top
  redis.call('HSET', meta, 'e', epoch, 'b', string.format('%d', base), 's', string.format('%d', top))
end
local function first_seq()
  if kept then return kept end
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  return first and seq_of(first) or 0
end
`;

/** Returns {epoch, base, top, firstSeq} (see HEAD). */
export const ENSURE = HEAD + `
return {epoch, base, top, first_seq()}
`;

/**
 * Appends a batch. ARGV[4] dedupe window (ms), ARGV[5] MAXLEN (0 = none), ARGV[6] live channel,
 * then per message a pair: the index in KEYS of its dedupe key (0 = none) and its stored bytes.
 * Time is the server's (never a node's clock) and never goes backwards in the namespace.
 * Returns {epoch, base, firstSeq, time, r1, r2, …}: ri is the i-th message's new sequence, or
 * minus the first sequence stored with its dedupe key. The live publication is
 * "epoch base firstSeq\\n" then per stored message "seq time length\\n" and its bytes.
 */
export const APPEND = HEAD + `
local clock = redis.call('TIME')
local now = math.max(tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000), newest)
local reply, live = {}, {}
for i = 7, #ARGV, 2 do
  local k, data = tonumber(ARGV[i]), ARGV[i + 1]
  local first = false
  if k > 0 and not redis.call('SET', KEYS[k], string.format('%d', top + 1), 'NX', 'PX', ARGV[4]) then
    first = redis.call('GET', KEYS[k])
  end
  if first then
    reply[#reply + 1] = -tonumber(first)
  else
    top = top + 1
    redis.call('XADD', stream, string.format('%d-0', top), 't', string.format('%d', now), 'd', data)
    reply[#reply + 1] = top
    live[#live + 1] = string.format('%d %d %d\\n', top, now, #data) .. data
  end
end
if #live > 0 then
  -- Entries trimmed by count from the front: the first one left is the oldest retained again.
  if ARGV[5] ~= '0' and redis.call('XTRIM', stream, 'MAXLEN', '~', ARGV[5]) > 0 and kept then
    redis.call('HDEL', meta, 'f')
    kept = nil
  end
  redis.call('HSET', meta, 's', string.format('%d', top), 't', string.format('%d', now))
end
local first = first_seq()
if #live > 0 then
  redis.call('PUBLISH', ARGV[6],
    string.format('%s %d %d\\n', epoch, base, first) .. table.concat(live))
end
return {epoch, base, first, now, unpack(reply)}
`;

/** APPEND for a Redis Cluster: the live channel is a shard channel (`SPUBLISH`, Redis 7). */
export const APPEND_SHARDED = APPEND.replace("redis.call('PUBLISH'", "redis.call('SPUBLISH'");

/**
 * Deletes one channel's entries through a sequence, a bounded run per call (the server runs
 * nothing else meanwhile). KEYS[1] meta, KEYS[2] stream, KEYS[3] purges (hash: channel → the
 * sequence its entries are deleted through); ARGV[1] channel, ARGV[2] through, ARGV[3] most
 * entries to look at, ARGV[4] live channel, ARGV[5] the notice published there when done.
 * The channel is read from the stored record in place (src/streams/record.ts: its length is byte
 * 2, the channel follows). Returns 1 while entries are left to look at, else 0.
 */
export const PURGE = `
local meta, stream, purges = KEYS[1], KEYS[2], KEYS[3]
local channel, through = ARGV[1], tonumber(ARGV[2])
local done = tonumber(redis.call('HGET', purges, channel)) or 0
if done >= through then return 0 end
if not redis.call('HGET', meta, 'f') then
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  if first then redis.call('HSET', meta, 'f', string.match(first[1], '^%d+')) end
end
local found = redis.call('XRANGE', stream, string.format('%d-1', done), string.format('%d-0', through),
  'COUNT', tonumber(ARGV[3]))
for _, entry in ipairs(found) do
  local d = entry[2][4]
  if string.sub(d, 3, 2 + string.byte(d, 2)) == channel then redis.call('XDEL', stream, entry[1]) end
end
if #found == tonumber(ARGV[3]) then
  redis.call('HSET', purges, channel, string.match(found[#found][1], '^%d+'))
  return 1
end
redis.call('HSET', purges, channel, string.format('%d', through))
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 0
`;

/** PURGE for a Redis Cluster (see APPEND_SHARDED). */
export const PURGE_SHARDED = PURGE.replace("redis.call('PUBLISH'", "redis.call('SPUBLISH'");

/**
 * KEYS[1] stream, ARGV[1] time (ms): the sequence of the first entry at or after the time (a
 * binary search over the contiguous sequences), or 0 when every entry is older or there is none.
 */
export const SEEK_TIME = `
local stream, time = KEYS[1], tonumber(ARGV[1])
local function seq_of(entry) return tonumber(string.match(entry[1], '^%d+')) end
local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
if not first then return 0 end
local lo, hi = seq_of(first), seq_of(last) + 1
while lo < hi do
  local mid = math.floor((lo + hi) / 2)
  local entry = redis.call('XRANGE', stream, string.format('%d-0', mid), '+', 'COUNT', 1)[1]
  if tonumber(entry[2][2]) < time then lo = seq_of(entry) + 1 else hi = mid end
end
if lo > seq_of(last) then return 0 end
return lo
`;
