"""A served connection: uvicorn's httptools protocol with the mock's connection timeouts, its
answers sent in one write, the end of the app's requests at shutdown and the wire-level fault
hooks. One module-level class (:class:`Protocol`) serves :func:`~headshot_mock.mockserver.server.serve`,
``BackgroundServer`` and each ``--workers`` process, which import it by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import weakref
from typing import Any, ClassVar

import uvicorn
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from headshot_mock.mockserver.faults import WIRE


class Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus a header timeout, the end of the app's requests at
    shutdown and the wire-level fault hooks.

    A connection must complete each request's headers within ``header_timeout`` seconds of
    opening or of the previous answer; the keep-alive timeout alone does not end a client that
    sends a header byte every few seconds. Both come from the served app (its config and its
    :class:`~headshot_mock.mockserver.deadlines.Deadlines`), found through uvicorn's wrappers.

    Both timeouts are kept by one :class:`_Sweep` for all connections of a loop, not by a timer
    per answer: uvicorn's keep-alive timer and a header timer, each started after every answer
    and cancelled by the next request, were ~4% of a served request's CPU.
    """

    header_timeout: float = 10.0
    _lost: asyncio.Event | None = None
    _gone = False
    _since = 0.0
    """Loop time the connection opened or last answered: both timeouts count from there."""
    _in_headers = True
    """A request has begun and its headers are not complete (or none came yet since opening)."""

    def __init__(
        self, config: uvicorn.Config, server_state: Any, app_state: dict[str, Any], _loop: Any = None
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        state = state_of(self.app)
        self._deadlines = getattr(state, "deadlines", None)
        runtime = getattr(state, "runtime", None)
        if runtime is not None:
            self.header_timeout = runtime.config.header_timeout
        # uvicorn's proxy-headers middleware changes nothing for a request without X-Forwarded-*
        # headers (nearly all): such a request skips it (~1% of a served request's CPU).
        self._proxied = self.app
        self._direct = self.app.app if isinstance(self.app, ProxyHeadersMiddleware) else self.app

    def shutdown(self) -> None:
        """The server begins to shut down: held and half-received requests end now (503), not
        after uvicorn's graceful wait (:meth:`Deadlines.stop`, once for all connections)."""
        if self._deadlines is not None:
            self._deadlines.stop()
        super().shutdown()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # uvloop leaves Nagle's algorithm on: a write after an unacknowledged one waited for
            # the client's delayed ACK, ~40 ms. Off, each write is a segment of its own, so the
            # writes of one answer are joined (_Joined).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(_Joined(transport, self.loop))  # type: ignore[arg-type]
        self._since = self.loop.time()
        _Sweep.of(self.loop).add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        _Sweep.of(self.loop).discard(self)
        self._gone = True
        super().connection_lost(exc)
        if self._lost is not None:
            self._lost.set()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self.scope["extensions"] = {WIRE: self}  # type: ignore[dict-item]

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self.app = self._direct
        for name, _ in self.headers:
            if name.startswith(b"x-forwarded-"):
                self.app = self._proxied
                break
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        self.transport.flush()  # type: ignore[attr-defined]  # the answer goes out now, in one write
        if self.pipeline:  # the next request is here already: uvicorn starts it (and arms no timer)
            super().on_response_complete()
            return
        # uvicorn's own steps, but for its keep-alive timer: the sweep closes an idle connection
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        self._since = self.loop.time()

    def expire(self, now: float) -> None:
        """Close the connection if it waited past a timeout: headers begun (or none yet since it
        opened) past ``header_timeout``, idle after an answer past the keep-alive timeout."""
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request in flight: its body and its answer have deadlines of their own
        if self._in_headers:
            late = self.header_timeout > 0 and now - self._since >= self.header_timeout
        else:
            late = now - self._since >= self.timeout_keep_alive
        if late and not self.transport.is_closing():
            self.transport.close()

    # wire-level faults ------------------------------------------------------------------
    async def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), as a crashed peer does."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self._end(self.transport.abort)

    async def drop(self) -> None:
        """Close the connection (FIN) after what was written so far."""
        await self._end(self.transport.close)

    async def _end(self, how: Any) -> None:
        if self._gone:
            return
        self._lost = asyncio.Event()
        how()
        with contextlib.suppress(TimeoutError):  # uvicorn then knows the client is gone, logs nothing
            await asyncio.wait_for(self._lost.wait(), 1.0)


class _Sweep:
    """The header and keep-alive timeouts of every connection on one loop, checked by one timer
    a fraction of the shortest timeout apart (at most a second) while any connection is open."""

    _of: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sweep]] = weakref.WeakKeyDictionary()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._connections: set[Protocol] = set()
        self._every = 1.0
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Sweep:
        found = cls._of.get(loop)
        if found is None:
            found = cls._of[loop] = cls(loop)
        return found

    def add(self, connection: Protocol) -> None:
        self._connections.add(connection)
        timeouts = (connection.header_timeout, connection.timeout_keep_alive)
        self._every = min(self._every, *(t / 4 for t in timeouts if t > 0))
        if self._timer is None:
            self._timer = self._loop.call_later(self._every, self._tick)

    def discard(self, connection: Protocol) -> None:
        self._connections.discard(connection)

    def _tick(self) -> None:
        self._timer = None
        now = self._loop.time()
        for connection in list(self._connections):
            connection.expire(now)
        if self._connections:
            self._timer = self._loop.call_later(self._every, self._tick)


class _Joined:
    """A connection's transport whose writes of one loop turn go out as one: uvicorn writes an
    answer's status line and headers, then its body, and each write is a syscall and (without
    Nagle's algorithm) a TCP segment of its own. Held writes go out when the answer is complete
    (:meth:`Protocol.on_response_complete`), at the end of the loop turn (a streamed answer), or
    before the connection closes; everything else is the transport's own."""

    __slots__ = ("_held", "_loop", "_transport", "is_closing")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self.is_closing = transport.is_closing  # asked a few times an answer: the transport's own

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)

    def flush(self) -> None:
        held = self._held
        if not held:
            return
        self._held = []
        if not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def state_of(app: Any) -> Any:
    """The ``state`` of the Starlette app inside uvicorn's wrappers (proxy headers, ASGI 2), if any."""
    for _ in range(8):
        state = getattr(app, "state", None)
        if state is not None:
            return state
        app = getattr(app, "app", None)
    return None
