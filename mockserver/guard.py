"""The outermost ASGI middleware: what every request passes before any route sees it.

Should the mock itself fail on a request (a bug, a store that is down), the guard journals the
failure with an id (``kind: error``), logs it once with its traceback, and answers
``500 application/problem+json`` naming that id, so the connection stays usable. A client that
merely went away is logged in one line, without a traceback.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headshot_mock.mockserver import journal
from headshot_mock.mockserver.problems import problem
from headshot_mock.mockserver.runtime import Runtime, iso
from headshot_mock.mockserver.validation import cut

log = logging.getLogger("headshot_mock")
_GONE = (ClientDisconnect, ConnectionError)
"""Exceptions that mean the client went away, not that the mock failed."""


class Guard:
    def __init__(self, app: ASGIApp, *, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except _GONE as exc:
            log.info(
                "headshot-mock: the client went away during %s %s (%s)",
                scope["method"],
                scope["path"],
                type(exc).__name__,
            )
        except Exception as exc:
            incident = await self._record(scope, exc)
            log.error(
                "headshot-mock internal error #%s on %s %s",
                incident,
                scope["method"],
                scope["path"],
                exc_info=exc,
            )
            if started:  # half an answer is out: nothing more can be said on this connection
                return
            detail = (
                f"The mock itself failed ({type(exc).__name__}); this is a bug in headshot-mock, not "
                f"in your request. The server log and the journal (kind=error) have it as #{incident}."
            )
            response = problem(
                500,
                "headshot-mock internal error",
                detail,
                headers={"x-mock-request-id": str(incident)},
                id=incident,
            )
            await response(scope, receive, send)

    async def _record(self, scope: Scope, exc: Exception) -> int | str:
        """Journal the failure; its seq is the id (a random one when even the journal fails)."""
        query = scope.get("query_string", b"").decode("latin-1")
        entry: dict[str, Any] = {
            "kind": "error",
            "time": iso(time.time()),
            "method": scope["method"],
            "path": scope["path"],
            "query": journal.redact_query(query),
            "status": 500,
            "error": cut(f"{type(exc).__name__}: {exc}"),
        }
        try:
            entry["time"] = iso(await self.runtime.now())
            return await self.runtime.store.journal_append(journal.sanitise(entry))
        except Exception:
            return uuid.uuid4().hex[:12]
