"""The Lua scripts that change shared state on the Redis server.

Every state change is one script, so it is atomic on the server and costs one
round trip. Scripts read the server's ``TIME`` so that processes on different
hosts agree on time. Times are seconds; they are written with six decimals
because Lua's default number-to-string conversion keeps only 14 significant
digits, which would round epoch seconds to a tenth of a millisecond.

Replies carry numbers that are not integers as strings: Redis truncates a
Lua number to an integer reply.
"""

from __future__ import annotations

__all__ = [
    "BREAKER_ACQUIRE",
    "BREAKER_FORCE",
    "BREAKER_RECORD",
    "BREAKER_SNAPSHOT",
    "BUDGET",
    "BULKHEAD_ACQUIRE",
    "BULKHEAD_SNAPSHOT",
    "LIMITER_RESERVE",
    "LIMITER_SNAPSHOT",
    "RENEW",
]

_COMMON = """
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x) return string.format('%.6f', x) end
"""

# The sliding log of the rate limiter: a sorted set of reservation tokens
# scored by their start time. A new start may happen at max(now, the last
# reserved start, start of the max_calls-th latest reservation + period): the
# second term serves waiters in order, the third keeps every window of
# `period` seconds at or under max_calls starts. Starts that left the window
# are purged first; they can no longer delay anyone. With max_wait < 0 it
# only answers how long a caller would wait.
_RESERVE = """
local function reserve(key, max_calls, period, max_wait, token, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now - period))
  local start = now
  -- Waiters keep their arrival order: never start before the last reserved.
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] and tonumber(last[2]) > start then start = tonumber(last[2]) end
  if redis.call('ZCARD', key) >= max_calls then
    local oldest = redis.call('ZRANGE', key, -max_calls, -max_calls, 'WITHSCORES')
    local free_at = tonumber(oldest[2]) + period
    if free_at > start then start = free_at end
  end
  local wait = start - now
  if wait > max_wait then return 0, wait end
  redis.call('ZADD', key, fmt(start), token)
  redis.call('PEXPIRE', key, math.ceil((wait + period) * 1000) + 1000)
  return 1, wait
end
"""

# Breaker state lives in a hash (s: state c/o/h, o: opened at, f: consecutive
# failures, h: half-open successes, n/x/w: window calls/failures/slow calls),
# a list of the last window outcomes (bit 1: failure, bit 2: slow) and a
# sorted set of half-open probe leases scored by their expiry.
#
# ARGV[1] holds every setting in one space-separated string (window size,
# failure threshold, failure rate, slow-call rate or 0, window minimum,
# recovery timeout, success threshold, probe limit, lease ttl): each extra
# argument costs the client more to send than the server to split.
_BREAKER = """
local H, W, P = KEYS[1], KEYS[2], KEYS[3]
local size, threshold, frate, srate, minimum, recovery, successes_needed,
  probe_limit, lease_ttl
do
  local a, b, c, d, e, f, g, h, i = string.match(ARGV[1],
    '^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$')
  size, threshold, frate = tonumber(a), tonumber(b), tonumber(c)
  srate, minimum, recovery = tonumber(d), tonumber(e), tonumber(f)
  successes_needed, probe_limit, lease_ttl = tonumber(g), tonumber(h), tonumber(i)
end
-- TIME only when needed: a closed breaker's acquire never reads the clock.
local now_value = nil
local function now()
  if not now_value then now_value = clock() end
  return now_value
end
local h = redis.call('HMGET', H, 's', 'o', 'f', 'h', 'n', 'x', 'w')
local state = h[1]
-- Anything but a known state (a missing or foreign hash) reads as closed.
if state ~= 'o' and state ~= 'h' then state = 'c' end
local opened = tonumber(h[2]) or 0
local cf = tonumber(h[3]) or 0
local hs = tonumber(h[4]) or 0
local wn = tonumber(h[5]) or 0
local wx = tonumber(h[6]) or 0
local ww = tonumber(h[7]) or 0
local dirty = false
local trans = {}

local function move(new)
  trans[#trans + 1] = state .. new
  state = new
  cf, hs, wn, wx, ww = 0, 0, 0, 0, 0
  redis.call('DEL', W, P)
  dirty = true
end
local function trip() move('o'); opened = now() end
local function push(fail, slow)
  redis.call('RPUSH', W, fail + 2 * slow)
  wn, wx, ww = wn + 1, wx + fail, ww + slow
  if wn > size then
    local old = tonumber(redis.call('LPOP', W))
    wn, wx, ww = wn - 1, wx - old % 2, ww - math.floor(old / 2)
  end
end
local function judge()
  if wn > 0 and wn >= minimum then
    if wx / wn >= frate or (srate > 0 and ww / wn >= srate) then trip() end
  end
end
local function outcome(fail, slow)
  dirty = true
  if fail == 1 then cf = cf + 1 else cf = 0 end
  if size == 0 then
    if cf >= threshold then trip() end
  else
    push(fail, slow)
    judge()
  end
end
local function flush(pending)
  if state ~= 'c' or pending <= 0 then return end
  dirty = true
  cf = 0
  if size > 0 then
    for _ = 1, math.min(pending, size) do push(0, 0) end
    judge()
  end
end
-- What a fast success could still change: consecutive failures in count
-- mode, failed or slow calls in the window otherwise. Zero lets the client
-- skip sending a fast success.
local function bad()
  if size == 0 then return cf end
  return wx + ww
end
local function save()
  if dirty then
    redis.call('HSET', H, 's', state, 'o', fmt(opened), 'f', cf, 'h', hs,
      'n', wn, 'x', wx, 'w', ww)
  end
end
"""

