"""The shared store: Redis through redis-py's asyncio client, for several workers and hosts.

Every key is ``<prefix>:<name>`` (``--state-prefix``), so several mocks can share one Redis and
:meth:`RedisStore.reset` clears only its own. Each operation is one round trip: a single command,
a pipeline, or a Lua script (:mod:`.redis_scripts`) where it reads and writes (rules consumed,
jobs and deliveries compared-and-set, due items claimed, capped collections trimmed), so it is
atomic with respect to every other worker. Records are hashes of JSON-encoded top-level fields
(a compare-and-set compares fields); the journal is two capped streams (requests, webhook
attempts), trimmed by count and bytes; counters expire; uploads carry a TTL and a total-bytes cap.

On a request's hot path (:meth:`RedisStore.deferring`) a generation costs **one** round trip:
its opening is the one this worker remembered, its id comes from a block this worker drew, and
its writes (files, job, journal entry) go out together, behind a check that what it assumed
still holds (:mod:`.redis_held` states the invariant). The hot path's commands go through
:mod:`.redis_link` (redis-py's connections and parser, without the per-command layers).

A lost connection raises :class:`~mockserver.errors.StoreUnavailable` within the socket timeout;
the pool reconnects by itself once Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from headshot_mock.mockserver import codec
from headshot_mock.mockserver.errors import StateFull, StoreUnavailable
from headshot_mock.mockserver.journal import Draft, written
from headshot_mock.mockserver.stores import redis_scripts as lua
from headshot_mock.mockserver.stores.base import Due, Limits, Opening, Record, Stale
from headshot_mock.mockserver.stores.memory import size_of
from headshot_mock.mockserver.stores.redis_held import BLOCK, Blocks, Held, Openings, Remembered, Write
from headshot_mock.mockserver.stores.redis_link import Link, Script, packing_connection

if TYPE_CHECKING:
    import redis.asyncio

P = ParamSpec("P")
T = TypeVar("T")

SOCKET_TIMEOUT = 2.0
"""Seconds one Redis call may take before the request answers 503."""

_CARRY = "carry"
_READ = "read"
_KINDS = {
    **dict.fromkeys(
        ("file_put", "job_create", "journal_append", "job_poll", "next_number", "opening", "_send"), _CARRY
    ),
    **dict.fromkeys(
        (
            "journal_entries",
            "latency_get",
            "rules",
            "default_get",
            "defaults",
            "job_get",
            "jobs",
            "due_next",
            "due_pending",
            "file_get",
            "upload_get",
            "upload_evicted",
            "endpoints",
            "delivery_get",
            "deliveries",
            "clock_offset",
            "ping",
        ),
        _READ,
    ),
}
"""How each method treats a deferring task's held writes and assumptions. ``carry``: it sends them
itself, in its own round trip (or holds its own write); ``read``: held writes go first (the task
reads its own writes), assumptions wait for the next write; any other method writes without a
batch, so held writes and a check of the assumptions go first."""

_HELD: ContextVar[Held | None] = ContextVar("headshot_mock_redis_held", default=None)
_TROUBLE: tuple[type[BaseException], ...] = (OSError,)
"""Exceptions that mean Redis cannot be reached (redis-py's, once it is imported)."""


def _guarded(method: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Connection trouble becomes :class:`StoreUnavailable` (answered 503), never a hang or a 500;
    held writes and assumptions go out before the methods that do not carry them."""

    kind = _KINDS.get(method.__name__)

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        store = args[0]
        assert isinstance(store, RedisStore)
        try:
            if kind is not _CARRY:
                held = store._held()
                if held is not None and (held.writes or (kind is None and held.assumes)):
                    await store._send_held(held, check_alone=True)
            return await method(*args, **kwargs)
        except _TROUBLE as exc:
            raise StoreUnavailable(store.where, f"{type(exc).__name__}: {exc}") from None

    return call


async def _ready(value: Awaitable[T] | T) -> T:
    """redis-py's commands are typed for its sync and async clients at once."""
    if inspect.isawaitable(value):
        return await value
    return value


_enc = codec.dumps
"""Compact UTF-8 JSON (msgspec: ~10x ``json.dumps``; the standard library for what it refuses)."""


def _fields(record: Mapping[str, Any]) -> list[str | bytes]:
    enc = codec.dumps
    return [part for key, value in record.items() for part in (key, enc(value))]


def _record(flat: Sequence[bytes]) -> Record:
    loads = codec.loads
    return {flat[i].decode(): loads(flat[i + 1]) for i in range(0, len(flat), 2)}


def _hash(found: Mapping[bytes, bytes]) -> Record:
    loads = codec.loads
    return {k.decode(): loads(v) for k, v in found.items()}


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
        global _TROUBLE
        import redis.asyncio
        import redis.exceptions
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        _TROUBLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
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
            pool.connection_class = packing_connection()
        self._link = Link(self._redis, SOCKET_TIMEOUT)
        k = self._k
        self._check_keys = [k("rules"), k("defaults"), k("clock"), k("epoch")]
        self._journal_keys = {
            ring: [k("journal", ring), k("journal", ring, "bytes"), k("seq")]
            for ring in ("request", "webhook")
        }
        self._file_prefix, self._job_prefix = k("file", ""), k("job", "")
        self._openings = Openings()
        self._blocks = Blocks()
        self._batches: dict[tuple[str, ...], Script] = {}
        s = Script
        self._journal_append = s(lua.JOURNAL_APPEND)
        self._rule_add = s(lua.RULE_ADD)
        self._rule_take = s(lua.RULE_TAKE)
        self._rule_take_if = s(lua.RULE_TAKE_IF)
        self._opening = s(lua.OPENING)
        self._cas = s(lua.CAS)
        self._poll = s(lua.POLL)
        self._capped_hset = s(lua.CAPPED_HSET)
        self._job_create = s(lua.JOB_CREATE)
        self._claim = s(lua.CLAIM)
        self._done = s(lua.DONE)
        self._release = s(lua.RELEASE)
        self._extend = s(lua.EXTEND)
        self._delivery_create = s(lua.DELIVERY_CREATE)
        self._list_add = s(lua.LIST_ADD)
        self._upload_put = s(lua.UPLOAD_PUT)
        self._draw = s(lua.DRAW)
        self._count = s(lua.COUNT)

    def _k(self, *parts: str) -> str:
        return self._p + ":".join(parts)

    async def _run(self, script: Script, keys: Sequence[Any], args: Sequence[Any] = ()) -> Any:
        """One script, one round trip (its source is loaded on first use)."""
        return await self._link.evalsha(script, keys, args)

    # held-back writes and assumptions (redis_held.py) -------------------------------------
    def deferring(self) -> AbstractAsyncContextManager[None]:
        return self._deferring()

    @contextlib.asynccontextmanager
    async def _deferring(self) -> AsyncIterator[None]:
        if self._held() is not None:  # already deferring: the outer one sends them
            yield
            return
        held = Held(self, asyncio.current_task())
        token = _HELD.set(held)
        try:
            yield
        except Stale:
            _HELD.reset(token)  # nothing of it was written, and nothing will be
            raise
        except BaseException:
            _HELD.reset(token)
            with contextlib.suppress(StoreUnavailable, Stale):  # the first failure is the one to tell
                await self._send_held(held)
            raise
        _HELD.reset(token)
        await self._send_held(held)

    def _held(self) -> Held | None:
        """This task's held-back writes to this store (None: this task is not deferring)."""
        held = _HELD.get()
        if held is None or held.owner is not self or held.task is not asyncio.current_task():
            return None  # a task started inside a deferring one sees its context, not its writes
        return held

    def _hold(self, script: str, keys: list[str], args: list[Any]) -> bool:
        held = self._held()
        if held is None:
            return False
        held.writes.append((script, keys, args))
        return True

    async def _carry(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """Run ``script`` after this task's held writes, in one round trip with them (behind the
        check of what the task assumed); alone when there is nothing to go with it."""
        held = self._held()
        if held is not None and (held.writes or held.assumes):
            return (await self._send_held(held, (script.source, keys, args)))[-1]
        return await self._run(script, keys, args)

    async def _send_held(self, held: Held, *also: Write, check_alone: bool = False) -> list[Any]:
        """Send ``held``'s writes, then ``also``, as one script; it begins with the check of what the
        task assumed, if anything (``check_alone``: even with nothing to write). Returns the
        results of the writes."""
        writes, held.writes = [*held.writes, *also], []
        if held.assumes and (writes or check_alone):
            keys = self._check_keys
            try:
                results = await self._send([(lua.CHECK, keys, held.check_args()), *writes])
            except Stale as exc:
                held.refused(str(exc), self._openings, self._blocks)
                raise
            held.confirmed()
            return results[1:]
        return await self._send(writes) if writes else []

    @_guarded
    async def _send(self, writes: Sequence[Write]) -> list[Any]:
        """Run ``writes`` in order as one script: one round trip, one command, atomic."""
        scripts = tuple(script for script, _, _ in writes)
        batch = self._batches.get(scripts)
        if batch is None:
            batch = Script(lua.batch(scripts))
            if len(self._batches) < 64:  # a few shapes recur (files per answer, a job, an entry)
                self._batches[scripts] = batch
        sizes: list[Any] = [n for _, keys, args in writes for n in (len(keys), len(args))]
        keys = [key for _, ks, _ in writes for key in ks]
        args: list[Any] = [arg for _, _, ags in writes for arg in ags]
        return list(await self._run(batch, keys, [*sizes, *args]))

    @_guarded
    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless Redis answers (a wrong URL at start-up)."""
        await _ready(self._redis.ping())

    # journal ------------------------------------------------------------------------------
    @_guarded
    async def journal_append(self, entry: Record | Draft) -> int:
        entry = written(entry)  # shared: nothing unredacted leaves this process
        ring = "webhook" if entry.get("kind") == "webhook" else "request"
        data = codec.dumps({k: v for k, v in entry.items() if k != "seq"})
        limit = self.limits.deliveries if ring == "webhook" else self.limits.journal_entries
        keys = self._journal_keys[ring]
        size = len(data) if "seq" not in entry else size_of(entry)  # as MemoryStore counts it
        args: list[Any] = [data, size, limit, self.limits.journal_bytes]
        return int(await self._carry(self._journal_append, keys, args))  # with the request's writes

    @_guarded
    async def journal_entries(
        self,
        *,
        where: Callable[[Record], bool] | None = None,
        newest: int | None = None,
        after: int = 0,
    ) -> list[Record]:
        if newest is None and after <= 0:
            entries = await self._journal_all()
            return entries if where is None else [e for e in entries if where(e)]
        found: list[Record] = []
        if newest is not None and newest <= 0:
            return found
        # The newest first, page by page from both rings merged by seq, until enough match or
        # the entries are not above `after`: the admin API's `?limit=5` and the page's poll for
        # what is new read a page, not the whole journal (as MemoryStore decodes only what it
        # returns). Each ring is in seq order: its entries are numbered and added in one script.
        page = 16 if newest is None else max(16, min(newest, 500))
        rings = [self._newest_first(ring, page=page) for ring in ("request", "webhook")]
        heads = [await anext(ring, None) for ring in rings]
        while newest is None or len(found) < newest:
            live = [i for i, head in enumerate(heads) if head is not None]
            if not live:
                break
            i = max(live, key=lambda k: int(heads[k]["seq"]))  # type: ignore[index]
            entry, heads[i] = heads[i], await anext(rings[i], None)
            if entry is None or int(entry["seq"]) <= after:
                break  # the newest left is not above `after`: neither is anything older
            if where is None or where(entry):
                found.append(entry)
        for ring in rings:
            await ring.aclose()
        found.reverse()
        return found

    async def _newest_first(self, ring: str, *, page: int) -> AsyncGenerator[Record, None]:
        """One ring's entries, the newest first, read ``page`` at a time."""
        key, start = self._k("journal", ring), "+"
        while True:
            chunk = await _ready(self._redis.xrevrange(key, max=start, min="-", count=page))
            for _, fields in chunk:
                yield {**codec.loads(fields[b"d"]), "seq": int(fields[b"s"])}
            if len(chunk) < page:
                return
            start = "(" + chunk[-1][0].decode()  # exclusive: the entries before the last one read

    @_guarded
    async def journal_count(self) -> int:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xlen(self._k("journal", "request"))
            pipe.xlen(self._k("journal", "webhook"))
            return sum(await pipe.execute())

    async def _journal_all(self) -> list[Record]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xrange(self._k("journal", "request"))
            pipe.xrange(self._k("journal", "webhook"))
            requests, hooks = await pipe.execute()
        entries = []
        for _, fields in (*requests, *hooks):
            entries.append({**codec.loads(fields[b"d"]), "seq": int(fields[b"s"])})
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
        self._openings.clear()  # this worker's next calls read their opening (others: see CHECK)
        text = await self._run(
            self._rule_add, [self._k("rules"), self._k("rule_id")], [_enc(rule), self.limits.rules]
        )
        if text is None:
            raise StateFull("rules", self.limits.rules, "rules_limit")
        return _rule(codec.loads(text))

    @_guarded
    async def rule_take(
        self, provider: str, operation: str, *, scenarios: Collection[str] | None = None
    ) -> Record | None:
        if scenarios is None:
            text = await self._run(self._rule_take, [self._k("rules")], [provider, operation])
        else:
            allowed = codec.dumps(dict.fromkeys(scenarios, True)).decode()
            text = await self._run(self._rule_take_if, [self._k("rules")], [provider, operation, allowed])
        return None if text is None else _rule(codec.loads(text))

    @_guarded
    async def opening(self, provider: str, operation: str, *, take_rule: bool = True) -> Opening:
        held = self._held()
        if held is not None and take_rule and held.opening is None:
            known = self._openings.get(provider, operation, take_rule)
            if known is not None:  # assumed: the request's first write checks it (redis_held.py)
                held.opening = (provider, operation, take_rule, known)
                return known.opening
        keys = self._check_keys[:3]
        args = [provider, operation, "1" if take_rule else "0"]
        if held is not None and (held.writes or held.assumes):
            rule, default, clock = (await self._send_held(held, (lua.OPENING, keys, args)))[-1]
        else:
            rule, default, clock = await self._run(self._opening, keys, args)
        if rule is not None:
            self._openings.drop(provider, operation, take_rule)
            seen = Remembered.read(default, clock).opening
            return Opening(_rule(codec.loads(rule)), seen.default, seen.clock_offset)
        known = Remembered.read(default, clock)
        self._openings.put(provider, operation, take_rule, known)
        return known.opening

    @_guarded
    async def rules(self) -> list[Record]:
        return [_rule(codec.loads(t)) for t in await _ready(self._redis.lrange(self._k("rules"), 0, -1))]

    @_guarded
    async def rules_clear(self) -> None:
        self._openings.clear()
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
        self._openings.clear()
        if scenario is None:
            await _ready(self._redis.hdel(self._k("defaults"), provider))
        else:
            await _ready(self._redis.hset(self._k("defaults"), provider, scenario))

    @_guarded
    async def latency_get(self) -> list[str] | None:
        found: Any = await _ready(self._redis.get(self._k("latency")))
        return None if found is None else [str(e) for e in codec.loads(found)]

    @_guarded
    async def latency_set(self, entries: Sequence[str] | None) -> None:
        if entries is None:
            await _ready(self._redis.delete(self._k("latency")))
        else:  # one value: every worker reads the old list or the new one, never a mix
            await _ready(self._redis.set(self._k("latency"), codec.dumps(list(entries))))

    # jobs -----------------------------------------------------------------------------------
    def _job(self, provider: str, job_id: str) -> str:
        return self._k("job", provider, job_id)

    @_guarded
    async def job_create(self, job: Record, due: Sequence[Due] = ()) -> None:
        member = _enc([job["provider"], job["id"]])
        schedule = [part for d in due for part in (d.provider, d.member, repr(d.at))]
        keys = [self._job(job["provider"], job["id"]), self._k("jobs"), self._k("jobs", "n")]
        keys.append(self._k("due", ""))
        fields = _fields(job)
        args: list[Any] = [self.limits.jobs, self._job_prefix, member, len(fields), *fields, *schedule]
        # A job with due work is sent at once: the worker's ticker, woken next, must find it.
        if not due and self._hold(lua.JOB_CREATE, keys, args):
            return
        await self._carry(self._job_create, keys, args)

    @_guarded
    async def job_get(self, provider: str, job_id: str) -> Record | None:
        found = await _ready(self._redis.hgetall(self._job(provider, job_id)))
        return _hash(found) if found else None

    @_guarded
    async def job_poll(self, provider: str, job_id: str) -> Record | None:
        flat = await self._carry(self._poll, [self._job(provider, job_id)], [])
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
        args: list[str | bytes | int] = [len(expect), *_fields(expect), *_fields(changes)]
        result = await self._run(self._cas, [key], args)
        if not result:
            return None, False
        return _record(result[1]), bool(result[0])

    @_guarded
    async def jobs(self, provider: str | None = None) -> list[Record]:
        members = [codec.loads(m) for m in await _ready(self._redis.zrange(self._k("jobs"), 0, -1))]
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
        flat = await self._run(self._claim, keys, [repr(now), repr(lease), int(limit)])
        return [Due.from_member(flat[i].decode(), float(flat[i + 1])) for i in range(0, len(flat), 2)]

    @_guarded
    async def due_done(self, item: Due, then: Sequence[Due] = ()) -> None:
        schedule = [part for d in then for part in (d.provider, d.member, repr(d.at))]
        await self._run(
            self._done,
            keys=[self._k("claimed", item.provider), self._k("due", "")],
            args=[item.member, *schedule],
        )

    @_guarded
    async def due_extend(self, items: Sequence[Due], lease: float) -> None:
        if items:
            pairs = [part for item in items for part in (item.provider, item.member)]
            await self._run(self._extend, keys=[self._k("claimed", "")], args=[repr(lease), *pairs])

    @_guarded
    async def due_release(self, items: Sequence[Due]) -> None:
        for item in items:
            await self._run(
                self._release,
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
        keys = [self._file_prefix + token, self._k("files"), self._k("files", "n")]
        args: list[Any] = [self.limits.files, self._file_prefix, token, "d", _enc(descriptor)]
        if not self._hold(lua.CAPPED_HSET, keys, args):
            await self._run(self._capped_hset, keys=keys, args=args)

    @_guarded
    async def file_get(self, token: str) -> Record | None:
        found = await _ready(self._redis.hget(self._k("file", token), "d"))
        return None if found is None else dict(codec.loads(found))

    @_guarded
    async def upload_put(self, key: str, data: bytes, meta: Record, *, ttl: float | None = None) -> None:
        await self._run(
            self._upload_put,
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
        return None if data is None else (bytes(data), dict(codec.loads(meta)))

    @_guarded
    async def upload_exists(self, key: str) -> bool:
        return bool(await _ready(self._redis.exists(self._k("upload", key))))

    @_guarded
    async def upload_evicted(self, key: str) -> bool:
        return await _ready(self._redis.zscore(self._k("evicted"), key)) is not None

    # webhooks -------------------------------------------------------------------------------------
    @_guarded
    async def endpoint_add(self, endpoint: Record) -> Record:
        text = await self._run(
            self._list_add,
            keys=[self._k("endpoints"), self._k("endpoint_id")],
            args=[_enc(endpoint), self.limits.endpoints],
        )
        if text is None:
            raise StateFull("webhook endpoints", self.limits.endpoints, "endpoints_limit")
        return _endpoint(codec.loads(text))

    @_guarded
    async def endpoints(self, provider: str | None = None) -> list[Record]:
        found = [
            _endpoint(codec.loads(t)) for t in await _ready(self._redis.lrange(self._k("endpoints"), 0, -1))
        ]
        return [e for e in found if provider in (None, e["provider"])]

    @_guarded
    async def endpoints_clear(self) -> None:
        await self._redis.delete(self._k("endpoints"))

    @_guarded
    async def delivery_create(self, key: str, delivery: Record) -> tuple[Record, bool]:
        fields = _fields({k: v for k, v in delivery.items() if k != "id"})
        new, _, flat = await self._run(
            self._delivery_create,
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
        if ttl is not None:  # a per-window count: exact, every call counted in Redis
            return int(await self._carry(self._count, [key], [max(1, int(ttl * 1000))]))
        held = self._held()
        if held is None:  # outside a request: one INCR (no block: nothing checks its epoch)
            return int(await self._carry(self._count, [key], [0]))
        number = self._blocks.take(name)
        if number is None:
            last, epoch = await self._carry(self._draw, [key, self._k("epoch")], [BLOCK])
            number = self._blocks.drawn(name, int(last), bytes(epoch))
        if held.epoch is None:  # assumed: the request's next write checks the epoch (redis_held.py)
            held.epoch = self._blocks.epoch
        return number

    @_guarded
    async def clock_offset(self) -> float:
        # On the link, not the client: a held request reads the clock every HOLD_TICK, and the
        # client's write (asyncio.wait_for on Python 3.11) can lose a cancellation (runtime.cancel_all).
        found = await self._link.call(("GET", self._k("clock")))
        return 0.0 if found is None else float(found)

    @_guarded
    async def clock_advance(self, seconds: float) -> float:
        self._openings.clear()
        return float(await _ready(self._redis.incrbyfloat(self._k("clock"), seconds)))

    @_guarded
    async def reset(self) -> None:
        # The epoch outlives resets and moves on before and after one: ids drawn in blocks before
        # (or during) it are refused when a request writes with them (redis_held.py).
        epoch = self._k("epoch")
        self._openings.clear()
        self._blocks.clear()
        await _ready(self._redis.incr(epoch))
        batch: list[bytes] = []
        async for key in self._redis.scan_iter(match=_glob(self._p) + "*", count=500):
            if key != epoch.encode():
                batch.append(key)
            if len(batch) >= 500:
                await _ready(self._redis.unlink(*batch))
                batch = []
        if batch:
            await _ready(self._redis.unlink(*batch))
        await _ready(self._redis.incr(epoch))

    async def close(self) -> None:
        await self._link.aclose()
        await self._redis.aclose()


def _glob(text: str) -> str:
    """``text`` with glob characters escaped (a SCAN MATCH pattern)."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _rule(rule: Record) -> Record:
    """Lua's JSON drops keys whose value is null; the record has all of its fields."""
    return {"provider": None, "operation": None, "scenario": None, "remaining": None, **rule}


def _endpoint(endpoint: Record) -> Record:
    return {"provider": None, "url": None, "events": None, "secret": None, **endpoint}
