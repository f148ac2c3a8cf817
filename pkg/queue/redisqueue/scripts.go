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
local ready, inflight, delayed, dead, counters, seq, signal, ids = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
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
-- signal_ready leaves wake-up tokens for blocked receivers (one per
-- process waits, see Driver.Receive), at most 16: a woken receiver claims
-- a batch, and a claim that empties the ready list deletes the tokens.
local function signal_ready(n)
  local have = redis.call('LLEN', signal)
  if have < 16 then
    local add = math.min(n, 16 - have)
    local t = {}
    for i = 1, add do t[i] = 1 end
    redis.call('RPUSH', signal, unpack(t))
  end
end
local function held()
  return redis.call('LLEN', ready) + redis.call('ZCARD', inflight) + redis.call('ZCARD', delayed)
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

// ARGV: 2 capacity, 3.. pairs task id, body. Stores as many as fit under
// capacity, in order, and returns how many. The task id is counted in the
// ids hash (task id -> copies held) until the copy is acked, so HeldTasks
// can answer by id; a dead letter stays counted (the queue still holds it).
var sendScript = redis.NewScript(prelude + `
local cap = tonumber(ARGV[2])
local n = (#ARGV - 2) / 2
if cap > 0 then n = math.min(n, cap - held()) end
if n <= 0 then return 0 end
for i = 1, n do
  local tid, b = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
  local mid = tostring(redis.call('INCR', seq))
  redis.call('HSET', mprefix .. mid, 'body', b, 'attempt', 0, 'tid', tid)
  redis.call('HINCRBY', ids, tid, 1)
  redis.call('LPUSH', ready, mid)
end
signal_ready(n)
redis.call('HINCRBY', counters, 'published', n)
return n
`)

// ARGV: 2 lease ms, 3 token prefix, 4 max. Returns {mid, attempt, body,
// token, ...} for up to max claimed messages (empty: nothing ready).
// Entries that are no message of ours are dead-lettered on the way.
var claimScript = redis.NewScript(prelude + `
local now = now_ms()
local deadline = now + tonumber(ARGV[2])
local out = {}
local max = tonumber(ARGV[4])
local got, seen = 0, 0
while got < max and seen < max + 16 do
  local mid = redis.call('RPOP', ready)
  if not mid then break end
  seen = seen + 1
  local key = mprefix .. mid
  local b = body(key)
  if b then
    local attempt = redis.call('HINCRBY', key, 'attempt', 1)
    local token = ARGV[3] .. '.' .. got
    redis.call('HSET', key, 'token', token)
    redis.call('ZADD', inflight, deadline, mid)
    out[#out + 1] = mid
    out[#out + 1] = attempt
    out[#out + 1] = b
    out[#out + 1] = token
    got = got + 1
  else
    bury_foreign(mid, 'ready list', now)
  end
end
if redis.call('LLEN', ready) == 0 then redis.call('DEL', signal) end
return out
`)

// ARGV: 2 capacity, then per message 5 values: mid, token, op (a ack, n
// nack, d dead, m dead malformed), delay ms (nack) or "1" when a dead-letter
// ends a nack, reason. Returns one 1/0 (settled / not in flight) each.
var settleScript = redis.NewScript(prelude + `
local out = {}
local now = nil
local readied = 0
for i = 3, #ARGV, 5 do
  local mid, token, op, num, reason = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
  if not owned(mid, token) then
    out[#out + 1] = 0
  else
    local key = mprefix .. mid
    redis.call('ZREM', inflight, mid)
    if op == 'a' then
      local tid = redis.call('HGET', key, 'tid')
      if tid then
        if redis.call('HINCRBY', ids, tid, -1) <= 0 then redis.call('HDEL', ids, tid) end
      end
      redis.call('DEL', key)
      redis.call('HINCRBY', counters, 'acked', 1)
    elseif op == 'n' then
      redis.call('HDEL', key, 'token')
      redis.call('HINCRBY', counters, 'nacked', 1)
      local delay = tonumber(num)
      if delay > 0 then
        now = now or now_ms()
        redis.call('ZADD', delayed, now + delay, mid)
      else
        redis.call('LPUSH', ready, mid)
        readied = readied + 1
      end
    else
      now = now or now_ms()
      if num == '1' then redis.call('HINCRBY', counters, 'nacked', 1) end
      bury(mid, reason, now)
      if op == 'm' then redis.call('HSET', key, 'malformed', 1) end
    end
    out[#out + 1] = 1
  end
end
if readied > 0 then signal_ready(readied) end
return out
`)

