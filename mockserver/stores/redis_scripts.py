"""The Lua scripts of the Redis store (:mod:`.redis_store`): each runs atomically in Redis, so an
operation that reads and writes (a rule consumed, a compare-and-set, a due item claimed, a capped
collection trimmed) is one round trip no other worker can interleave with.

:func:`batch` joins several into one script (a request's held-back writes, see :mod:`.redis_held`);
:data:`CHECK` opens such a batch when the request ran on what a worker remembered rather than on
what it read (its opening, its ids): it refuses the batch, writing nothing, when that no longer
holds.
"""

from __future__ import annotations

from collections.abc import Sequence

STALE = "STALE"
"""How :data:`CHECK`'s refusals begin (``STALE opening``, ``STALE ids``)."""

JOURNAL_APPEND = """
local seq = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[1], '*', 's', seq, 'd', ARGV[1], 'n', ARGV[2])
local total = redis.call('INCRBY', KEYS[2], ARGV[2])
local len = redis.call('XLEN', KEYS[1])
local maxlen, maxbytes = tonumber(ARGV[3]), tonumber(ARGV[4])
while len > 1 and (len > maxlen or total > maxbytes) do
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  local fields, n = first[2], 0
  for i = 1, #fields, 2 do if fields[i] == 'n' then n = tonumber(fields[i + 1]) end end
  redis.call('XDEL', KEYS[1], first[1])
  total = redis.call('DECRBY', KEYS[2], n)
  len = len - 1
end
return seq
"""

RULE_ADD = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return false end
local id = redis.call('INCR', KEYS[2])
local rule = cjson.decode(ARGV[1])
rule['id'] = id
local text = cjson.encode(rule)
redis.call('RPUSH', KEYS[1], text)
return text
"""

MATCH = """
local function matches(rule, provider, operation)
  local op = rule['operation']
  return rule['provider'] == provider and (op == cjson.null or op == operation)
end
"""

TAKE = (
    MATCH
    + """
local function take(key, provider, operation)
  local rules = redis.call('LRANGE', key, 0, -1)
  for i, text in ipairs(rules) do
    local rule = cjson.decode(text)
    if matches(rule, provider, operation) then
      if rule['remaining'] ~= cjson.null then
        rule['remaining'] = rule['remaining'] - 1
        if rule['remaining'] <= 0 then
          redis.call('LREM', key, 1, text)
        else
          redis.call('LSET', key, i - 1, cjson.encode(rule))
        end
      end
      return cjson.encode(rule)
    end
  end
  return false
end
"""
)

RULE_TAKE = TAKE + "return take(KEYS[1], ARGV[1], ARGV[2])"

# ARGV: provider, operation, JSON object of the scenarios that may be taken (name: true). The
# first matching rule is taken only if its scenario is one of them; a later one never instead.
RULE_TAKE_IF = (
    TAKE
    + """
local allowed = cjson.decode(ARGV[3])
for _, text in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local rule = cjson.decode(text)
  if matches(rule, ARGV[1], ARGV[2]) then
    if allowed[rule['scenario']] then return take(KEYS[1], ARGV[1], ARGV[2]) end
    return false
  end
end
return false
"""
)

# KEYS: rules, defaults hash, clock; ARGV: provider, operation, take a rule (1/0)
OPENING = (
    TAKE
    + """
local rule = false
if ARGV[3] == '1' then rule = take(KEYS[1], ARGV[1], ARGV[2]) end
return {rule, redis.call('HGET', KEYS[2], ARGV[1]), redis.call('GET', KEYS[3])}
"""
)

CAS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local n = tonumber(ARGV[1])
for i = 2, 2 * n, 2 do
  local have = redis.call('HGET', KEYS[1], ARGV[i])
  if not have then have = 'null' end
  if have ~= ARGV[i + 1] then return {0, redis.call('HGETALL', KEYS[1])} end
end
if #ARGV > 2 * n + 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2 * n + 2)) end
return {1, redis.call('HGETALL', KEYS[1])}
"""

