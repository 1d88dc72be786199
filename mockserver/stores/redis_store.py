"""The shared store: Redis through redis-py's asyncio client, for several workers and hosts.

Every key is ``<prefix>:<name>`` (``--state-prefix``), so several mocks can share one Redis and
:meth:`RedisStore.reset` clears only its own. Each operation is one round trip: a single command,
a pipeline, or a Lua script where it reads and writes (rules consumed, jobs and deliveries
compared-and-set, due items claimed, capped collections trimmed), so it is atomic with respect to
every other worker. On a request's hot path (see :meth:`RedisStore.deferring`) the writes that answer
nothing wait for the request's next call and go out with it as one script, so a generation costs
three round trips: the opening, the id counter, and the file, the job and the journal entry.
Records are hashes of JSON-encoded top-level fields (a compare-and-set
compares fields); the journal is two capped streams (requests, webhook attempts), trimmed by
count and bytes; counters expire; uploads carry a TTL and a total-bytes cap.

A lost connection raises :class:`~mockserver.errors.StoreUnavailable` within the socket timeout;
the pool reconnects by itself once Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from headshot_mock.mockserver.errors import StateFull, StoreUnavailable
from headshot_mock.mockserver.stores.base import Due, Limits, Opening, Record
from headshot_mock.mockserver.stores.memory import size_of

if TYPE_CHECKING:
    import redis.asyncio
    from redis.commands.core import AsyncScript

P = ParamSpec("P")
T = TypeVar("T")

SOCKET_TIMEOUT = 2.0
"""Seconds one Redis call may take before the request answers 503."""

_JOURNAL_APPEND = """
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

_RULE_ADD = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return false end
local id = redis.call('INCR', KEYS[2])
local rule = cjson.decode(ARGV[1])
rule['id'] = id
local text = cjson.encode(rule)
redis.call('RPUSH', KEYS[1], text)
return text
"""

_TAKE = """
local function take(key, provider, operation)
  local rules = redis.call('LRANGE', key, 0, -1)
  for i, text in ipairs(rules) do
    local rule = cjson.decode(text)
    local op = rule['operation']
    if rule['provider'] == provider and (op == cjson.null or op == operation) then
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

_RULE_TAKE = _TAKE + "return take(KEYS[1], ARGV[1], ARGV[2])"

# ARGV: provider, operation, JSON object of the scenarios that may be taken (name: true)
_RULE_TAKE_IF = (
    _TAKE
    + """
local allowed = cjson.decode(ARGV[3])
for _, text in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local rule = cjson.decode(text)
  local op = rule['operation']
  if rule['provider'] == ARGV[1] and (op == cjson.null or op == ARGV[2]) then
    if allowed[rule['scenario']] then return take(KEYS[1], ARGV[1], ARGV[2]) end
    return false
  end
end
return false
"""
)

# KEYS: rules, defaults hash, clock; ARGV: provider, operation, take a rule (1/0)
_OPENING = (
    _TAKE
    + """
local rule = false
if ARGV[3] == '1' then rule = take(KEYS[1], ARGV[1], ARGV[2]) end
return {rule, redis.call('HGET', KEYS[2], ARGV[1]), redis.call('GET', KEYS[3])}
"""
)

_CAS = """
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

_POLL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HINCRBY', KEYS[1], 'polls', 1)
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: record hash, index zset, counter; ARGV: limit, key prefix of records, member, fields...
_CAPPED_HSET = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[3])
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[1]) do
  local gone = redis.call('ZPOPMIN', KEYS[2])[1]
  redis.call('DEL', ARGV[2] .. gone)
end
return 1
"""

# KEYS: job hash, index zset, counter, due prefix; ARGV: limit, job prefix, member, the fields (a
# JSON array of names and JSON texts: one argument packs faster than many), then provider, member,
# score triples
_JOB_CREATE = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(cjson.decode(ARGV[4])))
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[3])
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[1]) do
  local gone = cjson.decode(redis.call('ZPOPMIN', KEYS[2])[1])
  redis.call('DEL', ARGV[2] .. gone[1] .. ':' .. gone[2])
