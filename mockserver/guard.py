"""The outermost ASGI middleware: what every request passes before any route sees it.

Security, configured from :class:`MockConfig`:

- **Host** (DNS rebinding): a request whose ``Host`` is not one of the mock's own names — loopback
  names (``localhost``, ``*.localhost``, ``127.0.0.0/8``, ``::1``), the address the connection
  reached (the bound one), ``host`` and ``public_url``'s host — is refused ``421``. In-process
  transports report the URL's host as the server's, so any base URL works there.
- **The admin API** (``/__mock/``, except the generated files clients download): off with
  ``admin=False`` (404); with ``admin_token``, ``Authorization: Bearer <token>`` or 401 (the web
  page's shell and assets excepted: they hold no data, and the page asks for the token).
- **Cross-site** calls to state-changing admin routes (anything but GET/HEAD/OPTIONS): a foreign
  ``Origin`` is refused 403; a body that is not ``application/json`` 415 (a browser cannot send
  JSON cross-site without a CORS preflight, which the mock never grants).

Should the mock itself fail on a request (a bug, a store that is down), the guard journals the
failure with an id (``kind: error``), logs it once with its traceback, and answers
``500 application/problem+json`` naming that id, so the connection stays usable. A client that
merely went away is logged in one line, without a traceback.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headshot_mock.mockserver import journal
from headshot_mock.mockserver.config import is_loopback
from headshot_mock.mockserver.faults import InProcessFault
from headshot_mock.mockserver.problems import problem
from headshot_mock.mockserver.runtime import FILES_PATH, Runtime, iso
from headshot_mock.mockserver.validation import cut

log = logging.getLogger("headshot_mock")
_GONE = (ClientDisconnect, ConnectionError)
"""Exceptions that mean the client went away, not that the mock failed."""


ADMIN_PREFIX = "/__mock"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PAGE_SHELL = frozenset({ADMIN_PREFIX, f"{ADMIN_PREFIX}/"})
PAGE_ASSETS = f"{ADMIN_PREFIX}/web/"
"""The web page's HTML, script and style: served without the token (they hold no data)."""


class Guard:
    def __init__(self, app: ASGIApp, *, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        config = runtime.config
        names = {config.host.strip("[]").lower()}
        if config.public_url:
            names.add((urlsplit(config.public_url).hostname or "").lower())
        self._names = frozenset(names - {"", "0.0.0.0", "::"})
        self._token = config.admin_token.encode() if config.admin_token else None
        self._admin = config.admin
        self._hosts: dict[tuple[str, str], bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        started = False

        def tracked(message: Message) -> Awaitable[None]:  # send's own awaitable: no coroutine of its own
            nonlocal started
            started = started or message["type"] == "http.response.start"
            return send(message)

        try:
            await self.app(scope, receive, tracked)
        except InProcessFault:
            raise  # a fault scenario served without a connection: the client is meant to see it
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

    # security ------------------------------------------------------------------------------------
    def _refusal(self, scope: Scope) -> Response | None:
        headers = request_headers(scope)
        host = headers.get("host")
        if host is not None and not self._own_host(host, scope):
            return problem(
                421,
                "Not this mock's name",
                f"Host {host!r} is not a name of this mock (loopback names, the address it is bound "
                "to, or --public-url's host); a page on another site would send this (DNS "
                "rebinding). If you reach the mock under another name, start it with "
                "--public-url http://THAT-NAME:PORT.",
            )
        path: str = scope["path"]
        if not (path == ADMIN_PREFIX or path.startswith(f"{ADMIN_PREFIX}/")) or path.startswith(FILES_PATH):
            return None
        if not self._admin:
            return problem(404, "Admin API disabled", "This mock was started with --no-admin (admin=False).")
        shell = scope["method"] in ("GET", "HEAD") and (path in PAGE_SHELL or path.startswith(PAGE_ASSETS))
        if self._token is not None and not shell:  # the page's shell holds no data; it asks for the token
            scheme, _, token = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._token):
                return problem(
                    401,
                    "Admin token required",
                    "This mock's admin API needs 'Authorization: Bearer <the --admin-token it was "
                    "started with>'.",
                    headers={"www-authenticate": 'Bearer realm="headshot-mock admin"'},
                )
        if scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None and not self._own((urlsplit(origin).hostname or origin).lower(), scope):
            return problem(
                403,
                "Cross-site admin call refused",
                f"Origin {origin!r} is not this mock: state-changing admin calls are taken only from "
                "the mock's own pages and from clients that send no Origin (scripts, tests).",
            )
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        has_body = headers.get("content-length", "0") not in ("0", "") or "transfer-encoding" in headers
        if (media or has_body) and media != "application/json" and not media.endswith("+json"):
            return problem(
                415,
                "Admin calls take JSON",
                f"State-changing admin calls take an application/json body (or none), not "
                f"{media or 'a body without Content-Type'}.",
            )
        return None

    def _own_host(self, host: str, scope: Scope) -> bool:
        """Whether ``Host: host`` names this mock (remembered: clients send the same few)."""
        server = scope.get("server")
        key = (host, str(server[0]) if server else "")  # ASGI servers send a tuple or a list
        own = self._hosts.get(key)
        if own is None:
            own = self._own(_hostname(host), scope)
            if len(self._hosts) >= _HOSTS_KEPT:
                self._hosts.clear()
            self._hosts[key] = own
        return own

    def _own(self, name: str, scope: Scope) -> bool:
        if name in self._names or is_loopback(name):
            return True
        server: tuple[str, int | None] | None = scope.get("server")
        return server is not None and str(server[0]).strip("[]").lower() == name

    # failures ------------------------------------------------------------------------------------
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


_HOSTS_KEPT = 256
"""Host headers whose verdict the guard remembers (forgotten all at once past this many)."""
_HEADERS = "headshot_mock.headers"
"""Where the scope keeps its request headers once decoded (the guard reads them first)."""


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers as a dict, decoded once per request (each ``Headers.get`` of
    Starlette scans and decodes the whole list): lower-cased names, latin-1 values, the first of
    repeated ones, in the order sent (the journal keeps it). Read it, do not change it."""
    found: dict[str, str] | None = scope.get(_HEADERS)
    if found is None:
        raw = scope.get("headers", ())
        found = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw}
        if len(found) < len(raw):  # a repeated name: the first one counts
            found = {}
            for name, value in raw:
                found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        scope[_HEADERS] = found
    return found


def _hostname(host: str) -> str:
    """``Host`` without its port: ``[::1]:4010`` → ``::1``, ``Example.test:80`` → ``example.test``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
