package redisqueue

import "github.com/redis/go-redis/v9"

// Every script gets the same KEYS (see [Queue.keys]) and the message key
// prefix as ARGV[1], and starts with this prelude. All keys of one queue
// share the hash tag {name}, so a script touches a single cluster slot; the
// per-message hashes are not declared in KEYS (their names are only known
// inside the script), which Redis Cluster accepts because they live in the
// same slot.
//
// Time is Redis server time (TIME), so lease deadlines and delays mean the
// same to every process whatever its own clock says.
const prelude = `
local ready, inflight, delayed, dead, counters, seq, space, signal = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local mprefix = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- body returns the message's envelope, or nil when key is no message of
-- ours (missing, or not a hash).
local function body(key)
  local b = redis.pcall('HGET', key, 'body')
  if type(b) ~= 'string' then return nil end
  return b
end
local function is_msg(key) return body(key) ~= nil end
-- to_ready makes mid ready and leaves one wake-up token for a blocked
-- consumer (see Queue.Consume).
local function to_ready(mid)
  redis.call('LPUSH', ready, mid)
  redis.call('RPUSH', signal, 1)
end
local function held()
  return redis.call('LLEN', ready) + redis.call('ZCARD', inflight) + redis.call('ZCARD', delayed)
end
-- free_slot wakes a publisher waiting for space. Unclaimed tokens are
-- trimmed now and then, not on every call: a waiting publisher needs one,
-- and a stale one costs it a retry.
local function free_slot(cap)
  if cap > 0 and redis.call('RPUSH', space, 1) > 128 then
    redis.call('LTRIM', space, -64, -1)
  end
end
local function bury(mid, reason, now)
  local key = mprefix .. mid
  redis.call('HSET', key, 'reason', reason, 'dead_at', now)
  redis.call('HDEL', key, 'token')
  redis.call('RPUSH', dead, mid)
  redis.call('HINCRBY', counters, 'dead_lettered', 1)
end
-- raw is a list element or set member that names no message of this queue
-- (pushed by something else, or its record was deleted): keep it as a
-- malformed dead letter under a fresh id instead of failing on it forever.
local function bury_foreign(raw, where, now)
  local mid = 'x' .. redis.call('INCR', seq)
  redis.call('HSET', mprefix .. mid, 'body', raw, 'attempt', 0, 'malformed', 1,
    'reason', 'malformed entry in the ' .. where .. ': not a task of this queue', 'dead_at', now)
  redis.call('RPUSH', dead, mid)
  redis.call('HINCRBY', counters, 'dead_lettered', 1)
end
-- owned: mid is in flight under this delivery's token. A message holds a
-- token exactly while it is in flight: every way out of the in-flight set
-- removes it.
local function owned(mid, token)
  return redis.pcall('HGET', mprefix .. mid, 'token') == token
end
`

// ARGV: 2 capacity, 3 body. Returns the message id, or nil when full.
var publishScript = redis.NewScript(prelude + `
local cap = tonumber(ARGV[2])
if cap > 0 and held() >= cap then return false end
local mid = tostring(redis.call('INCR', seq))
redis.call('HSET', mprefix .. mid, 'body', ARGV[3], 'attempt', 0)
to_ready(mid)
redis.call('HINCRBY', counters, 'published', 1)
return mid
`)

// ARGV: 2 lease ms, 3 token, 4 capacity. Returns {mid, attempt, body}, nil
// when nothing is ready, or 1 when it dead-lettered malformed entries and
// more may follow (call again at once).
var claimScript = redis.NewScript(prelude + `
local now = now_ms()
for i = 1, 16 do
  local mid = redis.call('RPOP', ready)
  if not mid then return false end
  local key = mprefix .. mid
  local b = body(key)
  if b then
    local attempt = redis.call('HINCRBY', key, 'attempt', 1)
    redis.call('HSET', key, 'token', ARGV[3])
    redis.call('ZADD', inflight, now + tonumber(ARGV[2]), mid)
    redis.call('LPOP', signal)
    return {mid, attempt, b}
  end
  bury_foreign(mid, 'ready list', now)
  free_slot(tonumber(ARGV[4]))
end
return 1
`)

// ARGV: 2 mid, 3 token, 4 capacity. Returns 1, or 0 when not in flight.
var ackScript = redis.NewScript(prelude + `
local mid = ARGV[2]
if not owned(mid, ARGV[3]) then return 0 end
redis.call('ZREM', inflight, mid)
redis.call('DEL', mprefix .. mid)
redis.call('HINCRBY', counters, 'acked', 1)
free_slot(tonumber(ARGV[4]))
return 1
`)

// ARGV: 2 mid, 3 token, 4 capacity, 5 delay ms, 6 max attempts.
// Returns 1 (requeued), 2 (dead-lettered), 0 (not in flight).
var nackScript = redis.NewScript(prelude + `
local mid = ARGV[2]
if not owned(mid, ARGV[3]) then return 0 end
local now = now_ms()
local key = mprefix .. mid
redis.call('ZREM', inflight, mid)
redis.call('HINCRBY', counters, 'nacked', 1)
local attempt = tonumber(redis.call('HGET', key, 'attempt')) or 0
local max = tonumber(ARGV[6])
if max > 0 and attempt >= max then
  bury(mid, 'max attempts (' .. max .. ') reached', now)
  free_slot(tonumber(ARGV[4]))
  return 2
end
redis.call('HDEL', key, 'token')
local delay = tonumber(ARGV[5])
if delay > 0 then
  redis.call('ZADD', delayed, now + delay, mid)
else
  to_ready(mid)
end
return 1
`)