end
for i = 5, #ARGV, 3 do redis.call('ZADD', KEYS[4] .. ARGV[i], ARGV[i + 2], ARGV[i + 1]) end
return 1
"""

# KEYS: due zset, claimed zset per provider (pairs); ARGV: now, lease, limit
_CLAIM = """
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
_DONE = """
redis.call('ZREM', KEYS[1], ARGV[1])
for i = 2, #ARGV, 3 do redis.call('ZADD', KEYS[2] .. ARGV[i], ARGV[i + 2], ARGV[i + 1]) end
return 1
"""

# KEYS: claimed prefix; ARGV: lease, then provider, member pairs
_EXTEND = """
local t = redis.call('TIME')
local expiry = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
for i = 2, #ARGV, 2 do redis.call('ZADD', KEYS[1] .. ARGV[i], 'XX', expiry, ARGV[i + 1]) end
return 1
"""

_RELEASE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) end
return 1
"""

# KEYS: keys hash, index zset, id counter, key-of hash; ARGV: key, limit, record prefix, fields...
_DELIVERY_CREATE = """
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

_LIST_ADD = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return false end
local item = cjson.decode(ARGV[1])
item['id'] = redis.call('INCR', KEYS[2])
local text = cjson.encode(item)
redis.call('RPUSH', KEYS[1], text)
return text
"""

# KEYS: index zset, bytes counter, evicted zset, sizes hash;
# ARGV: key, data, meta, ttl ms, max count, max bytes, upload prefix
_UPLOAD_PUT = """
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


_CARRIERS = frozenset({"file_put", "job_create", "journal_append", "_flush", "_send"})
"""Methods that send the writes :meth:`RedisStore.deferring` held back themselves (in their own
round trip); every other call sends them first."""

_Write = tuple[str, list[str], list[Any]]
"""A held-back write: a Lua script, its keys, its arguments."""


@dataclass(slots=True)
class _Held:
    store: RedisStore
    task: asyncio.Task[Any] | None
    writes: list[_Write] = field(default_factory=list)


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
  k, a = k + nk, a + na
