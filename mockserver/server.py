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
What each connection does is :mod:`~headshot_mock.mockserver.connections`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import socket
import threading
import time
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

import uvicorn

from headshot_mock.mockserver.config import MockConfig, is_loopback
from headshot_mock.mockserver.connections import Protocol, state_of
from headshot_mock.mockserver.runtime import CLOSE_WITHIN, cancel_all

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


def _server(app: Any, config: MockConfig | None, *, host: str, port: int, lifespan: str = "auto") -> _Server:
    return _Server(_settings(app, config or _config_of(app), host=host, port=port, lifespan=lifespan))


def _settings(
    app: Any, config: MockConfig, *, host: str, port: int, lifespan: str, **more: Any
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=Protocol,
        log_level="warning",
        access_log=False,
        server_header=False,  # a provider's answer does not say "server: uvicorn"
        lifespan=lifespan,  # type: ignore[arg-type]
        timeout_keep_alive=config.keepalive_timeout,  # type: ignore[arg-type]
        timeout_graceful_shutdown=config.shutdown_timeout,  # type: ignore[arg-type]
        **more,
    )


def _config_of(app: Any) -> MockConfig:
    runtime = getattr(state_of(app), "runtime", None)
    return runtime.config if runtime is not None else MockConfig()


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
        await cancel_all(leftovers, within=CLOSE_WITHIN)

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