BREAKER_ACQUIRE = (
    _COMMON
    + _RESERVE
    + _BREAKER
    + """
-- ARGV[2]: deferred successes, ARGV[3]: probe lease id; with a fourth key
-- the rate limiter of the same name is asked too (ARGV[4]: max_calls,
-- period and max_wait; the lease id is the reservation token), so the
-- common case costs one round trip for both.
flush(tonumber(ARGV[2]))
local allowed, probe, wait = 1, 0, 0
if state == 'o' then
  local left = opened + recovery - now()
  if left > 0 then allowed, wait = 0, left else move('h') end
end
if state == 'h' then
  redis.call('ZREMRANGEBYSCORE', P, '-inf', fmt(now()))
  if redis.call('ZCARD', P) < probe_limit then
    redis.call('ZADD', P, fmt(now() + lease_ttl), ARGV[3])
    probe = 1
  else
    allowed = 0
  end
end
save()
local granted, lwait = -1, 0
if allowed == 1 and KEYS[4] then
  local calls, period, max_wait = string.match(ARGV[4], '(%S+) (%S+) (%S+)')
  granted, lwait = reserve(KEYS[4], tonumber(calls), tonumber(period),
    tonumber(max_wait), ARGV[3], now())
end
-- The common answers are one integer: cheaper to send and to parse.
if allowed == 1 and probe == 0 and #trans == 0 and state == 'c' and bad() == 0 then
  if granted == -1 then return 0 end
  if granted == 1 and lwait == 0 then return 1 end
end
return {allowed, probe, fmt(wait), table.concat(trans, ','), state, bad(),
  granted, fmt(lwait)}
"""
)

BREAKER_RECORD = (
    _COMMON
    + _BREAKER
    + """
-- ARGV[2]: outcome (bit 1: failure, bit 2: slow), ARGV[3]: probe lease id
-- or '', ARGV[4]: deferred successes. A probe counts only while its lease
-- is live in the half-open state that granted it; an ordinary call counts
-- only while closed. Late results from an earlier state are dropped.
flush(tonumber(ARGV[4]))
local code, lease = tonumber(ARGV[2]), ARGV[3]
local fail, slow = code % 2, math.floor(code / 2)
local held = lease ~= '' and redis.call('ZREM', P, lease) == 1
if lease == '' then
  if state == 'c' then outcome(fail, slow) end
elseif state == 'h' and held then
  -- A slow probe is no evidence of recovery: it re-opens the breaker too.
  if fail == 1 or slow == 1 then
    trip()
  else
    hs = hs + 1
    dirty = true
    if hs >= successes_needed then move('c') end
  end
end
save()
if #trans == 0 and state == 'c' then return bad() end
return {table.concat(trans, ','), state, bad()}
"""
)

BREAKER_FORCE = (
    _COMMON
    + _BREAKER
    + """
-- ARGV[2]: the state to move to (c, o or h); counters are cleared.
local target = ARGV[2]
local old = state
move(target)
if target == 'o' then opened = now() end
save()
if old == target then return '' end
return old .. target
"""
)

