"""The admin API under ``/__mock/``: journal, scenario rules, jobs, clock, reset, health.

It is described by ``admin.yaml`` (served at ``/__mock/openapi.json``), so it can be tested like
a provider. Misuse is answered as ``application/problem+json`` naming what to fix.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import specs
from mockserver import jobs, journal
from mockserver.config import parse_endpoint
from mockserver.engine import Engine
from mockserver.errors import AdminError, ConfigError, UnknownScenario
from mockserver.problems import problem
from specs.errors import did_you_mean

PREFIX = "/__mock"
RULE_FIELDS = ("provider", "operation", "scenario", "times")
ENDPOINT_FIELDS = ("provider", "url", "events", "secret")
VERSION = "0.1.0"
Endpoint = Callable[[Request], Awaitable[Response]]


@functools.cache
def document() -> dict[str, Any]:
    """The admin API's own OpenAPI document."""
    with (Path(__file__).parent / "admin.yaml").open() as fh:
        doc: dict[str, Any] = yaml.safe_load(fh)
    return doc


def routes(engine: Engine, mounts: Mapping[str, str]) -> list[Route]:
    runtime = engine.runtime
    store = runtime.store

    def guarded(fn: Endpoint) -> Endpoint:
        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            try:
                return await fn(request)
            except AdminError as exc:
                return problem(exc.status, exc.title, exc.detail)

        return endpoint

    def provider_of(name: str | None) -> str | None:
        if name is not None and name not in engine.providers:
            raise AdminError(
                404, "Unknown provider", f"{name!r} is not served here.{did_you_mean(name, engine.providers)}"
            )
        return name

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
                }
                for pid, p in sorted(engine.providers.items())
            }
        )

    async def scenarios(request: Request) -> Response:
        return JSONResponse({pid: dict(p.scenarios.summaries) for pid, p in sorted(engine.providers.items())})

    async def read_journal(request: Request) -> Response:
        q = request.query_params
        filters = {
            "provider": provider_of(q.get("provider")),
            "operation": q.get("operation"),
            "scenario": q.get("scenario"),
            "status": q.get("status"),
        }
        entries = [e for e in await store.journal_entries() if journal.matches(e, filters)]
        limit = _int(q.get("limit"), "limit")
        if limit is not None:
            entries = entries[len(entries) - limit :] if limit else []
        return JSONResponse({"entries": entries, "count": len(entries)})

    async def clear_journal(request: Request) -> Response:
        await store.journal_clear()
        return Response(status_code=204)

    async def list_rules(request: Request) -> Response:
        return JSONResponse({"rules": await store.rules()})

    async def add_rule(request: Request) -> Response:
        data = await _json(request)
        unknown = sorted(set(data) - set(RULE_FIELDS))
        if unknown:
            hints = " ".join(f"{name!r}.{did_you_mean(name, RULE_FIELDS)}" for name in unknown)
            raise AdminError(400, "Unknown rule field", hints)
        pid = provider_of(_required(data, "provider"))
        assert pid is not None
        book = engine.providers[pid].scenarios
        operation = data.get("operation")
        if operation is not None:
            try:
                engine.providers[pid].spec.operation(operation)
            except specs.UnknownOperation as exc:
                raise AdminError(404, "Unknown operation", str(exc)) from None
        scenario = _required(data, "scenario")
        try:
            book.check(scenario, where=f"provider {pid!r}")
        except UnknownScenario as exc:
            raise AdminError(400, "Unknown scenario", str(exc)) from None
        times = data.get("times", 1)
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            raise AdminError(
                400, "Bad rule", f"times must be a whole number >= 1 or null (forever), got {times!r}."
            )
        rule = await store.rule_add(
            {"provider": pid, "operation": operation, "scenario": scenario, "remaining": times}
        )
        return JSONResponse(rule, status_code=201)

    async def clear_rules(request: Request) -> Response:
        await store.rules_clear()
        return Response(status_code=204)

    async def list_jobs(request: Request) -> Response:
        pid = provider_of(request.query_params.get("provider"))
        return JSONResponse({"jobs": await store.jobs(pid)})

    async def finish_job(request: Request) -> Response:
        pid = provider_of(request.path_params["provider"])
        assert pid is not None
        data = await _json(request, optional=True)
        plugin = engine.providers[pid]
        wanted = data.get("state")
        if wanted is not None and wanted not in plugin.final_states:
            hint = did_you_mean(str(wanted), plugin.final_states)
            raise AdminError(400, "Unknown final state", f"{pid} jobs end in one of them.{hint}")
        on_state = plugin.on_job_state
        current = await store.job_get(pid, request.path_params["job_id"])
        if current is not None and current["done"] and wanted not in (None, current["final"]):
            raise AdminError(409, "Job already finished", f"it already finished with {current['final']!r}.")
        if current is not None and current["final"] is None and wanted is None:
            raise AdminError(
                409,
                "No final state",
                f'this job never ends by itself; say how: {{"state": one of {list(plugin.final_states)}}}.',
            )
        job = await jobs.finish(runtime, pid, request.path_params["job_id"], on_state, wanted)
        if job is None:
            raise AdminError(
                404,
                "Unknown job",
                f"{pid} has no job {request.path_params['job_id']!r}; GET {PREFIX}/jobs lists them.",
            )
        return JSONResponse(job)

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            data = await _json(request)
            seconds = data.get("advance")
            if (
                not isinstance(seconds, int | float)
                or isinstance(seconds, bool)
                or not math.isfinite(seconds)
                or seconds < 0
            ):
                raise AdminError(
                    400, "Bad clock call", f"advance must be a number of seconds >= 0, got {seconds!r}."
                )
            await store.clock_advance(float(seconds))
        return JSONResponse(
            {
                "now": await runtime.now(),
                "offset": await store.clock_offset(),
                "time_scale": runtime.config.time_scale,
            }
        )

    async def list_endpoints(request: Request) -> Response:
        pid = provider_of(request.query_params.get("provider"))
        return JSONResponse({"endpoints": await store.endpoints(pid)})

    async def add_endpoint(request: Request) -> Response:
        data = await _json(request)
        unknown = sorted(set(data) - set(ENDPOINT_FIELDS))
        if unknown:
            hints = " ".join(f"{name!r}.{did_you_mean(name, ENDPOINT_FIELDS)}" for name in unknown)
            raise AdminError(400, "Unknown endpoint field", hints)
        name = data.get("provider", "magichour")
        if not isinstance(name, str) or not name:
            raise AdminError(400, "Bad endpoint", f"provider must be a provider id, got {name!r}.")
        pid = provider_of(name)
        assert pid is not None
        known = engine.providers[pid].webhook_events
        if not known:
            raise AdminError(
                400,
                "Nothing to register",
                f"{pid} has no registered webhook endpoints "
                "(ModelsLab posts to each request's `webhook` field).",
            )
        url, inline_secret = _parse(_required(data, "url"))
        if inline_secret:
            raise AdminError(400, "Bad endpoint", "put the secret in `secret`, not after '#' in the URL.")
        events = data.get("events")
        if events is not None:
            if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
                raise AdminError(
                    400,
                    "Bad endpoint",
                    f"events must be a non-empty list of names or null (all), got {events!r}.",
                )
            for event in events:
                if event not in known:
                    raise AdminError(400, "Unknown event", f"{event!r}.{did_you_mean(event, known)}")
        secret = data.get("secret")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise AdminError(
                400, "Bad endpoint", "secret must be a non-empty string or null (the mock's default)."
            )
        endpoint = await store.endpoint_add({"provider": pid, "url": url, "events": events, "secret": secret})
        return JSONResponse(endpoint, status_code=201)

    async def clear_endpoints(request: Request) -> Response:
        await store.endpoints_clear()
        return Response(status_code=204)

    async def list_deliveries(request: Request) -> Response:
        pid = provider_of(request.query_params.get("provider"))
        return JSONResponse({"deliveries": await store.deliveries(pid)})

    async def drain(request: Request) -> Response:
        try:
            timeout = float(request.query_params.get("timeout", "10"))
            if not (math.isfinite(timeout) and timeout >= 0):
                raise ValueError(timeout)
            await runtime.drain(timeout=timeout)
        except ValueError:
            raise AdminError(400, "Bad timeout", "timeout must be a finite number of seconds >= 0.") from None
        except TimeoutError as exc:
            raise AdminError(409, "Still running", str(exc)) from None
        return Response(status_code=204)

    async def reset(request: Request) -> Response:
        await store.reset()
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
        ("/jobs", list_jobs, ["GET"]),
        ("/jobs/{provider}/{job_id}/finish", finish_job, ["POST"]),
        ("/clock", clock, ["GET", "POST"]),
        ("/webhooks/endpoints", list_endpoints, ["GET"]),
        ("/webhooks/endpoints", add_endpoint, ["POST"]),
        ("/webhooks/endpoints", clear_endpoints, ["DELETE"]),
        ("/webhooks/deliveries", list_deliveries, ["GET"]),
        ("/idle", drain, ["POST"]),
        ("/reset", reset, ["POST"]),
        ("/openapi.json", openapi, ["GET"]),
    ]
    return _merge(table, guarded)


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
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except ValueError:
        raise AdminError(400, "Malformed JSON", "The admin API takes a JSON object body.") from None
    if not isinstance(data, dict):
        raise AdminError(400, "Malformed JSON", f"Expected a JSON object, got {type(data).__name__}.")
    return data


def _parse(url: str) -> tuple[str, str | None]:
    try:
        return parse_endpoint(url)
    except ConfigError as exc:
        raise AdminError(400, "Bad endpoint", str(exc)) from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _required(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise AdminError(400, f"Missing {name}", f"The body needs a string {name!r}.")
    return value


def _int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise AdminError(400, f"Bad {name}", f"{name} must be a whole number, got {value!r}.")
    return int(value)