// ARGV: 2 mid, 3 token, 4 capacity, 5 reason, 6 "1" when malformed.
// Returns 1, or 0 when not in flight.
var deadScript = redis.NewScript(prelude + `
local mid = ARGV[2]
if not owned(mid, ARGV[3]) then return 0 end
redis.call('ZREM', inflight, mid)
bury(mid, ARGV[5], now_ms())
if ARGV[6] == '1' then redis.call('HSET', mprefix .. mid, 'malformed', 1) end
free_slot(tonumber(ARGV[4]))
return 1
`)

// ARGV: 2 mid, 3 token, 4 lease ms. Returns 1, or 0 when not in flight.
var extendScript = redis.NewScript(prelude + `
local mid = ARGV[2]
if not owned(mid, ARGV[3]) then return 0 end
redis.call('ZADD', inflight, 'XX', now_ms() + tonumber(ARGV[4]), mid)
return 1
`)

// ARGV: 2 max attempts, 3 batch, 4 capacity. Moves due delayed tasks and
// tasks whose lease expired back to ready (or to dead past max attempts).
// Returns the milliseconds until the next delay or lease runs out (-1: none;
// 0: more is due now).
var moveScript = redis.NewScript(prelude + `
local now = now_ms()
local max, batch, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, batch)
for _, mid in ipairs(due) do
  redis.call('ZREM', delayed, mid)
  if is_msg(mprefix .. mid) then
    to_ready(mid)
  else
    bury_foreign(mid, 'delayed set', now)
    free_slot(cap)
  end
end
local expired = redis.call('ZRANGEBYSCORE', inflight, '-inf', now, 'LIMIT', 0, batch)
for _, mid in ipairs(expired) do
  redis.call('ZREM', inflight, mid)
  local key = mprefix .. mid
  if is_msg(key) then
    local attempt = tonumber(redis.call('HGET', key, 'attempt')) or 0
    if max > 0 and attempt >= max then
      bury(mid, 'lease expired on attempt ' .. attempt .. ': max attempts (' .. max .. ') reached', now)
      free_slot(cap)
    else
      redis.call('HDEL', key, 'token')
      to_ready(mid)
    end
  else
    bury_foreign(mid, 'in-flight set', now)
    free_slot(cap)
  end
end
if #due == batch or #expired == batch then return 0 end
local nxt = -1
local d = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if d[2] then nxt = tonumber(d[2]) - now end
local f = redis.call('ZRANGE', inflight, 0, 0, 'WITHSCORES')
if f[2] then
  local w = tonumber(f[2]) - now
  if nxt < 0 or w < nxt then nxt = w end
end
if nxt ~= -1 and nxt < 1 then nxt = 1 end
return nxt
`)

// ARGV: 2 limit (<= 0: all). Returns {{mid, body, attempt, reason, dead_at ms, malformed}...}.
var deadListScript = redis.NewScript(prelude + `
local stop = -1
if tonumber(ARGV[2]) > 0 then stop = tonumber(ARGV[2]) - 1 end
local mids = redis.call('LRANGE', dead, 0, stop)
local out = {}
for i, mid in ipairs(mids) do
  local key = mprefix .. mid
  if redis.call('TYPE', key).ok == 'hash' then
    local v = redis.call('HMGET', key, 'body', 'attempt', 'reason', 'dead_at', 'malformed')
    out[i] = {mid, v[1] or '', v[2] or '0', v[3] or '', v[4] or '0', v[5] or '0'}
  else
    out[i] = {mid, '', '0', 'dead letter without a record', '0', '1'}
  end
end
return out
`)

// ARGV: 2 limit (> 0), 3 capacity. Returns how many moved.
var redriveScript = redis.NewScript(prelude + `
local limit, cap = tonumber(ARGV[2]), tonumber(ARGV[3])
local n = 0
while n < limit do
  if cap > 0 and held() >= cap then break end
  local mid = redis.call('LPOP', dead)
  if not mid then break end
  local key = mprefix .. mid
  if redis.call('TYPE', key).ok == 'hash' then
    redis.call('HSET', key, 'attempt', 0)
    redis.call('HDEL', key, 'reason', 'dead_at', 'token')
  end
  to_ready(mid)
  n = n + 1
end
return n
`)

// Returns {ready, in flight, delayed, dead, published, acked, nacked, dead_lettered}.
var statsScript = redis.NewScript(prelude + `
local c = redis.call('HMGET', counters, 'published', 'acked', 'nacked', 'dead_lettered')
return {redis.call('LLEN', ready), redis.call('ZCARD', inflight), redis.call('ZCARD', delayed), redis.call('LLEN', dead),
  tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(c[3]) or 0, tonumber(c[4]) or 0}
`)