BREAKER_SNAPSHOT = (
    _COMMON
    + _BREAKER
    + """
-- ARGV[2]: deferred successes, counted before the state is read.
flush(tonumber(ARGV[2]))
save()
local retry_after = 0
if state == 'o' then
  retry_after = opened + recovery - now()
  -- The next call turns it half-open; report what that call will see.
  if retry_after <= 0 then state, hs, retry_after = 'h', 0, 0 end
end
local probes = 0
if state == 'h' then probes = redis.call('ZCOUNT', P, '(' .. fmt(now()), '+inf') end
return {state, cf, wn, wx, ww, probes, hs, fmt(retry_after)}
"""
)

LIMITER_RESERVE = (
    _COMMON
    + _RESERVE
    + """
-- ARGV: max_calls, period, max_wait, token
local granted, wait = reserve(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
  tonumber(ARGV[3]), ARGV[4], clock())
if granted == 1 and wait == 0 then return 1 end
return {granted, fmt(wait)}
"""
)

LIMITER_SNAPSHOT = (
    _COMMON
    + """
-- ARGV: period. Counts the starts inside the window ending now.
local now = clock()
return redis.call('ZCOUNT', KEYS[1], '(' .. fmt(now - tonumber(ARGV[1])), fmt(now))
"""
)

# Bulkhead: KEYS slots (lease -> expiry), queue (waiter -> arrival) and alive
# (waiter -> expiry). A caller may take a free slot only when fewer waiters
# are ahead of it than there are free slots, so waiters are served first
# come, first served across processes. Expired slots and waiters that
# stopped polling are purged, so a dead holder's slot comes back by itself.
_BULKHEAD = """
local S, Q, A = KEYS[1], KEYS[2], KEYS[3]
local now = clock()
local function purge()
  redis.call('ZREMRANGEBYSCORE', S, '-inf', fmt(now))
  local dead = redis.call('ZRANGEBYSCORE', A, '-inf', fmt(now))
  for _, id in ipairs(dead) do
    redis.call('ZREM', A, id)
    redis.call('ZREM', Q, id)
  end
end
"""

BULKHEAD_ACQUIRE = (
    _COMMON
    + _BULKHEAD
    + """
-- ARGV: max_concurrent, lease id, lease ttl, wait 0/1, waiter ttl
local limit, id, ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
purge()
local free = limit - redis.call('ZCARD', S)
if free > 0 then
  local ahead = redis.call('ZRANK', Q, id) or redis.call('ZCARD', Q)
  if ahead < free then
    redis.call('ZADD', S, fmt(now + ttl), id)
    redis.call('ZREM', Q, id)
    redis.call('ZREM', A, id)
    return 1
  end
end
if ARGV[4] == '1' then
  redis.call('ZADD', Q, 'NX', fmt(now), id)
  redis.call('ZADD', A, fmt(now + tonumber(ARGV[5])), id)
end
return 0
"""
)

BULKHEAD_SNAPSHOT = (
    _COMMON
    + _BULKHEAD
    + """
local live = '(' .. fmt(now)
return {redis.call('ZCOUNT', S, live, '+inf'), redis.call('ZCOUNT', A, live, '+inf')}
"""
)

BUDGET = (
    _COMMON
    + """
-- A token bucket. ARGV: capacity, refill per second, take 0/1. A missing
-- key is a full bucket, so the key may expire once it would be full again.
local capacity, rate, take = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local now = clock()
local b = redis.call('HMGET', KEYS[1], 't', 'u')
local tokens = tonumber(b[1]) or capacity
local updated = tonumber(b[2]) or now
if now > updated then tokens = math.min(capacity, tokens + (now - updated) * rate) end
local ok = 0
if take == '1' then
  if tokens >= 1 then tokens, ok = tokens - 1, 1 end
  redis.call('HSET', KEYS[1], 't', fmt(tokens), 'u', fmt(now))
  if rate > 0 then
    redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
  end
end
return {ok, fmt(tokens)}
"""
)

RENEW = (
    _COMMON
    + """
-- ARGV: ttl, then lease ids. Only leases still held are extended: a lease
-- that already expired was given to someone else and is not taken back.
local expiry = fmt(clock() + tonumber(ARGV[1]))
local kept = 0
for i = 2, #ARGV do
  kept = kept + redis.call('ZADD', KEYS[1], 'XX', 'CH', expiry, ARGV[i])
end
return kept
"""
)