// ARGV: 2 mid, 3 token, 4 lease ms. Returns 1, or 0 when not in flight.
var extendScript = redis.NewScript(prelude + `
local mid = ARGV[2]
if not owned(mid, ARGV[3]) then return 0 end
redis.call('ZADD', inflight, 'XX', now_ms() + tonumber(ARGV[4]), mid)
return 1
`)

// ARGV: 2.. pairs mid, token. Hands read-ahead messages back: ready again
// at the head of the list, their delivery not counted.
var releaseScript = redis.NewScript(prelude + `
local n = 0
for i = 2, #ARGV, 2 do
  local mid = ARGV[i]
  if owned(mid, ARGV[i+1]) then
    local key = mprefix .. mid
    redis.call('ZREM', inflight, mid)
    redis.call('HDEL', key, 'token')
    redis.call('HINCRBY', key, 'attempt', -1)
    redis.call('RPUSH', ready, mid)
    n = n + 1
  end
end
if n > 0 then signal_ready(n) end
return n
`)

// ARGV: 2 batch. Moves due delayed tasks and tasks whose lease expired back
// to ready; the portable type dead-letters a task delivered past its
// maximum attempts when it is claimed. Returns the milliseconds until the
// next delay or lease runs out (-1: none; 0: more is due now).
var moveScript = redis.NewScript(prelude + `
local now = now_ms()
local batch = tonumber(ARGV[2])
local readied = 0
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, batch)
for _, mid in ipairs(due) do
  redis.call('ZREM', delayed, mid)
  if is_msg(mprefix .. mid) then
    redis.call('LPUSH', ready, mid)
    readied = readied + 1
  else
    bury_foreign(mid, 'delayed set', now)
  end
end
local expired = redis.call('ZRANGEBYSCORE', inflight, '-inf', now, 'LIMIT', 0, batch)
for _, mid in ipairs(expired) do
  redis.call('ZREM', inflight, mid)
  local key = mprefix .. mid
  if is_msg(key) then
    redis.call('HDEL', key, 'token')
    redis.call('LPUSH', ready, mid)
    readied = readied + 1
  else
    bury_foreign(mid, 'in-flight set', now)
  end
end
if readied > 0 then signal_ready(readied) end
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
  redis.call('LPUSH', ready, mid)
  n = n + 1
end
if n > 0 then signal_ready(n) end
return n
`)

// ARGV: 2.. task ids. Returns one count each: the copies the queue holds
// under that id (ready, in flight, delayed or dead).
var heldScript = redis.NewScript(prelude + `
local out = {}
local v = redis.call('HMGET', ids, unpack(ARGV, 2))
for i = 1, #ARGV - 1 do out[i] = tonumber(v[i]) or 0 end
return out
`)

// Returns {ready, in flight, delayed, dead, published, acked, nacked, dead_lettered}.
var statsScript = redis.NewScript(prelude + `
local c = redis.call('HMGET', counters, 'published', 'acked', 'nacked', 'dead_lettered')
return {redis.call('LLEN', ready), redis.call('ZCARD', inflight), redis.call('ZCARD', delayed), redis.call('LLEN', dead),
  tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(c[3]) or 0, tonumber(c[4]) or 0}
`)