POLL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HINCRBY', KEYS[1], 'polls', 1)
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: record hash, index zset, counter; ARGV: limit, key prefix of records, member, fields...
CAPPED_HSET = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[3])
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[1]) do
  local gone = redis.call('ZPOPMIN', KEYS[2])[1]
  redis.call('DEL', ARGV[2] .. gone)
end
return 1
"""

# KEYS: job hash, index zset, counter, due prefix; ARGV: limit, job prefix, member, the count of
# field arguments (names and JSON texts), the fields, then provider, member, score triples
JOB_CREATE = """
local n = tonumber(ARGV[4])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 5, 4 + n))
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[3])
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[1]) do
  local gone = cjson.decode(redis.call('ZPOPMIN', KEYS[2])[1])
  redis.call('DEL', ARGV[2] .. gone[1] .. ':' .. gone[2])
end
for i = 5 + n, #ARGV, 3 do redis.call('ZADD', KEYS[4] .. ARGV[i], ARGV[i + 2], ARGV[i + 1]) end
return 1
"""

# KEYS: due zset, claimed zset per provider (pairs); ARGV: now, lease, limit
CLAIM = """
local t = redis.call('TIME')
local real = tonumber(t[1]) + tonumber(t[2]) / 1000000
local now, lease, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for k = 1, #KEYS, 2 do
  local due, claimed = KEYS[k], KEYS[k + 1]
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', claimed, '-inf', real)) do
    redis.call('ZREM', claimed, member)
    redis.call('ZADD', due, now, member)
  end
  local left = limit - #out / 2
  if left > 0 then
    local found = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'WITHSCORES', 'LIMIT', 0, left)
    for i = 1, #found, 2 do
      redis.call('ZREM', due, found[i])
      redis.call('ZADD', claimed, real + lease, found[i])
      table.insert(out, found[i])
      table.insert(out, found[i + 1])
    end
  end
end
return out
"""

# KEYS: claimed zset of the item, due prefix; ARGV: member, then provider, member, score triples
DONE = """
redis.call('ZREM', KEYS[1], ARGV[1])
for i = 2, #ARGV, 3 do redis.call('ZADD', KEYS[2] .. ARGV[i], ARGV[i + 2], ARGV[i + 1]) end
return 1
"""

# KEYS: claimed prefix; ARGV: lease, then provider, member pairs
EXTEND = """
local t = redis.call('TIME')
local expiry = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
for i = 2, #ARGV, 2 do redis.call('ZADD', KEYS[1] .. ARGV[i], 'XX', expiry, ARGV[i + 1]) end
return 1
"""

RELEASE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) end
return 1
"""

# KEYS: keys hash, index zset, id counter, key-of hash; ARGV: key, limit, record prefix, fields...
DELIVERY_CREATE = """
local known = redis.call('HGET', KEYS[1], ARGV[1])
if known and redis.call('EXISTS', ARGV[3] .. known) == 1 then
  return {0, known, redis.call('HGETALL', ARGV[3] .. known)}
end
local id = redis.call('INCR', KEYS[3])
redis.call('HSET', ARGV[3] .. id, 'id', id, unpack(ARGV, 4))
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('HSET', KEYS[4], id, ARGV[1])
redis.call('ZADD', KEYS[2], id, id)
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[2]) do
  local gone = redis.call('ZPOPMIN', KEYS[2])[1]
  redis.call('DEL', ARGV[3] .. gone)
  local key = redis.call('HGET', KEYS[4], gone)
  if key then redis.call('HDEL', KEYS[1], key) end
  redis.call('HDEL', KEYS[4], gone)
end
return {1, tostring(id), redis.call('HGETALL', ARGV[3] .. id)}
"""

LIST_ADD = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return false end
local item = cjson.decode(ARGV[1])
item['id'] = redis.call('INCR', KEYS[2])
local text = cjson.encode(item)
redis.call('RPUSH', KEYS[1], text)
return text
"""

# KEYS: index zset, bytes counter, evicted zset, sizes hash;
# ARGV: key, data, meta, ttl ms, max count, max bytes, upload prefix
UPLOAD_PUT = """
local prefix = ARGV[7]
for _, key in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', prefix .. key) == 0 then
    redis.call('ZREM', KEYS[1], key)
    redis.call('DECRBY', KEYS[2], redis.call('HGET', KEYS[4], key) or 0)
    redis.call('HDEL', KEYS[4], key)
  end
