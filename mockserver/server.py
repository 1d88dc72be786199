"""Serving the app with uvicorn: :func:`serve` (the CLI's ``serve``, one process or
``--workers N``, and ``proxy``) and :class:`BackgroundServer` (a free loopback port, in a
background thread).

For clients that need a real socket (``requests``, aiohttp, the Node SDK, another language):

    with BackgroundServer(create_app()) as server:
        requests.post(f"{server.url}/idphoto/api/generate-portrait", json=...)

All run uvicorn with the config's connection timeouts: ``header_timeout`` (a request's
headers must arrive within it: slowloris), ``keepalive_timeout`` (an idle connection is closed)
and ``shutdown_timeout`` (what is still running that long after shutdown began is cancelled).
On shutdown the app's requests in flight end at once (:mod:`~headshot_mock.mockserver.deadlines`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import socket
import struct
import threading
import time
import weakref
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import uvicorn
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from headshot_mock.mockserver.config import MockConfig, is_loopback
from headshot_mock.mockserver.faults import WIRE

STARTUP_TIMEOUT = 10.0
T = TypeVar("T")


GC_THRESHOLD = (20_000, 20, 20)
"""The collector's thresholds while serving (CPython's default is 700, 10, 10): a request makes a
few hundred short-lived containers, so the default collects the youngest generation every
couple of requests."""


def serve(app: Any, config: MockConfig, *, sock: socket.socket | None = None) -> None:
    """Serve ``app`` on ``config.host:config.port`` (or on ``sock``, bound already) until
    SIGINT/SIGTERM (blocks).

    The process is the server's own, so it also tunes the garbage collector (:func:`tune_collector`).
    With ``config.workers > 1`` uvicorn's supervisor runs that many processes on one socket, each
    building its own app from ``config`` (:meth:`MockConfig.for_worker`; ``app`` is not served),
    with the same protocol, timeouts, collector and end of requests at shutdown as one process."""
    if config.workers > 1:
        _serve_workers(config, sock if sock is not None else _bound(config.host, config.port))
        return
    tune_collector()
    with contextlib.suppress(KeyboardInterrupt):  # SIGINT, re-raised by uvicorn once it has shut down
        _server(app, config, host=config.host, port=config.port).run(sockets=None if sock is None else [sock])


def tune_collector() -> None:
    """What start-up built (specs, validators, routes: most of the heap) is frozen out of every
    later collection, and the youngest generation is collected less often (:data:`GC_THRESHOLD`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def _serve_workers(config: MockConfig, sock: socket.socket) -> None:
    from uvicorn.supervisors import Multiprocess

    config.export_for_workers()
    settings = _settings(
        "headshot_mock.mockserver.app:worker_app",
        config,
        host=config.host,
        port=config.port,
        lifespan="auto",
        factory=True,
        workers=config.workers,
    )
    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before 0.36 # pragma: no cover
        Multiprocess(settings, target=uvicorn.Server(settings).run, sockets=[sock]).run()  # type: ignore[call-arg]
        return

    class Supervisor(Multiprocess):
        def keep_subprocess_alive(self) -> None:
            """Not while a signal waits to be handled: the health check pings each worker for up to
            ``timeout_worker_healthcheck`` (5 s), which a SIGTERM would otherwise wait out."""
            if not self.signal_queue:
                super().keep_subprocess_alive()

        def join_all(self) -> None:
            """Each worker ends within the shutdown timeout (and a little): one that does not is killed."""
            deadline = time.monotonic() + config.shutdown_timeout + 2.0
            for worker in self.processes:
                worker.process.join(max(0.0, deadline - time.monotonic()))
                if worker.process.exitcode is None:
                    worker.kill()
                    worker.process.join()

    with contextlib.suppress(KeyboardInterrupt):
        Supervisor(settings, sockets=[sock]).run()


def _bound(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class _Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus a header timeout, the end of the app's requests at
    shutdown and the wire-level fault hooks.

    A connection must complete each request's headers within ``header_timeout`` seconds of
    opening or of the previous answer; the keep-alive timeout alone does not end a client that
    sends a header byte every few seconds. Both come from the served app (its config and its
    :class:`~headshot_mock.mockserver.deadlines.Deadlines`), found through uvicorn's wrappers: one
    module-level class serves :func:`serve`, :class:`BackgroundServer` and each worker process of
    :func:`serve_workers` (which must import it by name).

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
        state = _state_of(self.app)
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
        self._connections: set[_Protocol] = set()
        self._every = 1.0
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Sweep:
        found = cls._of.get(loop)
        if found is None:
            found = cls._of[loop] = cls(loop)
        return found

    def add(self, connection: _Protocol) -> None:
        self._connections.add(connection)
        shortest = min(t for t in (connection.header_timeout, connection.timeout_keep_alive, 4.0) if t > 0)
        self._every = min(self._every, shortest / 4)
        if self._timer is None:
            self._timer = self._loop.call_later(self._every, self._tick)

    def discard(self, connection: _Protocol) -> None:
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
    (:meth:`_Protocol.on_response_complete`), at the end of the loop turn (a streamed answer), or
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


def _server(app: Any, config: MockConfig | None, *, host: str, port: int, lifespan: str = "auto") -> _Server:
    return _Server(_settings(app, config or _config_of(app), host=host, port=port, lifespan=lifespan))


def _settings(
    app: Any, config: MockConfig, *, host: str, port: int, lifespan: str, **more: Any
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_Protocol,
        log_level="warning",
        access_log=False,
        server_header=False,  # a provider's answer does not say "server: uvicorn"
        lifespan=lifespan,  # type: ignore[arg-type]
        timeout_keep_alive=config.keepalive_timeout,  # type: ignore[arg-type]
        timeout_graceful_shutdown=config.shutdown_timeout,  # type: ignore[arg-type]
        **more,
    )


def _config_of(app: Any) -> MockConfig:
    runtime = getattr(_state_of(app), "runtime", None)
    return runtime.config if runtime is not None else MockConfig()


def _state_of(app: Any) -> Any:
    """The ``state`` of the Starlette app inside uvicorn's wrappers (proxy headers, ASGI 2), if any."""
    for _ in range(8):
        state = getattr(app, "state", None)
        if state is not None:
            return state
        app = getattr(app, "app", None)
    return None


class _Server(uvicorn.Server):
    """uvicorn's server (its ``started`` flag is what :class:`BackgroundServer` waits on)."""


class BackgroundServer:
    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        runtime = getattr(getattr(app, "state", None), "runtime", None)
        if runtime is not None and not is_loopback(host):
            runtime.config.replace(host=host)  # ConfigError saying how, unless a token or admin=False
        self.app = app
        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()  # the port is taken: say so, leak nothing
            raise
        self.port: int = self._socket.getsockname()[1]
        self._server = _server(app, None, host=host, port=self.port, lifespan="off")
        self._thread = threading.Thread(target=self._run, name=f"headshot-mock:{self.port}", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the server root (providers are under ``/<id>``)."""
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._server.serve(sockets=[self._socket]))
        finally:
            self._loop.run_until_complete(self._shutdown())
            self._loop.close()

    async def _shutdown(self) -> None:
        """Stop the app's background work as its lifespan would (the server runs without one)."""
        runtime = getattr(getattr(self.app, "state", None), "runtime", None)
        if runtime is not None:
            await runtime.close()
        leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    def call(self, work: Coroutine[Any, Any, T], timeout: float | None = 120.0) -> T:
        """Run a coroutine on the server's event loop (where the app and its state live)."""
        if self._loop is None or not self._server.started:
            raise RuntimeError("the server is not running")
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the mock server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
