"""``create_app``: one :class:`MockApp` (a Starlette app) serving every chosen provider, the
files it generates and the admin API. Nothing is built at import time."""

from __future__ import annotations

import contextlib
import difflib
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from headshot_mock import specs
from headshot_mock.mockserver import admin, files, images, jobs
from headshot_mock.mockserver.config import MockConfig
from headshot_mock.mockserver.control import Control
from headshot_mock.mockserver.deadlines import Deadlines, DeadlinesMiddleware
from headshot_mock.mockserver.engine import Bound, Engine
from headshot_mock.mockserver.errors import StoreUnavailable, UnknownScenario
from headshot_mock.mockserver.guard import Guard
from headshot_mock.mockserver.problems import problem
from headshot_mock.mockserver.providers import plugin_for
from headshot_mock.mockserver.providers.base import Provider
from headshot_mock.mockserver.runtime import Runtime
from headshot_mock.mockserver.scenarios import ScenarioBook
from headshot_mock.mockserver.stores import Due, Store, open_store
from headshot_mock.mockserver.webhooks import Dispatcher


class MockApp(Starlette):
    """The mock as an ASGI app, with typed handles for Python callers (the layer above uses
    these, never ``app.state``).

    - :attr:`control`: the mock's controls (journal, rules, jobs, clock, webhooks), as coroutines;
    - :attr:`config`: the :class:`MockConfig` it serves;
    - :attr:`mounts`: each provider's path prefix (``""`` when one provider is served at the root);
    - :attr:`providers`: the provider plug-ins, by id.

    Its lifespan closes what the mock runs in the background (job drivers, webhook deliveries).
    """

    def __init__(
        self,
        *,
        engine: Engine,
        control: Control,
        mounts: Mapping[str, str],
        routes: Sequence[BaseRoute],
        exception_handlers: Mapping[Any, Any],
        middleware: Sequence[Middleware] = (),
    ) -> None:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await engine.runtime.start()
            yield
            self.stop_watching()
            await engine.runtime.close()

        super().__init__(
            routes=routes, exception_handlers=exception_handlers, middleware=middleware, lifespan=lifespan
        )
        self._engine = engine
        self._short: ASGIApp | None = None
        self.control: Control = control
        self.config: MockConfig = engine.runtime.config
        self.mounts: Mapping[str, str] = mounts
        # Inside mockserver (the spec watcher) these are also on the state; other layers use the
        # typed names above.
        self.state.engine = engine
        self.state.control = control
        self.state.runtime = engine.runtime
        self.state.mounts = mounts
        self.state.watcher = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Starlette's, with a shorter way for the provider paths without parameters (almost
        every call a client makes): the app's middleware, then the route. Starlette's outer
        error middleware, its exception middleware and the router would add three layers and
        two wrappers of ``send`` (~5% of such a request's CPU) and do nothing for these routes:
        the guard answers every failure, and the route was found by one dict lookup."""
        route = self._exact().route_for(scope) if scope["type"] == "http" else None
        if route is not None:
            scope["app"] = self
            scope.setdefault("router", self.router)
            scope["route"] = route
            scope[_MATCHED] = scope["path"]
            if self._short is None:
                self._short = self._exact_stack()
            await self._short(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def _exact(self) -> _ExactPaths:
        first = self.router.routes[0] if self.router.routes else None
        return first if isinstance(first, _ExactPaths) else _NO_EXACT_PATHS

    def _exact_stack(self) -> ASGIApp:
        """The app's middleware (``user_middleware``, as Starlette builds its stack) around the
        route found before them; built on first use, as Starlette's own stack is, so a middleware
        added to the app before it serves is in both. A middleware that changed the path sends
        the request to the router."""

        async def route(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["path"] is not scope[_MATCHED]:
                await self.router(scope, receive, send)
                return
            await _run_route(scope, receive, send)

        app: ASGIApp = route
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app

    def stop_watching(self) -> None:
        """Stop the spec watcher (``--watch``), if there is one; the lifespan's end does it too."""
        if self.state.watcher is not None:
            self.state.watcher.stop()

    @property
    def store(self) -> Store:
        """Where the mock's state lives (memory, or Redis shared by workers)."""
        return self._engine.runtime.store

    @property
    def providers(self) -> Mapping[str, Provider]:
        return self._engine.providers

    def webhook_allowed(self, url: str) -> bool:
        """Whether the mock may deliver a webhook to ``url`` (its allow-list)."""
        allowed: bool = self._engine.runtime.webhooks.allowed(url)
        return allowed


def create_app(*, config: MockConfig | None = None, store: Store | None = None, **options: Any) -> MockApp:
    """A mock of the configured providers as an ASGI app (a :class:`MockApp`).

    ``config`` defaults to :meth:`MockConfig.load` (config file and environment); ``options``
    override single fields (``create_app(level="strict", seed=7)``). ``store`` defaults to a
    fresh :class:`MemoryStore` (or the Redis store ``config.state`` names).
    """
    config = config.replace(**options) if config is not None else MockConfig.load(overrides=options)
    store = store if store is not None else open_store(config)
    runtime = Runtime(config, store, sender=Dispatcher)
    providers: dict[str, Provider] = {pid: plugin_for(pid)(specs.load(pid), runtime) for pid in config.served}

    async def job_event(item: Due) -> list[Due]:
        return await jobs.on_due(runtime, providers[item.provider], item)

    runtime.on_due("job", job_event)
    known = {name for provider in providers.values() for name in provider.scenarios.names}
    if config.scenario not in known:
        raise UnknownScenario(config.scenario, known, where=f"providers {', '.join(providers)}")
    engine = Engine(runtime, providers)
    control = Control(engine)
    mounts = {pid: "" if config.root_provider else f"/{pid}" for pid in providers}
    fixed: list[BaseRoute] = [*files.routes(runtime), *admin.routes(engine, control, mounts)]
    routes: list[BaseRoute] = [*_provider_routes(engine, mounts), *fixed]

    deadlines = Deadlines(body_timeout=config.body_timeout)
    app = MockApp(
        engine=engine,
        control=control,
        mounts=mounts,
        routes=routes,
        exception_handlers={HTTPException: _not_found(routes), StoreUnavailable: _unavailable},
        middleware=[
            Middleware(DeadlinesMiddleware, deadlines=deadlines),  # outermost: shutdown ends everything
            Middleware(Guard, runtime=runtime),
        ],
    )
    app.state.deadlines = deadlines
    if config.watch and config.specs:  # --watch: reload changed spec files (mockserver/watch.py)
        from headshot_mock.mockserver.watch import Watcher

        app.state.watcher = Watcher(app, lambda: [*_provider_routes(engine, mounts), *fixed]).start()
    return app


def worker_app() -> Starlette:
    """The app of one ``serve --workers N`` worker process (its config comes from the parent)."""
    app = create_app(config=MockConfig.for_worker())
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with inner(app):
            yield
        images.stop_workers()  # no semaphores left to the resource tracker (its warnings on stderr)

    app.router.lifespan_context = lifespan
    from headshot_mock.mockserver.server import tune_collector  # as one-process `serve` does

    tune_collector()
    return app


def base_urls(config: MockConfig) -> dict[str, str]:
    """Each served provider's base URL on this mock, ready to paste into a client."""
    root = f"http://{config.host}:{config.port}"
    out = {}
    for pid in config.served:
        mount = "" if config.root_provider else f"/{pid}"
        out[pid] = f"{root}{mount}{specs.load(pid).base_path}"
    return out


def _provider_routes(engine: Engine, mounts: Mapping[str, str]) -> list[BaseRoute]:
    by_path: dict[str, dict[str, Bound]] = defaultdict(dict)
    for pid, provider in engine.providers.items():
        for op in provider.spec.operations:
            by_path[f"{mounts[pid]}{op.base_path}{op.path}"][op.method] = Bound.build(
                provider, op, mounts[pid]
            )
    # A literal segment wins over a template (`/pets/mine` before `/pets/{id}`), as OpenAPI says.
    ordered = sorted(by_path.items(), key=lambda item: [s.startswith("{") for s in item[0].split("/")])
    routes = [
        Route(path, _dispatch(engine, path, methods), methods=list(methods)) for path, methods in ordered
    ]
    return [_ExactPaths(routes), *routes]


class _ExactPaths(BaseRoute):
    """The provider paths without parameters, found by one dict lookup instead of Starlette's
    scan of every route's regex. Anything else (templated paths, a method a path does not
    answer) falls through to the regular routes that follow."""

    def __init__(self, routes: list[Route]) -> None:
        self._routes = {route.path: route for route in routes if "{" not in route.path}

    def route_for(self, scope: Scope) -> Route | None:
        """The route of the scope's path, if it is one of these and answers the scope's method."""
        route = self._routes.get(_route_path(scope))
        if route is not None and route.methods is not None and scope["method"] in route.methods:
            return route
        return None

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        route = self.route_for(scope) if scope["type"] == "http" else None
        if route is not None:
            return Match.FULL, {"endpoint": route.endpoint, "path_params": {}, "route": route}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Starlette's router found the route (``matches``); MockApp's short way does not come here."""
        await _run_route(scope, receive, send)


async def _run_route(scope: Scope, receive: Receive, send: Send) -> None:
    """The endpoint of ``scope["route"]``, and its answer. The endpoint (engine.handle) answers
    every failure itself and raises no HTTPException: Starlette's per-route exception wrapper
    would only add two layers of calls."""
    response = await scope["route"].endpoint(Request(scope, receive, send))
    await response(scope, receive, send)


_NO_EXACT_PATHS = _ExactPaths([])


_MATCHED = "headshot_mock.matched_path"
"""The path MockApp found the route for, before the app's middleware ran."""


def _route_path(scope: Scope) -> str:
    """The path below the app's ``root_path``, as Starlette's routes match it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :]
    return path


def _dispatch(engine: Engine, path: str, methods: Mapping[str, Bound]) -> Any:
    async def endpoint(request: Request) -> Response:
        bound = methods.get(request.method)
        if bound is None:  # HEAD/OPTIONS or a method Starlette let through
            allowed = ", ".join(sorted(methods))
            detail = f"{path} answers {allowed}, not {request.method}."
            return problem(405, "Method not allowed", detail, headers={"allow": allowed})
        return await engine.handle(request, bound)

    return endpoint


def _not_found(routes: list[BaseRoute]) -> Any:
    paths = sorted({getattr(r, "path", "") for r in routes if getattr(r, "path", "")})

    async def handler(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            return problem(405, "Method not allowed", f"{request.url.path} does not answer {request.method}.")
        close = difflib.get_close_matches(request.url.path, paths, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]}?" if close else " GET /__mock/providers lists every base URL."
        return problem(
            404, "No such route on this mock", f"Nothing serves {request.method} {request.url.path}.{hint}"
        )

    return handler


async def _unavailable(request: Request, exc: Exception) -> Response:
    return problem(503, "State store unavailable", f"{exc} The mock answers again once it is back.")


def scenario_books(provider_ids: tuple[str, ...]) -> dict[str, ScenarioBook]:
    """The scenarios of each provider, as its plug-in declares them (no server needed)."""
    return {pid: plugin_for(pid).book(specs.load(pid)) for pid in provider_ids}


def scenario_names(config: MockConfig) -> set[str]:
    return {name for book in scenario_books(config.served).values() for name in book.names}
