"""A mock for one test: in-process (no port) or live (uvicorn on a free loopback port),
with synchronous controls and journal assertions. The pytest plugin hands these out.

    with MockSession() as mock:                       # strict by default
        client = mock.client("modelslab")             # httpx.Client at the provider's base URL
        client.post("/v6/image_editing/head_shot", json={...})
        mock.assert_called("headShot", times=1)
        mock.assert_no_violations()
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

import httpx

from headshot_mock import specs
from headshot_mock.contracts.loop import AsyncThreadTransport, LoopThread, ThreadTransport
from headshot_mock.contracts.violations import ContractViolation, describe
from headshot_mock.mockserver import BackgroundServer, MockConfig, create_app
from headshot_mock.mockserver.control import Control
from headshot_mock.mockserver.errors import UnknownScenario

IN_PROCESS_URL = "http://headshot-mock.test"
"""The root in-process clients use (a reserved name: nothing real answers there)."""


class MockSession:
    def __init__(self, *, config: MockConfig | None = None, live: bool = False, **options: Any) -> None:
        base = config or MockConfig(level="strict")
        self.config = base.replace(**options) if options else base
        self.live = live
        self.app = create_app(config=self.config)
        self.control: Control = self.app.state.control
        self._loop: LoopThread | None = None
        self._server: BackgroundServer | None = None

    # lifecycle --------------------------------------------------------------------------------
    def start(self) -> MockSession:
        if self.live:
            self._server = BackgroundServer(self.app).start()
        else:
            self._loop = LoopThread()
        return self

    def stop(self) -> None:
        if getattr(self.app.state, "watcher", None) is not None:
            self.app.state.watcher.stop()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.call(self.app.state.runtime.close(), timeout=10)
            self._loop.stop()
            self._loop = None

    def __enter__(self) -> MockSession:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _call(self, work: Any) -> Any:
        if self._server is not None:
            return self._server.call(work)
        if self._loop is None:
            work.close()
            raise RuntimeError("the mock session is not started: use `with MockSession() as mock:`")
        return self._loop.call(work)

    # addresses and clients ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The server root: ``http://127.0.0.1:<port>`` live, a reserved name in-process."""
        return self._server.url if self._server is not None else IN_PROCESS_URL

    def base_url(self, provider: str) -> str:
        """What a client of ``provider`` uses instead of the real base URL."""
        spec = specs.load(provider)
        mount = "" if self.config.root_provider else f"/{provider}"
        return f"{self.url}{mount}{spec.base_path}"

    def client(self, provider: str | None = None, **options: Any) -> httpx.Client:
        """A synchronous httpx client at ``provider``'s base URL (or the server root)."""
        base = self.base_url(provider) if provider else self.url
        if self._loop is not None:
            options.setdefault("transport", ThreadTransport(self.app, self._loop))
        return httpx.Client(base_url=base, **options)

    def async_client(self, provider: str | None = None, **options: Any) -> httpx.AsyncClient:
        base = self.base_url(provider) if provider else self.url
        if self._loop is not None:
            options.setdefault("transport", AsyncThreadTransport(self.app, self._loop))
        return httpx.AsyncClient(base_url=base, **options)

    # controls -----------------------------------------------------------------------------------
    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        """Journal entries, oldest first (filters: provider, operation, scenario, status, kind, limit)."""
        entries: list[dict[str, Any]] = self._call(self.control.journal(**filters))
        return entries

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """Only the provider calls (no webhook attempts)."""
        return self.journal(kind="request", **filters)

    def reset(self) -> None:
        self._call(self.control.reset())

    def add_rule(
        self, provider: str, scenario: str, *, operation: str | None = None, times: int | None = 1
    ) -> Any:
        return self._call(self.control.add_rule(provider, scenario, operation=operation, times=times))

    @contextlib.contextmanager
    def scenario(
        self, name: str, *, provider: str | None = None, operation: str | None = None
    ) -> Iterator[None]:
        """Every call (of ``provider``/``operation``) answers ``name`` inside the block."""
        for pid in [provider] if provider else self.providers_with(name):
            self.add_rule(pid, name, operation=operation, times=None)
        try:
            yield
        finally:
            self._call(self.control.clear_rules())

    def providers_with(self, name: str) -> list[str]:
        """The served providers that have scenario ``name`` (an error naming all valid ones if none)."""
        books = self.control.scenarios()
        found = [pid for pid, names in books.items() if name in names]
        if not found:
            known = {n for names in books.values() for n in names}
            raise UnknownScenario(name, known, where="the served providers")
        return found

    def advance(self, seconds: float) -> Any:
        """Move the mock clock forward (jobs progress, downloads expire)."""
        return self._call(self.control.advance(seconds))

    def finish(self, provider: str, job_id: str | int, state: str | None = None) -> Any:
        return self._call(self.control.finish(provider, str(job_id), state))

    def jobs(self, provider: str | None = None) -> Any:
        return self._call(self.control.jobs(provider))

    def deliveries(self, provider: str | None = None) -> Any:
        return self._call(self.control.deliveries(provider))

    def add_endpoint(
        self, url: str, *, secret: str | None = None, events: Sequence[str] | None = None
    ) -> Any:
        """Register a Magic Hour webhook endpoint."""
        return self._call(self.control.add_endpoint(url, secret=secret, events=events))

    def idle(self, timeout: float = 10.0) -> None:
        """Wait until job drivers and webhook deliveries have finished."""
        self._call(self.control.idle(timeout))

    # assertions ---------------------------------------------------------------------------------
    def assert_called(
        self, operation: str, *, provider: str | None = None, times: int | None = None
    ) -> list[dict[str, Any]]:
        """The calls of ``operation``; at least one, or exactly ``times``."""
        calls = self.requests(operation=operation, provider=provider)
        if (times is None and not calls) or (times is not None and len(calls) != times):
            seen = sorted({e["operation"] for e in self.requests()})
            wanted = "at least once" if times is None else f"{times} time(s)"
            raise ContractViolation(
                f"expected {operation} to be called {wanted}, it was called {len(calls)} time(s); "
                f"operations called: {', '.join(seen) or 'none'}"
            )
        return calls

    def assert_called_with(
        self, operation: str, *, provider: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """The last call of ``operation``, whose JSON body holds ``fields`` (keys are redacted)."""
        call = self.assert_called(operation, provider=provider)[-1]
        body = call["request"]["body"] or {}
        wrong = {k: body.get(k, "<missing>") for k, v in fields.items() if body.get(k, "<missing>") != v}
        if wrong:
            detail = ", ".join(f"{k}: expected {fields[k]!r}, sent {v!r}" for k, v in wrong.items())
            raise ContractViolation(f"{operation} was called with other values: {detail}")
        return call

    def violations(self, *, level: str = "strict") -> list[str]:
        """A readable paragraph per request that broke the contract at ``level``."""
        return describe(self.requests(), level=level)

    def assert_no_violations(self, *, level: str = "strict") -> None:
        found = self.violations(level=level)
        if found:
            raise ContractViolation(
                f"{len(found)} request(s) broke the documented contract ({level} level):\n\n"
                + "\n\n".join(found)
            )
