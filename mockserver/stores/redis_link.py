"""The Redis store's hot path to Redis: redis-py's connections and reply parser (hiredis),
without the layers a command otherwise passes through.

A script call through the ``redis.asyncio.Redis`` client costs ~130 µs of a worker's CPU on
loopback, against ~35 for the round trip itself: the pool's checkout takes its lock, checks the
connection for unread data and records observability counters; the retry wrapper, the
``wait_for`` around the write (a task per command) and the timeout around the read add the rest.
:class:`Link` keeps idle connections of its own (redis-py's ``Connection``, so AUTH, SELECT, TLS
and socket files work as configured in the URL), sends ``EVALSHA`` with
``send_packed_command`` and reads with ``read_response``, under one timeout for the round trip.
Every other command goes through the client as before.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headshot_mock.mockserver.stores.base import Stale
from headshot_mock.mockserver.stores.redis_scripts import STALE

if TYPE_CHECKING:
    import redis.asyncio
    from redis.asyncio.connection import AbstractConnection


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script, known to Redis by its SHA-1 once loaded."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


class Link:
    """Script calls on connections of its own (at most ``max_connections`` at once)."""

    def __init__(self, client: redis.asyncio.Redis, timeout: float, max_connections: int = 64) -> None:
        from redis.exceptions import ConnectionError, NoScriptError, ResponseError

        pool = client.connection_pool
        self._make = lambda: pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})
        self._timeout = timeout
        self._max = max_connections
        self._idle: list[AbstractConnection] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lost = ConnectionError
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
        """One command, one round trip; a connection that was idle and turns out closed (Redis
        restarted) is replaced once."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that opened them
            self._loop, self._idle, self._slots = loop, [], asyncio.Semaphore(self._max)
        slots = self._slots
        assert slots is not None
        async with slots:
            reused = bool(self._idle)
            connection = self._idle.pop() if reused else self._make()
            try:
                async with asyncio.timeout(self._timeout):
                    try:
                        response = await self._round_trip(connection, command)
                    except self._lost:
                        if not reused:
                            raise
                        await connection.disconnect(nowait=True)
                        connection = self._make()
                        response = await self._round_trip(connection, command)
            except TimeoutError:
                await connection.disconnect(nowait=True)
                from redis.exceptions import TimeoutError as RedisTimeout

                raise RedisTimeout(f"Redis did not answer within {self._timeout} s") from None
            except BaseException as exc:
                if isinstance(exc, self._refused) and not isinstance(exc, self._lost):
                    self._idle.append(connection)  # an error reply: the connection is fine
                else:
                    await connection.disconnect(nowait=True)
                raise
            self._idle.append(connection)
            return response

    @staticmethod
    async def _round_trip(connection: AbstractConnection, command: Sequence[Any]) -> Any:
        if not connection.is_connected:
            await connection.connect()
        try:
            packed = _pack(command)  # hiredis's C packer, as PackingConnection, without its type scan
        except TypeError:
            packed = connection.pack_command(*command)
        await connection.send_packed_command(packed, check_health=False)
        return await connection.read_response()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.disconnect(nowait=True)


_PLAIN = frozenset({str, bytes, int})


def _pack(command: Sequence[Any]) -> bytes:
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