end
return out
"""


def _batch(scripts: Sequence[str]) -> str:
    """One script running ``scripts`` in order, each on its own KEYS and ARGV (ARGV starts with
    each one's key and argument counts); it returns their results."""
    parts = [f"f[{j}] = function(KEYS, ARGV)\n{script}\nend" for j, script in enumerate(scripts, 1)]
    return "\n".join(["local f = {}", *parts, _BATCH_RUN])


_HELD: ContextVar[_Held | None] = ContextVar("headshot_mock_redis_held", default=None)


def _guarded(method: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Connection trouble becomes :class:`StoreUnavailable` (answered 503), never a hang or a 500."""

    carries = method.__name__ in _CARRIERS

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        import redis.exceptions

        try:
            if not carries:
                store = args[0]
                assert isinstance(store, RedisStore)
                await store._flush()
            return await method(*args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            store = args[0]
            assert isinstance(store, RedisStore)
            raise StoreUnavailable(store.where, f"{type(exc).__name__}: {exc}") from None

    return call


async def _ready(value: Awaitable[T] | T) -> T:
    """redis-py's commands are typed for its sync and async clients at once."""
    if inspect.isawaitable(value):
        return await value
    return value


def _enc(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _fields(record: Mapping[str, Any]) -> list[str]:
    return [part for key, value in record.items() for part in (key, _enc(value))]


def _record(flat: Sequence[bytes]) -> Record:
    return {flat[i].decode(): json.loads(flat[i + 1]) for i in range(0, len(flat), 2)}


def _hash(found: Mapping[bytes, bytes]) -> Record:
    return {k.decode(): json.loads(v) for k, v in found.items()}


class RedisStore:
    """State in Redis (``redis://host:port/db``), under ``prefix``."""

    shared = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "headshot-mock",
        limits: Limits | None = None,
        max_connections: int = 64,
    ) -> None:
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        self.url = url
        parts = urlsplit(url)
        self.where = (
            f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"
        )
        """The URL without a password, for messages."""
        self.limits = limits or Limits()
        self._p = f"{prefix}:"
        self._redis: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), 1),
            max_connections=max_connections,
        )
        pool = self._redis.connection_pool
        if pool.connection_class is redis.asyncio.Connection:  # plain TCP (not TLS, not a socket file)
            pool.connection_class = _packing_connection()
        r = self._redis
        self._journal_append = r.register_script(_JOURNAL_APPEND)
        self._rule_add = r.register_script(_RULE_ADD)
        self._rule_take = r.register_script(_RULE_TAKE)
        self._rule_take_if = r.register_script(_RULE_TAKE_IF)
        self._opening = r.register_script(_OPENING)
        self._batches: dict[tuple[str, ...], AsyncScript] = {}
        self._cas = r.register_script(_CAS)
        self._poll = r.register_script(_POLL)
        self._capped_hset = r.register_script(_CAPPED_HSET)
        self._job_create = r.register_script(_JOB_CREATE)
        self._claim = r.register_script(_CLAIM)
        self._done = r.register_script(_DONE)
        self._release = r.register_script(_RELEASE)
        self._extend = r.register_script(_EXTEND)
        self._delivery_create = r.register_script(_DELIVERY_CREATE)
        self._list_add = r.register_script(_LIST_ADD)
        self._upload_put = r.register_script(_UPLOAD_PUT)

    def _k(self, *parts: str) -> str:
        return self._p + ":".join(parts)

    # held-back writes ---------------------------------------------------------------------
    def deferring(self) -> AbstractAsyncContextManager[None]:
        return self._deferring()

    @contextlib.asynccontextmanager
    async def _deferring(self) -> AsyncIterator[None]:
        if self._held() is not None:  # already deferring: the outer one sends them
            yield
            return
        held = _Held(self, asyncio.current_task())
        token = _HELD.set(held)
        try:
            yield
        except BaseException:
            _HELD.reset(token)
            with contextlib.suppress(StoreUnavailable):  # the first failure is the one to tell
                await self._send_held(held)
            raise
        _HELD.reset(token)
        await self._send_held(held)

    def _held(self) -> _Held | None:
        """This task's held-back writes to this store (None: this task is not deferring)."""
        held = _HELD.get()
        if held is None or held.store is not self or held.task is not asyncio.current_task():
            return None  # a task started inside a deferring one sees its context, not its writes
        return held

    def _hold(self, script: str, keys: list[str], args: list[Any]) -> bool:
        held = self._held()
        if held is None:
            return False
        held.writes.append((script, keys, args))
        return True

    @_guarded
    async def _flush(self) -> None:
        """Send this task's held-back writes now (nothing to send: no round trip)."""
        held = self._held()
        if held is not None and held.writes:
            await self._send_held(held)

    async def _send_held(self, held: _Held, *also: _Write) -> list[Any]:
        writes, held.writes = [*held.writes, *also], []
        return await self._send(writes) if writes else []

    @_guarded
    async def _send(self, writes: Sequence[_Write]) -> list[Any]:
        """Run ``writes`` in order as one script: one round trip, one command, atomic."""
        scripts = tuple(script for script, _, _ in writes)
        batch = self._batches.get(scripts)
        if batch is None:
            batch = self._redis.register_script(_batch(scripts))
            if len(self._batches) < 64:  # a few shapes recur (files per answer, a job, an entry)
                self._batches[scripts] = batch
        sizes: list[Any] = [n for _, keys, args in writes for n in (len(keys), len(args))]
        keys = [key for _, ks, _ in writes for key in ks]
        args: list[Any] = [arg for _, _, ags in writes for arg in ags]
        return list(await batch(keys=keys, args=[*sizes, *args]))

    @_guarded
    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless Redis answers (a wrong URL at start-up)."""
        await _ready(self._redis.ping())

    # journal ------------------------------------------------------------------------------
    @_guarded
    async def journal_append(self, entry: Record) -> int:
        ring = "webhook" if entry.get("kind") == "webhook" else "request"
        data = _enc({k: v for k, v in entry.items() if k != "seq"}).encode("utf-8", "replace")
        limit = self.limits.deliveries if ring == "webhook" else self.limits.journal_entries
        keys = [self._k("journal", ring), self._k("journal", ring, "bytes"), self._k("seq")]
        size = len(data) if "seq" not in entry else size_of(entry)  # as MemoryStore counts it
        args: list[Any] = [data, size, limit, self.limits.journal_bytes]
        held = self._held()
        if held is not None and held.writes:  # the request's writes and its entry: one round trip
            return int((await self._send_held(held, (_JOURNAL_APPEND, keys, args)))[-1])
        return int(await self._journal_append(keys=keys, args=args))

    @_guarded
    async def journal_entries(
        self, *, where: Callable[[Record], bool] | None = None, newest: int | None = None
    ) -> list[Record]:
        entries = await self._journal_all()
        if where is not None:
            entries = [e for e in entries if where(e)]
        if newest is not None:
            entries = entries[len(entries) - newest :] if newest > 0 else []
        return entries

    async def _journal_all(self) -> list[Record]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xrange(self._k("journal", "request"))
            pipe.xrange(self._k("journal", "webhook"))
            requests, hooks = await pipe.execute()
        entries = []
        for _, fields in (*requests, *hooks):
            entries.append({**json.loads(fields[b"d"]), "seq": int(fields[b"s"])})
        return sorted(entries, key=lambda e: int(e["seq"]))

    @_guarded
    async def journal_clear(self) -> None:
        await self._redis.delete(
            *(
                self._k("journal", ring, *extra)
                for ring in ("request", "webhook")
                for extra in ((), ("bytes",))
            )
        )

    # rules ----------------------------------------------------------------------------------
    @_guarded
    async def rule_add(self, rule: Record) -> Record:
        text = await self._rule_add(
            keys=[self._k("rules"), self._k("rule_id")], args=[_enc(rule), self.limits.rules]
        )
        if text is None:
            raise StateFull("rules", self.limits.rules, "rules_limit")
        return _rule(json.loads(text))

    @_guarded
    async def rule_take(
        self, provider: str, operation: str, *, scenarios: Collection[str] | None = None
    ) -> Record | None:
        if scenarios is None:
            text = await self._rule_take(keys=[self._k("rules")], args=[provider, operation])
        else:
            allowed = json.dumps(dict.fromkeys(scenarios, True))
            text = await self._rule_take_if(keys=[self._k("rules")], args=[provider, operation, allowed])
        return None if text is None else _rule(json.loads(text))

    @_guarded
    async def opening(self, provider: str, operation: str, *, take_rule: bool = True) -> Opening:
        rule, default, clock = await self._opening(
            keys=[self._k("rules"), self._k("defaults"), self._k("clock")],
            args=[provider, operation, "1" if take_rule else "0"],
        )
        return Opening(
            None if rule is None else _rule(json.loads(rule)),
            None if default is None else bytes(default).decode(),
            0.0 if clock is None else float(clock),
        )

    @_guarded
    async def rules(self) -> list[Record]:
        return [_rule(json.loads(t)) for t in await _ready(self._redis.lrange(self._k("rules"), 0, -1))]

    @_guarded
    async def rules_clear(self) -> None:
        await self._redis.delete(self._k("rules"))

    # per-provider default scenarios ---------------------------------------------------------
    @_guarded
    async def default_get(self, provider: str) -> str | None:
        found: Any = await _ready(self._redis.hget(self._k("defaults"), provider))
        return None if found is None else bytes(found).decode()

    @_guarded
    async def defaults(self) -> dict[str, str]:
        found = await _ready(self._redis.hgetall(self._k("defaults")))
        return {bytes(k).decode(): bytes(v).decode() for k, v in found.items()}

    @_guarded
    async def default_set(self, provider: str, scenario: str | None) -> None:
        if scenario is None:
            await _ready(self._redis.hdel(self._k("defaults"), provider))
        else:
            await _ready(self._redis.hset(self._k("defaults"), provider, scenario))

    @_guarded
    async def latency_get(self) -> list[str] | None:
        found: Any = await _ready(self._redis.get(self._k("latency")))
        return None if found is None else [str(e) for e in json.loads(found)]

    @_guarded
    async def latency_set(self, entries: Sequence[str] | None) -> None:
        if entries is None:
            await _ready(self._redis.delete(self._k("latency")))
        else:  # one value: every worker reads the old list or the new one, never a mix
            await _ready(self._redis.set(self._k("latency"), json.dumps(list(entries))))

    # jobs -----------------------------------------------------------------------------------
    def _job(self, provider: str, job_id: str) -> str:
        return self._k("job", provider, job_id)

    @_guarded
    async def job_create(self, job: Record, due: Sequence[Due] = ()) -> None:
        member = _enc([job["provider"], job["id"]])
        schedule = [part for d in due for part in (d.provider, d.member, repr(d.at))]
        keys = [self._job(job["provider"], job["id"]), self._k("jobs"), self._k("jobs", "n")]
        keys.append(self._k("due", ""))
        args: list[Any] = [self.limits.jobs, self._k("job", ""), member, _enc(_fields(job)), *schedule]
        # A job with due work is sent at once: the worker's ticker, woken next, must find it.
        if not due and self._hold(_JOB_CREATE, keys, args):
            return
        held = self._held()
        if held is not None and held.writes:
            await self._send_held(held, (_JOB_CREATE, keys, args))
        else:
            await self._job_create(keys=keys, args=args)

    @_guarded
    async def job_get(self, provider: str, job_id: str) -> Record | None:
        found = await _ready(self._redis.hgetall(self._job(provider, job_id)))
        return _hash(found) if found else None

    @_guarded
    async def job_poll(self, provider: str, job_id: str) -> Record | None:
        flat = await self._poll(keys=[self._job(provider, job_id)])
        return None if not flat else _record(flat)

    @_guarded
    async def job_update(
        self,
        provider: str,
        job_id: str,
        changes: Mapping[str, Any],
        *,
        expect: Mapping[str, Any] | None = None,
    ) -> tuple[Record | None, bool]:
        return await self._compare_and_set(self._job(provider, job_id), changes, expect)

    async def _compare_and_set(
        self, key: str, changes: Mapping[str, Any], expect: Mapping[str, Any] | None
    ) -> tuple[Record | None, bool]:
        expect = expect or {}
        args: list[str | int] = [len(expect), *_fields(expect), *_fields(changes)]
        result = await self._cas(keys=[key], args=args)
        if not result:
            return None, False
        return _record(result[1]), bool(result[0])

    @_guarded
    async def jobs(self, provider: str | None = None) -> list[Record]:
        members = [json.loads(m) for m in await _ready(self._redis.zrange(self._k("jobs"), 0, -1))]
        chosen = [(p, j) for p, j in members if provider in (None, p)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for p, j in chosen:
                pipe.hgetall(self._job(p, j))
            found = await pipe.execute()
        return [_hash(f) for f in found if f]

    # the due index ------------------------------------------------------------------------------
    @_guarded
    async def due_add(self, items: Sequence[Due]) -> None:
        if not items:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            for item in items:
                pipe.zadd(self._k("due", item.provider), {item.member: item.at})
            await pipe.execute()

    @_guarded
    async def due_claim(self, providers: Sequence[str], now: float, *, limit: int, lease: float) -> list[Due]:
        keys = [k for p in providers for k in (self._k("due", p), self._k("claimed", p))]
        flat = await self._claim(keys=keys, args=[repr(now), repr(lease), int(limit)])
        return [Due.from_member(flat[i].decode(), float(flat[i + 1])) for i in range(0, len(flat), 2)]

    @_guarded
    async def due_done(self, item: Due, then: Sequence[Due] = ()) -> None:
        schedule = [part for d in then for part in (d.provider, d.member, repr(d.at))]
        await self._done(
            keys=[self._k("claimed", item.provider), self._k("due", "")], args=[item.member, *schedule]
        )

    @_guarded
    async def due_extend(self, items: Sequence[Due], lease: float) -> None:
        if items:
            pairs = [part for item in items for part in (item.provider, item.member)]
            await self._extend(keys=[self._k("claimed", "")], args=[repr(lease), *pairs])

    @_guarded
    async def due_release(self, items: Sequence[Due]) -> None:
        for item in items:
            await self._release(
                keys=[self._k("claimed", item.provider), self._k("due", item.provider)],
                args=[item.member, repr(item.at)],
            )

    @_guarded
    async def due_next(self, providers: Sequence[str]) -> float | None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for p in providers:
                pipe.zrange(self._k("due", p), 0, 0, withscores=True)
            found = await pipe.execute()
        times = [score for first in found for _, score in first]
        return min(times) if times else None

    @_guarded
    async def due_pending(self, providers: Sequence[str]) -> int:
        async with self._redis.pipeline(transaction=False) as pipe:
            for p in providers:
                pipe.zcard(self._k("due", p))
                pipe.zcard(self._k("claimed", p))
            return sum(await pipe.execute())

    # files and uploads ----------------------------------------------------------------------------
    @_guarded
    async def file_put(self, token: str, descriptor: Record) -> None:
        keys = [self._k("file", token), self._k("files"), self._k("files", "n")]
        args: list[Any] = [self.limits.files, self._k("file", ""), token, "d", _enc(descriptor)]
        if not self._hold(_CAPPED_HSET, keys, args):
            await self._capped_hset(keys=keys, args=args)

    @_guarded
    async def file_get(self, token: str) -> Record | None:
        found = await _ready(self._redis.hget(self._k("file", token), "d"))
        return None if found is None else dict(json.loads(found))

    @_guarded
    async def upload_put(self, key: str, data: bytes, meta: Record, *, ttl: float | None = None) -> None:
        await self._upload_put(
            keys=[
                self._k("uploads"),
                self._k("uploads", "bytes"),
                self._k("evicted"),
                self._k("uploads", "sizes"),
            ],
            args=[
                key,
                data,
                _enc(meta),
                0 if ttl is None else max(1, int(ttl * 1000)),
                self.limits.uploads,
                self.limits.upload_bytes,
                self._k("upload", ""),
            ],
        )

    @_guarded
    async def upload_get(self, key: str) -> tuple[bytes, Record] | None:
        data, meta = await _ready(self._redis.hmget(self._k("upload", key), ["data", "meta"]))
        return None if data is None else (bytes(data), dict(json.loads(meta)))

    @_guarded
    async def upload_evicted(self, key: str) -> bool:
        return await _ready(self._redis.zscore(self._k("evicted"), key)) is not None

    # webhooks -------------------------------------------------------------------------------------
    @_guarded
    async def endpoint_add(self, endpoint: Record) -> Record:
        text = await self._list_add(
            keys=[self._k("endpoints"), self._k("endpoint_id")], args=[_enc(endpoint), self.limits.endpoints]
        )
        if text is None:
            raise StateFull("webhook endpoints", self.limits.endpoints, "endpoints_limit")
        return _endpoint(json.loads(text))

    @_guarded
    async def endpoints(self, provider: str | None = None) -> list[Record]:
        found = [
            _endpoint(json.loads(t)) for t in await _ready(self._redis.lrange(self._k("endpoints"), 0, -1))
        ]
        return [e for e in found if provider in (None, e["provider"])]

    @_guarded
    async def endpoints_clear(self) -> None:
        await self._redis.delete(self._k("endpoints"))

    @_guarded
    async def delivery_create(self, key: str, delivery: Record) -> tuple[Record, bool]:
        fields = _fields({k: v for k, v in delivery.items() if k != "id"})
        new, _, flat = await self._delivery_create(
            keys=[
                self._k("delivery_keys"),
                self._k("deliveries"),
                self._k("delivery_id"),
                self._k("delivery_key_of"),
            ],
            args=[key, self.limits.deliveries, self._k("delivery", ""), *fields],
        )
        return _record(flat), bool(new)

    @_guarded
    async def delivery_get(self, delivery_id: int) -> Record | None:
        found = await _ready(self._redis.hgetall(self._k("delivery", str(delivery_id))))
        return _hash(found) if found else None

    @_guarded
    async def delivery_update(
        self, delivery_id: int, changes: Mapping[str, Any], *, expect: Mapping[str, Any] | None = None
    ) -> tuple[Record | None, bool]:
        return await self._compare_and_set(self._k("delivery", str(delivery_id)), changes, expect)

    @_guarded
    async def deliveries(self, provider: str | None = None) -> list[Record]:
        ids = await _ready(self._redis.zrange(self._k("deliveries"), 0, -1))
        async with self._redis.pipeline(transaction=False) as pipe:
            for i in ids:
                pipe.hgetall(self._k("delivery", i.decode()))
            found = await pipe.execute()
        records = [_hash(f) for f in found if f]
        return [d for d in records if provider in (None, d["provider"])]

    # counters and the clock -------------------------------------------------------------------------
    @_guarded
    async def next_number(self, name: str, *, ttl: float | None = None) -> int:
        key = self._k("n", name)
        if ttl is None:
            return int(await _ready(self._redis.incr(key)))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.pexpire(key, max(1, int(ttl * 1000)), nx=True)
            value, _ = await pipe.execute()
        return int(value)

    @_guarded
    async def clock_offset(self) -> float:
        found = await _ready(self._redis.get(self._k("clock")))
        return 0.0 if found is None else float(found)

    @_guarded
    async def clock_advance(self, seconds: float) -> float:
        return float(await _ready(self._redis.incrbyfloat(self._k("clock"), seconds)))

    @_guarded
    async def reset(self) -> None:
        batch: list[bytes] = []
        async for key in self._redis.scan_iter(match=_glob(self._p) + "*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                await _ready(self._redis.unlink(*batch))
                batch = []
        if batch:
            await _ready(self._redis.unlink(*batch))

    async def close(self) -> None:
        await self._redis.aclose()


_PLAIN = frozenset({str, bytes, int})


def _packing_connection() -> type[Any]:
    """redis-py's asyncio connection, packing commands with hiredis's C packer (installed with
    this package; redis-py's own packer costs ~30 µs a command, a tenth of a request) when every
    argument is a plain string, bytes or int. Anything else goes the way redis-py packs it."""
    from redis.asyncio.connection import Connection

    try:
        import hiredis
    except ImportError:  # pragma: no cover - hiredis is a dependency; redis-py works without it
        return Connection

    class PackingConnection(Connection):
        def pack_command(self, *args: Any) -> list[bytes]:
            head = args[0]
            if isinstance(head, str) and " " not in head and all(type(a) in _PLAIN for a in args):
                return [hiredis.pack_command(args)]
            return super().pack_command(*args)

    return PackingConnection


def _glob(text: str) -> str:
    """``text`` with glob characters escaped (a SCAN MATCH pattern)."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _rule(rule: Record) -> Record:
    """Lua's JSON drops keys whose value is null; the record has all of its fields."""
    return {"provider": None, "operation": None, "scenario": None, "remaining": None, **rule}


def _endpoint(endpoint: Record) -> Record:
    return {"provider": None, "url": None, "events": None, "secret": None, **endpoint}
