"""Serve the providers' real hosts from the mock, in-process, for any code that uses httpx.

    from headshot_mock.contracts.intercept import intercept

    with intercept() as mock:
        r = httpx.post("https://modelslab.com/api/v6/image_editing/head_shot", json={...})
        assert mock.journal(provider="modelslab")

A respx router sends every httpx request to a provider's production host (taken from the
specs: each document's server and every operation's own ``servers``) to a mock app serving
that one provider at the root, with its real base path; links the mock hands out come back on
the same host and are served too. All apps share one :class:`~mockserver.Store`: one journal,
one set of jobs. Anything else fails loudly (:class:`UnmockedRequest`) and never reaches the
network.

The apps run on a private event loop in a helper thread, whatever the client: a sync
``httpx.Client`` waits on it, an ``httpx.AsyncClient`` awaits it. Job drivers and webhook
deliveries live on that loop, so they keep running between calls of either kind and stop with
the router. See docs/respx.md.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import httpx
import respx
from respx.models import AllMockedAssertionError, ResolvedRoute

from headshot_mock import specs
from headshot_mock.contracts.errors import ContractViolation
from headshot_mock.contracts.loop import LoopThread, lifespan, serve_awaiting, serve_blocking
from headshot_mock.mockserver import ConfigError, MemoryStore, MockApp, MockConfig, Store, create_app

__all__ = ["Intercept", "UnmockedRequest", "intercept", "provider_hosts"]

P = ParamSpec("P")
T = TypeVar("T")

CONTROL_TIMEOUT = 10.0
"""Seconds starting or stopping the mock (and one store/admin coroutine) may take."""

_ASYNC_CALLER: contextvars.ContextVar[bool] = contextvars.ContextVar("headshot_mock_async", default=False)
"""Set while respx resolves a request of an ``httpx.AsyncClient`` (its side effects may be awaited)."""


class UnmockedRequest(AllMockedAssertionError, ContractViolation):
    """A request to a host the intercept does not serve (and no other route of the router matched).

    A subclass of respx's own error, so an outer ``respx.mock`` router still gets its turn.
    """


def provider_hosts(providers: Iterable[str] | None = None) -> dict[str, str]:
    """``scheme://host[:port]`` of every server in the specs → the provider it belongs to.

    A provider's hosts are its document's first server and every operation's own server
    (Magic Hour's uploads go to a storage host of their own).
    """
    hosts: dict[str, str] = {}
    for pid in providers if providers is not None else specs.providers():
        spec = specs.load(pid)
        for url in (spec.server_url, *(op.server_url for op in spec.operations)):
            origin = _origin(httpx.URL(url))
            owner = hosts.setdefault(origin, pid)
            if owner != pid:
                raise ConfigError(f"{origin} is a server of both {owner!r} and {pid!r}; cannot route it")
    return hosts


class _Router(respx.MockRouter):
    """A respx router that tells async callers apart and explains what it does not serve."""

    hint = ""

    def resolve(self, request: httpx.Request) -> ResolvedRoute:
        try:
            return super().resolve(request)
        except UnmockedRequest:
            raise
        except AllMockedAssertionError:
            raise UnmockedRequest(self._unmatched(request)) from None

    async def aresolve(self, request: httpx.Request) -> ResolvedRoute:
        token = _ASYNC_CALLER.set(True)
        try:
            return await super().aresolve(request)
        except UnmockedRequest:
            raise
        except AllMockedAssertionError:
            raise UnmockedRequest(self._unmatched(request)) from None
        finally:
            _ASYNC_CALLER.reset(token)

    def _unmatched(self, request: httpx.Request) -> str:
        return (
            f"headshot-mock intercept: {request.method} {request.url} was not sent: "
            f"{_origin(request.url)} is not a provider host. {self.hint}"
        )


class Intercept:
    """The respx router (:attr:`router`), one mock app per provider (:attr:`apps`) and their
    shared :attr:`store`. Use it as a context manager (sync or async), a decorator, or with
    :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        providers: Iterable[str] | None = None,
        config: MockConfig | None = None,
        *,
        store: Store | None = None,
        assert_all_mocked: bool = True,
    ) -> None:
        config = config if config is not None else MockConfig.load()
        chosen = tuple(providers) if providers is not None else (config.providers or specs.providers())
        self.config = config.replace(providers=chosen, root_provider=None)  # validates the ids
        self.store: Store = store if store is not None else MemoryStore(journal_limit=config.journal_limit)
        self.apps: dict[str, MockApp] = {
            pid: create_app(config=self.config.replace(root_provider=pid), store=self.store) for pid in chosen
        }
        self.hosts: dict[str, str] = provider_hosts(chosen)
        """``https://host`` → provider id, for every host intercepted."""

        self.router = _Router(assert_all_called=False, assert_all_mocked=assert_all_mocked)
        self.router.hint = (
            f"Intercepted: {', '.join(sorted(self.hosts))}. Add a route on .router for any other host "
            "(router.get(url).respond(...), or .pass_through())."
        )
        self.router.route(name="headshot-mock webhooks").mock(side_effect=self._webhook)
        for origin, pid in self.hosts.items():
            url = httpx.URL(origin)
            port = url.port or (443 if url.scheme == "https" else 80)
            self.router.route(scheme=url.scheme, host=url.host, port=port, name=f"{pid} {origin}").mock(
                side_effect=functools.partial(self._serve, pid)
            )

        self._loop: LoopThread | None = None

    # lifecycle -------------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._loop is not None

    def start(self) -> Intercept:
        """Start the mock's event loop and the apps, then patch httpx."""
        if self._loop is not None:
            raise RuntimeError("this intercept is already started")
        self._loop = LoopThread("headshot-mock-intercept")
        try:
            for app in self.apps.values():
                self._loop.enter(lifespan(app))
            self.router.start()
        except BaseException:
            self._halt()
            raise
        return self

    def stop(self) -> None:
        """Unpatch httpx, stop the apps' background work and the loop. The store is kept."""
        if self._loop is None:
            return
        try:
            self.router.stop(quiet=True)
        finally:
            self._halt()  # the apps' lifespans end first, closing their background work

    def __enter__(self) -> Intercept:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Intercept:
        return self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __call__(self, func: Callable[P, T]) -> Callable[P, T]:
        """Decorate a (sync or async) function: each call runs inside the intercept, from an
        empty store."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                with self:
                    self.reset()
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run_sync(*args: P.args, **kwargs: P.kwargs) -> T:
            with self:
                self.reset()
                return func(*args, **kwargs)

        return run_sync

    # the shared state ------------------------------------------------------------------------
    def run(self, work: Awaitable[T]) -> T:
        """Run a coroutine where the mock's state lives (``mock.run(mock.store.clock_advance(60))``).

        Works before, during and after the intercept; not from inside the mock's own loop.
        """
        if self._loop is None:
            return _run_detached(work)
        return self._on_loop(work, CONTROL_TIMEOUT)

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        """Journal entries of every provider, oldest first, whose fields equal ``filters``
        (``provider="magichour"``, ``operation="fetchResult"``, ``status=200``, ``kind="webhook"``)."""
        entries = self.run(self.store.journal_entries())
        return [e for e in entries if all(e.get(k) == v for k, v in filters.items())]

    def reset(self) -> None:
        """Forget everything the mock holds: journal, jobs, files, uploads, rules, webhooks, clock."""
        self.run(self.store.reset())

    # serving ---------------------------------------------------------------------------------
    def _serve(self, provider: str, request: httpx.Request) -> httpx.Response | Awaitable[httpx.Response]:
        if self._loop is None:  # a route matched on a router someone else started
            raise RuntimeError("the headshot-mock intercept is not started")
        if _ASYNC_CALLER.get():
            return serve_awaiting(self._loop, self.apps[provider], request)
        return serve_blocking(self._loop, self.apps[provider], request)

    def _webhook(self, request: httpx.Request) -> httpx.Request | None:
        """The mock's own webhook deliveries to an allowed (by default loopback) receiver go out;
        nothing else does."""
        mine = self._loop is not None and self._loop.owns_current_thread()
        if not mine or _origin(request.url) in self.hosts:
            return None
        allowed = any(app.webhook_allowed(str(request.url)) for app in self.apps.values())
        return request if allowed else None

    def _on_loop(self, work: Awaitable[T], timeout: float) -> T:
        assert self._loop is not None
        return self._loop.call(work, timeout)

    def _halt(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.stop()


def intercept(
    providers: Iterable[str] | None = None,
    config: MockConfig | None = None,
    *,
    store: Store | None = None,
    assert_all_mocked: bool = True,
) -> Intercept:
    """Route httpx traffic to the providers' real hosts into the mock (see :class:`Intercept`).

    ``providers`` defaults to ``config.providers`` or every bundled provider; ``config`` to
    :meth:`MockConfig.load` (``HEADSHOT_MOCK_*``); ``store`` to a new :class:`MemoryStore`.
    ``assert_all_mocked=False`` answers other hosts with respx's empty 200 instead of raising.
    """
    return Intercept(providers, config, store=store, assert_all_mocked=assert_all_mocked)


# helpers ---------------------------------------------------------------------------------------


def _origin(url: httpx.URL) -> str:
    default = {"http": 80, "https": 443}.get(url.scheme)
    port = "" if url.port in (None, default) else f":{url.port}"
    return f"{url.scheme}://{url.host}{port}"


def _run_detached(work: Awaitable[T]) -> T:
    """Run ``work`` to completion on a short-lived loop thread (safe inside a running loop)."""
    loop = LoopThread("headshot-mock-intercept-run")
    try:
        return loop.call(work, CONTROL_TIMEOUT)
    finally:
        loop.stop()
