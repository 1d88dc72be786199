"""Deadlines: how long a request body may take to arrive, and the end of every request at shutdown.

:class:`DeadlinesMiddleware` wraps the whole app; :class:`Deadlines` keeps the requests in
flight, so that a server shutting down ends them at once (a ``timeout`` hold, a ``slow``
latency, a half-sent body, a plug-in waiting on the scaled clock) instead of waiting for them:
each gets ``503`` with ``connection: close`` if it has not started answering. A client that
stops sending its body for ``body_timeout`` seconds gets ``408``. Header and keep-alive
timeouts happen before any ASGI app runs; :mod:`~headshot_mock.mockserver.server` sets them
on uvicorn.

The server calls :meth:`Deadlines.stop` when it begins to shut down (uvicorn tells the app
only after every connection has closed, which is what must not be waited for).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from headshot_mock.mockserver.faults import WIRE
from headshot_mock.mockserver.problems import problem
from headshot_mock.mockserver.runtime import CANCEL_AGAIN

Scope = dict[str, Any]
Message = dict[str, Any]
_STOPPING = "headshot-mock is shutting down"


class Deadlines:
    """The requests in flight of one app, and the body timeout (shared by the app and its server).

    Body reads are watched by one sweep timer for the whole server, not a timer each: a request
    waiting for its body is an entry in :attr:`reading` (its deadline on the loop's clock), and
    the sweep, a fraction of ``body_timeout`` apart while any read is pending, cancels the reads
    past theirs. A request whose body is already there costs a dict entry, not a timer."""

    def __init__(self, *, body_timeout: float) -> None:
        self.body_timeout = body_timeout
        self.stopping = False
        self.requests: set[asyncio.Task[Any]] = set()
        self.reading: dict[asyncio.Task[Any], tuple[float, list[str]]] = {}
        """Reads in progress: the task, the loop time its body is due by, where to say it timed out."""
        self._sweep_every = min(1.0, body_timeout / 4)
        self._sweep: asyncio.TimerHandle | None = None

    def stop(self) -> int:
        """End every request in flight (server shutdown); returns how many there were. Each
        connection's shutdown calls it: only the first call cancels."""
        if self.stopping:
            return 0
        self.stopping = True
        self._cancel_requests()
        return len(self.requests)

    def _cancel_requests(self) -> None:
        """Cancel the requests in flight, and again every :data:`~.runtime.CANCEL_AGAIN` seconds
        while one has not ended: a cancellation can be lost (:func:`~.runtime.cancel_all`), and
        a ``timeout`` hold that lost it would be held until uvicorn's graceful wait ran out. A
        request that took its cancellation leaves :attr:`requests` before answering."""
        for task in self.requests:
            task.cancel(_STOPPING)
        if self.requests:
            asyncio.get_running_loop().call_later(CANCEL_AGAIN, self._cancel_requests)

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make sure a sweep is scheduled (a read has just been entered in :attr:`reading`)."""
        if self._sweep is None:
            self._sweep = loop.call_later(self._sweep_every, self._sweep_reads, loop)

    def _sweep_reads(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweep = None
        now = loop.time()
        late = [(task, why) for task, (due, why) in self.reading.items() if due <= now]
        for task, why in late:
            del self.reading[task]
            why.append("body")
            task.cancel("request body timed out")
        if self.reading:
            self.watch(loop)


class DeadlinesMiddleware:
    """The ASGI middleware enforcing :class:`Deadlines`."""

    def __init__(self, app: Any, *, deadlines: Deadlines) -> None:
        self.app = app
        self.deadlines = deadlines

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.deadlines
        if limits.stopping:
            await _answer(
                scope, send, 503, "Shutting down", "The mock is shutting down; it answers nothing new."
            )
            return
        task = asyncio.current_task()
        assert task is not None
        why: list[str] = []
        started = False
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done or limits.body_timeout <= 0:
                return await receive()  # type: ignore[no-any-return]
            loop = task.get_loop()  # not get_running_loop(): in 3.11 that is a getpid() syscall
            limits.reading[task] = (loop.time() + limits.body_timeout, why)
            limits.watch(loop)
            try:
                message: Message = await receive()
            finally:
                limits.reading.pop(task, None)
            body_done = message.get("type") != "http.request" or not message.get("more_body", False)
            return message

        def tracked_send(message: Message) -> Awaitable[None]:  # send's own awaitable, as the guard's
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            return send(message)  # type: ignore[no-any-return]

        limits.requests.add(task)
        try:
            await self.app(scope, timed_receive, tracked_send)
        except asyncio.CancelledError:
            if not (why or limits.stopping):
                raise  # cancelled by someone else (the server's own graceful-shutdown timeout)
            limits.requests.discard(task)  # taken: its answer below is not cancelled again
            task.uncancel()
            wire = (scope.get("extensions") or {}).get(WIRE)
            if started and wire is not None:
                await wire.drop()  # mid-answer (a dribble): end the connection, not the process
            elif not started:
                if why:
                    detail = (
                        f"No body bytes arrived for {limits.body_timeout:g} s (body_timeout); "
                        "send the whole body promptly, or raise body_timeout."
                    )
                    await _answer(scope, send, 408, "Request body timed out", detail)
                else:
                    await _answer(
                        scope, send, 503, "Shutting down", "The mock shut down while this was held."
                    )
        finally:
            limits.requests.discard(task)


async def _answer(scope: Scope, send: Any, status: int, title: str, detail: str) -> None:
    await problem(status, title, detail, headers={"connection": "close"})(scope, _nothing, send)


async def _nothing() -> Message:  # pragma: no cover - a Response never reads the request
    return {"type": "http.disconnect"}