end
local old = redis.call('HGET', KEYS[4], ARGV[1])
if old then redis.call('DECRBY', KEYS[2], old) end
local size = string.len(ARGV[2])
redis.call('HSET', prefix .. ARGV[1], 'data', ARGV[2], 'meta', ARGV[3])
if tonumber(ARGV[4]) > 0 then redis.call('PEXPIRE', prefix .. ARGV[1], ARGV[4]) end
redis.call('HSET', KEYS[4], ARGV[1], size)
redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2] .. ':n'), ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
local total = redis.call('INCRBY', KEYS[2], size)
local function over()
  local n = redis.call('ZCARD', KEYS[1])
  return n > 1 and (n > tonumber(ARGV[5]) or total > tonumber(ARGV[6]))
end
while over() do
  local gone = redis.call('ZPOPMIN', KEYS[1])[1]
  total = redis.call('DECRBY', KEYS[2], redis.call('HGET', KEYS[4], gone) or 0)
  redis.call('HDEL', KEYS[4], gone)
  redis.call('DEL', prefix .. gone)
  redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[2] .. ':n'), gone)
  while redis.call('ZCARD', KEYS[3]) > 10 * tonumber(ARGV[5]) do redis.call('ZPOPMIN', KEYS[3]) end
end
return 1
"""


# KEYS: rules, defaults hash, clock, epoch; ARGV: provider, operation, what the opening assumed
# ('1': no matching rule and this default and clock; '0': this default and clock; '-': nothing),
# the default ('' none, else '=' .. scenario), the clock ('' none, else '=' .. offset), the epoch
# the ids were drawn in ('': no id assumed). Refuses with STALE when an assumption fails.
CHECK = (
    MATCH
    + """
if ARGV[3] ~= '-' then
  if ARGV[3] == '1' then
    for _, text in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
      if matches(cjson.decode(text), ARGV[1], ARGV[2]) then return redis.error_reply('STALE opening') end
    end
  end
  local default, clock = redis.call('HGET', KEYS[2], ARGV[1]), redis.call('GET', KEYS[3])
  if (default and '=' .. default or '') ~= ARGV[4] or (clock and '=' .. clock or '') ~= ARGV[5] then
    return redis.error_reply('STALE opening')
  end
end
if ARGV[6] ~= '' and (redis.call('GET', KEYS[4]) or '0') ~= ARGV[6] then
  return redis.error_reply('STALE ids')
end
return 1
"""
)

# KEYS: counter, epoch; ARGV: block size. The last number of the block, and the epoch it is of.
DRAW = """
return {redis.call('INCRBY', KEYS[1], ARGV[1]), redis.call('GET', KEYS[2]) or '0'}
"""

# KEYS: counter; ARGV: ttl ms (0: none). With a ttl, a per-window counter: forgotten ttl after
# it was created.
COUNT = """
local n = redis.call('INCR', KEYS[1])
if ARGV[1] ~= '0' and redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""

_BATCH_RUN = """
local function slice(t, from, n)
  local out = {}
  for i = 1, n do out[i] = t[from + i - 1] end
  return out
end
local out, k, a = {}, 1, 2 * #f + 1
for j = 1, #f do
  local nk, na = tonumber(ARGV[2 * j - 1]), tonumber(ARGV[2 * j])
  out[j] = f[j](slice(KEYS, k, nk), slice(ARGV, a, na))
  if type(out[j]) == 'table' and out[j].err then return out[j] end
  k, a = k + nk, a + na
end
return out
"""


def batch(scripts: Sequence[str]) -> str:
    """One script running ``scripts`` in order, each on its own KEYS and ARGV (ARGV starts with
    each one's key and argument counts); it returns their results."""
    parts = [f"f[{j}] = function(KEYS, ARGV)\n{script}\nend" for j, script in enumerate(scripts, 1)]
    return "\n".join(["local f = {}", *parts, _BATCH_RUN])
