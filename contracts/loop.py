"""An ASGI app on its own event loop in a thread, and httpx transports that reach it.

In-process mocks need this as soon as a caller is synchronous (``httpx.Client``, an SDK built on
it, a plain test function): the app and its background work (job drivers, webhook deliveries)
keep running on one loop that belongs to the mock, whatever the caller does between requests.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
CALL_TIMEOUT = 120.0


class LoopThread:
    """One event loop running in a daemon thread; :meth:`call` runs a coroutine on it."""

    def __init__(self, name: str = "headshot-mock") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, work: Coroutine[Any, Any, T], timeout: float | None = CALL_TIMEOUT) -> T:
        """Run ``work`` on the loop and wait for its result (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    async def acall(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the loop from a coroutine of *another* loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.loop))

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


async def _send(
    app: Any, request: httpx.Request, content: bytes
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    transport = httpx.ASGITransport(app=app)
    rebuilt = httpx.Request(request.method, request.url, headers=request.headers, content=content)
    response = await transport.handle_async_request(rebuilt)
    body = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
    return response.status_code, response.headers.raw, body


class ThreadTransport(httpx.BaseTransport):
    """A synchronous httpx transport that serves requests from ``app`` on ``loop``."""

    def __init__(self, app: Any, loop: LoopThread) -> None:
        self.app = app
        self.loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        status, headers, body = self.loop.call(_send(self.app, request, request.read()))
        return httpx.Response(status, headers=headers, content=body, request=request)


class AsyncThreadTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`ThreadTransport`: the app still runs on the mock's own loop."""

    def __init__(self, app: Any, loop: LoopThread) -> None:
        self.app = app
        self.loop = loop

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        status, headers, body = await self.loop.acall(_send(self.app, request, await request.aread()))
        return httpx.Response(status, headers=headers, content=body, request=request)
