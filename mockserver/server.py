"""A mock served by uvicorn on a free loopback port, in a background thread.

For clients that need a real socket (``requests``, aiohttp, the Node SDK, another language):

    with BackgroundServer(create_app()) as server:
        requests.post(f"{server.url}/idphoto/api/generate-portrait", json=...)
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

import uvicorn

from headshot_mock.mockserver.config import is_loopback

STARTUP_TIMEOUT = 10.0
T = TypeVar("T")


class BackgroundServer:
    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        runtime = getattr(getattr(app, "state", None), "runtime", None)
        if runtime is not None and not is_loopback(host):
            runtime.config.replace(host=host)  # ConfigError saying how, unless a token or admin=False
        self.app = app
        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
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
