"""The admin API under ``/__mock/``: the HTTP face of :class:`~mockserver.control.Control`.

It is described by ``admin.yaml`` (served at ``/__mock/openapi.json``), so it can be tested like
a provider. Misuse is answered as ``application/problem+json`` naming what to fix.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from headshot_mock import specs
from headshot_mock.mockserver import page
from headshot_mock.mockserver.control import Control, only
from headshot_mock.mockserver.engine import Engine
from headshot_mock.mockserver.errors import AdminError
from headshot_mock.mockserver.journal import REDACTED, redact_url
from headshot_mock.mockserver.problems import problem
from headshot_mock.mockserver.validation import cut, parse_json

PREFIX = "/__mock"
RULE_FIELDS = ("provider", "operation", "scenario", "times")
ENDPOINT_FIELDS = ("provider", "url", "events", "secret")
VERSION = "0.1.0"
Endpoint = Callable[[Request], Awaitable[Response]]


@functools.cache
def document() -> dict[str, Any]:
    """The admin API's own OpenAPI document."""
    import yaml  # on the first request for it, not at every start

    with (Path(__file__).parent / "admin.yaml").open() as fh:
        doc: dict[str, Any] = yaml.safe_load(fh)
    return doc


FORWARDED = {
    ("/rules", "POST"): "a rule chooses the scenario of a mocked answer",
    ("/defaults", "POST"): "a default scenario chooses mocked answers",
    ("/jobs/{provider}/{job_id}/finish", "POST"): "the upstream runs its own jobs",
    ("/clock", "POST"): "the mock clock drives mocked jobs and held scenarios",
    ("/webhooks/endpoints", "POST"): "the upstream sends its own webhooks",
}
"""What a proxy (``headshot-mock proxy``) refuses with 409, and why: it forwards every call to its
upstream, so nothing these writes set would ever apply. Reads answer (empty), and latency
applies (it delays the forwarding)."""


