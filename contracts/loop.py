"""An ASGI app on its own event loop in a thread, and httpx transports that reach it.

In-process mocks need this as soon as a caller is synchronous (``httpx.Client``, an SDK built on
it, a plain test function): the app and its background work (job drivers, webhook deliveries)
keep running on one loop that belongs to the mock, whatever the caller does between requests.
The in-process :class:`~contracts.session.MockSession` and the respx interceptor both use it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
CALL_TIMEOUT = 120.0


class LoopThread:
    """One event loop running in a daemon thread; :meth:`call` runs a coroutine on it."""

    def __init__(self, name: str = "headshot-mock") -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def call(self, work: Awaitable[T], timeout: float | None = CALL_TIMEOUT) -> T:
        """Run ``work`` on the loop and wait for its result (from any other thread)."""
        if threading.current_thread() is self.thread:
            raise RuntimeError("a blocking call from inside the mock's own event loop would deadlock")
        future = asyncio.run_coroutine_threadsafe(_wrap(work), self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    async def acall(self, work: Awaitable[T], timeout: float | None = None) -> T:
        """Run ``work`` on the loop from a coroutine of *another* loop."""
        future = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_wrap(work), self.loop))
        return await asyncio.wait_for(future, timeout)

    def stop(self) -> None:
        """Stop the loop; work still pending on it is cancelled."""
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)


async def _wrap(work: Awaitable[T]) -> T:
    return await work


async def serve(app: Any, request: httpx.Request) -> httpx.Response:
    """One request through the ASGI app, fully read (runs on the mock's loop)."""
    try:
        content = request.content
    except httpx.RequestNotRead:
        content = request.read()
    inner = httpx.Request(request.method, request.url, headers=request.headers, content=content)
    answer = await httpx.ASGITransport(app=app).handle_async_request(inner)
    body = await answer.aread()
    return httpx.Response(answer.status_code, headers=answer.headers, content=body, request=request)


def read_timeout(request: httpx.Request) -> float | None:
    """The client's read timeout: the mock's ``slow``/``timeout`` scenarios are bounded by it."""
    timeouts: Mapping[str, float | None] = request.extensions.get("timeout") or {}
    return timeouts.get("read")


def serve_blocking(loop: LoopThread, app: Any, request: httpx.Request) -> httpx.Response:
    """:func:`serve` for a synchronous caller, honouring the client's read timeout."""
    timeout = read_timeout(request)
    try:
        return loop.call(serve(app, request), timeout)
    except TimeoutError:
        raise httpx.ReadTimeout(f"the mock did not answer within {timeout} s", request=request) from None


async def serve_awaiting(loop: LoopThread, app: Any, request: httpx.Request) -> httpx.Response:
    """:func:`serve` for a caller on another event loop, honouring the client's read timeout."""
    timeout = read_timeout(request)
    try:
        return await loop.acall(serve(app, request), timeout)
    except TimeoutError:
        raise httpx.ReadTimeout(f"the mock did not answer within {timeout} s", request=request) from None


class ThreadTransport(httpx.BaseTransport):
    """A synchronous httpx transport that serves requests from ``app`` on ``loop``."""

    def __init__(self, app: Any, loop: LoopThread) -> None:
        self.app = app
        self.loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        return serve_blocking(self.loop, self.app, request)


class AsyncThreadTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`ThreadTransport`: the app still runs on the mock's own loop."""

    def __init__(self, app: Any, loop: LoopThread) -> None:
        self.app = app
        self.loop = loop

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return await serve_awaiting(self.loop, self.app, request)
