"""The Redis store's hot path to Redis: its scripts, pipelined on one connection per worker.

A script call through the ``redis.asyncio.Redis`` client costs ~130 µs of a worker's CPU on
loopback, against ~35 for the round trip itself: the pool's checkout takes its lock, checks the
connection for unread data and records observability counters; the retry wrapper, the
``wait_for`` around the write (a task per command) and the timeout around the read add the rest.
:class:`Link` instead keeps one connection per event loop — redis-py's own ``Connection``, so
AUTH, SELECT, TLS and socket files work as the URL says, and its hiredis reply parser — and
pipelines on it: the commands of one loop turn go out in one write (to the connection's stream
writer), and one reader task hands each answer, in the order Redis sends them, to its caller.
A call is bounded by one timeout, kept by one timer per connection rather than one per call (an
``asyncio.timeout`` a call cost ~20 µs): Redis answers in order, so the connection is late exactly
when its oldest call is, and the timer looks at that one a few times per timeout. A timeout or a
lost connection fails every call waiting on it (answered 503) and the next call connects again.
Every other command goes through the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headshot_mock.mockserver.stores.base import Stale
from headshot_mock.mockserver.stores.redis_scripts import STALE

if TYPE_CHECKING:
    import redis.asyncio
    from redis.asyncio.connection import AbstractConnection


SWEEPS_PER_TIMEOUT = 8
"""How often a connection's timer looks at its oldest call: a call fails between its timeout and
an eighth more."""


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script, known to Redis by its SHA-1 once loaded."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


class Link:
    """Script calls pipelined on one connection of its own per event loop: each call's command
    is written in call order (the commands of one loop turn in one write) and a reader task
    hands the answers, which Redis sends in the same order, to their callers."""

    def __init__(self, client: redis.asyncio.Redis, timeout: float) -> None:
        from redis.exceptions import ConnectionError, NoScriptError, ResponseError
        from redis.exceptions import TimeoutError as RedisTimeout

        pool = client.connection_pool
        options = {**pool.connection_kwargs, "socket_timeout": None}  # one timeout: the call's
        self._make: Callable[[], AbstractConnection] = lambda: pool.connection_class(**options)
        self._timeout = timeout
        self._pipe: _Pipe | None = None
        self._opening: asyncio.Task[_Pipe] | None = None
        self._lost = ConnectionError
        self._late = RedisTimeout
        self._no_script = NoScriptError
        self._refused = ResponseError

    async def evalsha(self, script: Script, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run ``script`` (loading it first if Redis does not know it). A refusal of
        :data:`~.redis_scripts.CHECK` raises :class:`~.base.Stale`."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            try:
                return await self.call(command)
            except self._no_script:
                await self.call(("SCRIPT", "LOAD", script.source))
                return await self.call(command)
        except self._refused as exc:
            if str(exc).startswith(STALE):
                raise Stale(str(exc)) from None
            raise

    async def call(self, command: Sequence[Any]) -> Any:
        """One command; its answer (an error reply raises), within the timeout."""
        loop = asyncio.get_running_loop()
        pipe = self._pipe
        if pipe is None or pipe.closed or pipe.loop is not loop:
            pipe = await self._connect(loop)
        try:
            packed = _pack(command)
        except TypeError:
            packed = b"".join(pipe.connection.pack_command(*command))
        answer = loop.create_future()
        pipe.waiting.append(answer)
        pipe.deadlines.append(loop.time() + self._timeout)
        if not pipe.out:
            loop.call_soon(self._write, pipe)
        pipe.out.append(packed)
        return await answer

    def _sweep(self, pipe: _Pipe) -> None:
        """Every :data:`SWEEPS_PER_TIMEOUT`-th of the timeout: fail everything waiting on ``pipe``
        once its oldest call is past its deadline."""
        if pipe.closed:
            return
        if pipe.deadlines and pipe.deadlines[0] <= pipe.loop.time():
            self._close(pipe, self._late(f"Redis did not answer within {self._timeout} s"))
            return
        pipe.sweep = pipe.loop.call_later(self._timeout / SWEEPS_PER_TIMEOUT, self._sweep, pipe)

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Pipe:
        opening = self._opening
        if opening is None or opening.done() or opening.get_loop() is not loop:
            opening = self._opening = loop.create_task(self._open(loop))
            opening.add_done_callback(lambda task: task.cancelled() or task.exception())
        return await asyncio.shield(opening)

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Pipe:
        connection = self._make()
        try:  # the TCP connect has its own timeout; the handshake after it (HELLO, AUTH, SELECT) not
            async with asyncio.timeout(self._timeout):
                await connection.connect()  # type: ignore[no-untyped-call,unused-ignore]
        except TimeoutError:
            await connection.disconnect(nowait=True)
            raise self._late(f"Redis did not answer within {self._timeout} s") from None
        pipe = self._pipe = _Pipe(connection, loop)
        pipe.reader = loop.create_task(self._read(pipe), name="headshot-mock redis reader")
        self._sweep(pipe)
        return pipe

    def _write(self, pipe: _Pipe) -> None:
        out, pipe.out = pipe.out, []
        if pipe.closed:
            return
        writer = getattr(pipe.connection, "_writer", None)  # redis-py's StreamWriter, once connected
        if writer is None or writer.is_closing():
            self._close(pipe, self._lost("the connection to Redis closed"))
            return
        writer.writelines(out)

    async def _read(self, pipe: _Pipe) -> None:
        connection = pipe.connection
        try:
            while True:
                error: BaseException | None = None
                try:
                    answer = await connection.read_response(disconnect_on_error=False)
                except self._refused as exc:
                    if isinstance(exc, self._lost):
                        raise
                    error = exc  # an error reply: its caller's, the connection is fine
                if not pipe.waiting:
                    raise self._lost("Redis sent an answer nobody asked for")
                waiter = pipe.waiting.popleft()
                pipe.deadlines.popleft()
                if not waiter.done():  # a caller that gave up (cancelled, timed out) is skipped
                    if error is None:
                        waiter.set_result(answer)
                    else:
                        waiter.set_exception(error)
        except asyncio.CancelledError:
            self._close(pipe, self._lost("the link to Redis was closed"))
            raise
        except BaseException as exc:
            self._close(
                pipe, exc if isinstance(exc, self._lost) else self._lost(f"{type(exc).__name__}: {exc}")
            )

    def _close(self, pipe: _Pipe, error: BaseException) -> None:
        """Fail every call still waiting on ``pipe`` with ``error``; the next call reconnects."""
        if pipe.closed:
            return
        pipe.closed = True
        if self._pipe is pipe:
            self._pipe = None
        waiting, pipe.waiting, pipe.deadlines = pipe.waiting, deque(), deque()
        if pipe.sweep is not None:
            pipe.sweep.cancel()
        for waiter in waiting:
            if not waiter.done():
                waiter.set_exception(error)
        if pipe.reader is not None and pipe.reader is not asyncio.current_task():
            pipe.reader.cancel()
        pipe.connection._close()  # type: ignore[no-untyped-call]  # redis-py: close now, forget the streams

    async def aclose(self) -> None:
        pipe = self._pipe
        if pipe is not None and pipe.loop is asyncio.get_running_loop():
            self._close(pipe, self._lost("the link to Redis was closed"))
            await pipe.connection.disconnect(nowait=True)
            if pipe.reader is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await pipe.reader


@dataclass(slots=True)
class _Pipe:
    """One connection and the calls waiting on it, oldest first."""

    connection: AbstractConnection
    loop: asyncio.AbstractEventLoop
    waiting: deque[asyncio.Future[Any]] = field(default_factory=deque)
    deadlines: deque[float] = field(default_factory=deque)
    """When each call of ``waiting`` times out (loop time), in the same order."""
    sweep: asyncio.TimerHandle | None = None
    out: list[bytes] = field(default_factory=list)
    """Commands of this loop turn, written together."""
    reader: asyncio.Task[None] | None = None
    closed: bool = False


_PLAIN = frozenset({str, bytes, int})


def _pack(command: Sequence[Any]) -> bytes:
    """hiredis's C packer (TypeError for what it cannot pack: redis-py packs that)."""
    try:
        import hiredis
    except ImportError:  # pragma: no cover - hiredis is a dependency; redis-py works without it
        raise TypeError("no hiredis") from None
    return bytes(hiredis.pack_command(tuple(command)))


def packing_connection() -> type[Any]:
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