def routes(
    engine: Engine, control: Control, mounts: Mapping[str, str], *, forwarding: bool = False
) -> list[Route]:
    """The admin API. ``forwarding``: for a proxy, whose writes in :data:`FORWARDED` answer 409."""

    def guarded(fn: Endpoint) -> Endpoint:
        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            try:
                return await fn(request)
            except AdminError as exc:
                return problem(exc.status, exc.title, exc.detail)

        return endpoint

    def query(request: Request, name: str) -> str | None:
        return request.query_params.get(name)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": VERSION, "providers": sorted(engine.providers)})

    async def providers(request: Request) -> Response:
        base = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
        return JSONResponse(
            {
                pid: {
                    "title": p.spec.title,
                    "base_url": f"{base}{mounts[pid]}{p.spec.base_path}",
                    "real_base_url": p.spec.server_url,
                    "operations": [op.operation_id for op in p.spec.operations],
                    "docs": _docs(p.spec),
                    "final_states": list(p.final_states),
                    "webhook_events": list(p.webhook_events),
                }
                for pid, p in sorted(engine.providers.items())
            }
        )

    async def scenarios(request: Request) -> Response:
        return JSONResponse(control.scenarios())

    async def read_journal(request: Request) -> Response:
        entries = await control.journal(
            provider=query(request, "provider"),
            operation=query(request, "operation"),
            scenario=query(request, "scenario"),
            status=query(request, "status"),
            kind=query(request, "kind"),
            limit=_int(query(request, "limit"), "limit"),
        )
        return JSONResponse({"entries": entries, "count": len(entries)})

    async def clear_journal(request: Request) -> Response:
        await control.clear_journal()
        return Response(status_code=204)

    async def list_rules(request: Request) -> Response:
        return JSONResponse({"rules": await control.rules()})

    async def add_rule(request: Request) -> Response:
        data = await _json(request)
        only(data, RULE_FIELDS, "rule")
        rule = await control.add_rule(
            _required(data, "provider"),
            _required(data, "scenario"),
            operation=data.get("operation"),
            times=data.get("times", 1),
        )
        return JSONResponse(rule, status_code=201)

    async def clear_rules(request: Request) -> Response:
        await control.clear_rules()
        return Response(status_code=204)

    async def list_defaults(request: Request) -> Response:
        return JSONResponse({"defaults": await control.defaults()})

    async def set_default(request: Request) -> Response:
        data = await _json(request)
        only(data, ("provider", "scenario"), "default")
        if "scenario" not in data:
            raise AdminError(
                400, "Missing scenario", "The body needs 'scenario': a name, or null for the server's."
            )
        scenario = data["scenario"]
        if scenario is not None and not isinstance(scenario, str):
            raise AdminError(400, "Bad default", f"scenario must be a name or null, got {scenario!r}.")
        return JSONResponse(await control.set_default(_required(data, "provider"), scenario))

    async def latency(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(await control.latency())
        if request.method == "DELETE":
            await control.clear_latency()
            return Response(status_code=204)
        data = await _json(request)
        only(data, ("latency",), "latency")
        if "latency" not in data:
            raise AdminError(
                400, "Missing latency", "The body needs 'latency': a list of entries ([] for none)."
            )
        return JSONResponse(await control.set_latency(data["latency"]))

    async def list_jobs(request: Request) -> Response:
        return JSONResponse({"jobs": await control.jobs(query(request, "provider"))})

    async def finish_job(request: Request) -> Response:
        data = await _json(request, optional=True)
        params = request.path_params
        return JSONResponse(await control.finish(params["provider"], params["job_id"], data.get("state")))

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            seconds: Any = (await _json(request)).get("advance")  # Control checks the type
            return JSONResponse(await control.advance(seconds))
        return JSONResponse(await control.clock())

    def shown(endpoint: Mapping[str, Any]) -> dict[str, Any]:
        """Secrets stay out of admin answers (a receiver knows its own) unless --show-secrets."""
        if engine.runtime.config.show_secrets:
            return dict(endpoint)
        url = redact_url(endpoint["url"]) if isinstance(endpoint.get("url"), str) else endpoint.get("url")
        return {**endpoint, "url": url, "secret": None if endpoint.get("secret") is None else REDACTED}

    async def list_endpoints(request: Request) -> Response:
        found = await control.endpoints(query(request, "provider"))
        return JSONResponse({"endpoints": [shown(e) for e in found]})

    async def add_endpoint(request: Request) -> Response:
        data = await _json(request)
        only(data, ENDPOINT_FIELDS, "endpoint")
        endpoint = await control.add_endpoint(
            data.get("url", ""),
            provider=data.get("provider"),
            events=data.get("events"),
            secret=data.get("secret"),
        )
        return JSONResponse(shown(endpoint), status_code=201)

    async def clear_endpoints(request: Request) -> Response:
        await control.clear_endpoints()
        return Response(status_code=204)

    async def list_deliveries(request: Request) -> Response:
        found = await control.deliveries(query(request, "provider"))
        if not engine.runtime.config.show_secrets:  # a URL's key or token stays out, as in the journal
            found = [
                {**d, "url": redact_url(d["url"])} if isinstance(d.get("url"), str) else d for d in found
            ]
        return JSONResponse({"deliveries": found})

    async def idle(request: Request) -> Response:
        raw = query(request, "timeout")
        raw = "10" if raw is None else raw
        try:
            timeout = float(raw)
        except ValueError:  # float() takes any length: "1e400" is inf, refused by Control
            raise AdminError(400, "Bad timeout", "timeout must be a finite number of seconds >= 0.") from None
        await control.idle(timeout)
        return Response(status_code=204)

    async def reset(request: Request) -> Response:
        await control.reset()
        return Response(status_code=204)

    async def openapi(request: Request) -> Response:
        return Response(json.dumps(document()), media_type="application/json")

    table: list[tuple[str, Endpoint, list[str]]] = [
        ("/health", health, ["GET"]),
        ("/providers", providers, ["GET"]),
        ("/scenarios", scenarios, ["GET"]),
        ("/journal", read_journal, ["GET"]),
        ("/journal", clear_journal, ["DELETE"]),
        ("/rules", list_rules, ["GET"]),
        ("/rules", add_rule, ["POST"]),
        ("/rules", clear_rules, ["DELETE"]),
        ("/defaults", list_defaults, ["GET"]),
        ("/defaults", set_default, ["POST"]),
        ("/latency", latency, ["GET", "PUT", "DELETE"]),
        ("/jobs", list_jobs, ["GET"]),
        ("/jobs/{provider}/{job_id}/finish", finish_job, ["POST"]),
        ("/clock", clock, ["GET", "POST"]),
        ("/webhooks/endpoints", list_endpoints, ["GET"]),
        ("/webhooks/endpoints", add_endpoint, ["POST"]),
        ("/webhooks/endpoints", clear_endpoints, ["DELETE"]),
        ("/webhooks/deliveries", list_deliveries, ["GET"]),
        ("/idle", idle, ["POST"]),
        ("/reset", reset, ["POST"]),
        ("/openapi.json", openapi, ["GET"]),
        *page.table(engine, control, document),
    ]
    if forwarding:  # a proxy: the writes it could never apply say so instead
        table = [
            (
                path,
                _refused(path, method, FORWARDED[path, method]) if (path, method) in FORWARDED else fn,
                [method],
            )
            for path, fn, methods in table
            for method in methods
        ]
    return _merge(table, guarded)


def _refused(path: str, method: str, why: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        detail = (
            f"{method} {PREFIX}{path} does nothing on a proxy: it forwards every call to its upstream "
            f"and {why}. Use `headshot-mock serve` to mock answers; the proxy's journal, health, "
            "latency and page work as on the mock."
        )
        return problem(409, "Not on a proxy", detail)

    return endpoint


def _docs(spec: specs.ProviderSpec) -> dict[str, list[str]]:
    """Each operation's documentation: the URLs its ``x-source`` names (spec provenance)."""
    sources = spec.document.get("x-provider", {}).get("sources", {})
    out = {}
    for op in spec.operations:
        keys = op.definition.get("x-source", [])
        keys = [keys] if isinstance(keys, str) else keys
        out[op.operation_id] = [sources[key] for key in keys if key in sources]
    return out


def _merge(table: list[tuple[str, Endpoint, list[str]]], wrap: Callable[[Endpoint], Endpoint]) -> list[Route]:
    """One route per path, dispatching on the method (Starlette matches the first route by path)."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for path, fn, methods in table:
        for method in methods:
            by_path.setdefault(path, {})[method] = wrap(fn)

    def endpoint_for(path: str, handlers: dict[str, Endpoint]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            fn = handlers.get(request.method)
            if fn is None:
                allowed = ", ".join(sorted(handlers))
                detail = f"{PREFIX}{path} answers {allowed}, not {request.method}."
                return problem(405, "Method not allowed", detail, headers={"allow": allowed})
            return await fn(request)

        return endpoint

    return [
        Route(
            PREFIX + path,
            endpoint_for(path, h),
            methods=sorted({*h, "PUT", "PATCH", "DELETE", "POST", "GET"}),
        )
        for path, h in by_path.items()
    ]


async def _json(request: Request, *, optional: bool = False) -> dict[str, Any]:
    raw = await request.body()
    if not raw and optional:
        return {}
    data, finding = parse_json(raw)  # the providers' parser: no NaN, 1e400, deep nesting, lone surrogates
    if finding is not None:
        raise AdminError(400, "Malformed JSON", f"The admin API takes a JSON object body: {finding.message}.")
    if not isinstance(data, dict):
        kind = _JSON_TYPES.get(type(data), type(data).__name__)
        raise AdminError(
            400, "Malformed JSON", f"Expected a JSON object, got {kind} ({type(data).__name__})."
        )
    return data


_JSON_TYPES = {type(None): "null", list: "an array", str: "a string", int: "a number", float: "a number"}
_JSON_TYPES[bool] = "a boolean"


def _required(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise AdminError(400, f"Missing {name}", f"The body needs a string {name!r}.")
    return value


def _int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise AdminError(
            400, f"Bad {name}", f"{name} must be a whole number below 10**18, got {cut(value)!r}."
        )
    return int(value)
