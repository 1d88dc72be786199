"""An event loop of the mock's own in a thread, and httpx transports that reach an app on it.

In-process mocks need this as soon as a caller is synchronous (``httpx.Client``, an SDK built on
it, a plain test function): the app and its background work (job drivers, webhook deliveries)
keep running on one loop that belongs to the mock, whatever the caller does between requests.
The loop is anyio's blocking portal, as Starlette's ``TestClient`` uses it; the in-process
:class:`~headshot_mock.contracts.session.MockSession` and the respx interceptor both run on one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, TypeVar

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

T = TypeVar("T")
CALL_TIMEOUT = 120.0


class LoopThread:
    """An anyio blocking portal (one event loop in a daemon thread); :meth:`call` runs a
    coroutine on it, :meth:`enter` keeps an async context manager (an app's lifespan) open on it."""

    def __init__(self, name: str = "headshot-mock") -> None:
        self._stack = contextlib.ExitStack()
        self.portal: BlockingPortal = self._stack.enter_context(start_blocking_portal(name=name))
        self._thread_id = self.portal.call(threading.get_ident)

    def owns_current_thread(self) -> bool:
        """True when called from the loop's own thread (code the mock itself runs)."""
        return threading.get_ident() == self._thread_id

    def call(self, work: Awaitable[T], timeout: float | None = CALL_TIMEOUT) -> T:
        """Run ``work`` on the loop and wait for its result (from any other thread)."""
        if self.owns_current_thread():
            raise RuntimeError("a blocking call from inside the mock's own event loop would deadlock")
        future = self.portal.start_task_soon(_wrap, work)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    async def acall(self, work: Awaitable[T], timeout: float | None = None) -> T:
        """Run ``work`` on the loop from a coroutine of *another* loop."""
        future = self.portal.start_task_soon(_wrap, work)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)

    def enter(self, manager: contextlib.AbstractAsyncContextManager[T]) -> T:
        """Enter ``manager`` in a task of the loop; it is exited (in that task) by :meth:`stop`."""
        return self._stack.enter_context(self.portal.wrap_async_context_manager(manager))

    def stop(self) -> None:
        """Exit what :meth:`enter` opened (newest first), then stop the loop; work still
        pending on it is cancelled."""
        self._stack.close()


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The ASGI app's lifespan, run in-process (startup before the first request, shutdown
    closing its background work)."""
    async with app.router.lifespan_context(app):
        yield


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
