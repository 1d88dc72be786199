"""``headshot-mock proxy``: put the spec between a client and a real (or any) server.

    app = create_proxy("modelslab", "http://127.0.0.1:4010/modelslab/api", max_requests=20)

Each request to an operation of the spec is validated (path, query, headers, body, the key),
forwarded to ``upstream`` (the provider's base URL), and the upstream's answer is validated
against the spec too (openapi-core, :mod:`contracts.exchange`). Both sides' findings are
journaled (keys redacted; ``/__mock/journal`` as on the mock) and listed in ``X-Mock-Violations``.

Credits are real money: at most ``max_requests`` are forwarded (then 429 problem+json, nothing
sent); an upstream off loopback is refused unless ``allow_remote``; ``errors=True`` answers a
request the level rejects with the provider's own error answer instead of forwarding it.
``record`` saves each exchange (redacted) as a named example a spec can adopt (:mod:`drift`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from headshot_mock import specs
from headshot_mock.contracts.exchange import check_response
from headshot_mock.contracts.verify import check_target
from headshot_mock.contracts.verify_settings import PROXY_MAX_REQUESTS
from headshot_mock.mockserver import admin, journal
from headshot_mock.mockserver.config import LEVELS, Level, MockConfig
from headshot_mock.mockserver.control import Control
from headshot_mock.mockserver.deadlines import Deadlines, DeadlinesMiddleware
from headshot_mock.mockserver.engine import MAX_BODY, Bound, Engine
from headshot_mock.mockserver.problems import problem
from headshot_mock.mockserver.providers import plugin_for
from headshot_mock.mockserver.providers.base import Call, Provider
from headshot_mock.mockserver.runtime import Runtime, iso
from headshot_mock.mockserver.store import MemoryStore
from headshot_mock.mockserver.validation import Finding, is_malformed

__all__ = ["DEFAULT_MAX_REQUESTS", "ProxyStats", "create_proxy"]

DEFAULT_MAX_REQUESTS = PROXY_MAX_REQUESTS
"""Requests forwarded before the proxy refuses (a real provider bills each one)."""
_HOP = frozenset(
    {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "accept-encoding", "upgrade"}
)
_DROP_BACK = frozenset(
    {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive", "date", "server"}
)


@dataclass
class ProxyStats:
    """What the proxy did, for the summary printed on exit."""

    upstream: str
    max_requests: int
    forwarded: int = 0
    refused: int = 0
    over_budget: int = 0
    request_violations: dict[str, int] = field(default_factory=dict)
    response_violations: dict[str, int] = field(default_factory=dict)
    recorded: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self) -> bool:
        """One request out of the budget; False when it is spent."""
        with self._lock:
            if self.forwarded >= self.max_requests:
                self.over_budget += 1
                return False
            self.forwarded += 1
            return True

    def summary(self) -> str:
        lines = [
            f"proxy to {self.upstream}: {self.forwarded} of {self.max_requests} requests forwarded, "
            f"{self.refused} refused without forwarding, {self.over_budget} over the budget"
        ]
        for side, counts in (("request", self.request_violations), ("response", self.response_violations)):
            for op, n in sorted(counts.items()):
                lines.append(f"  {op}: {n} {side}(s) broke the spec")
        if not self.request_violations and not self.response_violations:
            lines.append("  no violations of the spec on either side")
        if self.recorded:
            lines.append(f"  {self.recorded} exchange(s) recorded")
        return "\n".join(lines)


def create_proxy(
    provider: str,
    upstream: str,
    *,
    config: MockConfig | None = None,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    allow_remote: bool = False,
    errors: bool = False,
    record: str | Path | None = None,
) -> Starlette:
    """An ASGI app serving ``provider``'s operations at their real paths, forwarding to ``upstream``.

    ``provider`` is a bundled id or one loaded with :func:`specs.load_file`. ``app.state.stats``
    holds a :class:`ProxyStats`. Raises ``VerifyError`` for a bad or remote upstream.
    """
    spec = specs.load(provider)
    target = check_target(upstream, allow_remote=allow_remote)
    if max_requests < 0:
        raise ValueError(f"max_requests must be >= 0, got {max_requests}")
    config = config or MockConfig(providers=() if spec.id not in specs.providers() else (spec.id,))
    store = MemoryStore(journal_limit=config.journal_limit)
    runtime = Runtime(config, store)
    plugin = plugin_for(spec.id)(spec, runtime)
    engine = Engine(runtime, {spec.id: plugin})
    stats = ProxyStats(target, max_requests)
    folder = Path(record) if record is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    forward = _Forwarder(engine, plugin, target, stats, errors, folder)
    routes: list[BaseRoute] = []
    for op in spec.operations:
        bound = Bound.build(plugin, op, "")
        routes.append(Route(f"{op.base_path}{op.path}", forward.endpoint(bound), methods=[op.method]))
    routes += admin.routes(engine, Control(engine), {spec.id: ""}, forwarding=True)

    deadlines = Deadlines(body_timeout=config.body_timeout)  # served as `serve` is: SIGTERM ends all
    app = Starlette(routes=routes, middleware=[Middleware(DeadlinesMiddleware, deadlines=deadlines)])
    app.state.deadlines = deadlines
    app.state.stats = stats
    app.state.engine = engine
    app.state.runtime = runtime
    return app


class _Forwarder:
    def __init__(
        self,
        engine: Engine,
        plugin: Provider,
        upstream: str,
        stats: ProxyStats,
        errors: bool,
        record: Path | None,
    ) -> None:
        self.engine, self.plugin, self.upstream, self.stats = engine, plugin, upstream, stats
        self.errors, self.record = errors, record

    def endpoint(self, bound: Bound) -> Any:
        async def handle(request: Request) -> Response:
            return await self.handle(request, bound)

        return handle

    async def handle(self, request: Request, bound: Bound) -> Response:
        started = time.perf_counter()
        op, spec = bound.op, bound.provider.spec
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return problem(413, "Request too large", f"The proxy forwards bodies up to {MAX_BODY} bytes.")
        headers = request.headers
        body, findings = bound.validator.parse_body(raw, headers.get("content-type", ""))
        findings += bound.validator.check_parameters(request.path_params, request.query_params, headers)
        if not is_malformed(body):
            findings += bound.validator.check_body(body)
        credential = bound.credential(headers, body, request.query_params)
        if bound.credential_required and credential is None:
            findings.append(Finding("security", spec.credential.name, "no API key was sent", "lenient"))
        asked = headers.get("x-mock-validation", "").strip().lower()
        level: Level = self.engine.runtime.config.level
        for known in LEVELS:
            if asked == known:
                level = known
        rejected = [f for f in findings if f.rejected_at(level)]
        if findings:
            self.stats.request_violations[op.operation_id] = (
                self.stats.request_violations.get(op.operation_id, 0) + 1
            )
        path = request.url.path
        rest = path[len(op.base_path) :]
        query = request.url.query
        url = f"{self.upstream}{rest}" + (f"?{query}" if query else "")
        answer: httpx.Response | None = None
        outcome = "forwarded"
        if self.errors and rejected:
            outcome = "refused"
            self.stats.refused += 1
            reply = self.plugin.reject(self._call(request, bound, body, credential), rejected)
            status, content = reply.status, _encode(reply.body, reply.media_type)
            back = {**reply.headers, **({"content-type": reply.media_type} if reply.media_type else {})}
        elif not self.stats.take():
            detail = f"The proxy forwarded its budget of {self.stats.max_requests} requests (--max-requests)."
            return problem(429, "Request budget spent", detail)
        else:
            await self.engine.latency.wait(spec.id, op.operation_id)  # PUT /__mock/latency: a slower upstream
            sent = {k: v for k, v in headers.items() if k.lower() not in _HOP}
            try:  # one client per call: the budget is small, and nothing outlives the request
                async with httpx.AsyncClient(timeout=60.0, follow_redirects=False) as client:
                    answer = await client.request(request.method, url, headers=sent, content=raw)
            except httpx.HTTPError as exc:
                return problem(502, "Upstream did not answer", f"{url}: {type(exc).__name__}: {exc}")
            status, content = answer.status_code, answer.content
            back = {k: v for k, v in answer.headers.items() if k.lower() not in _DROP_BACK}
        response_findings = (
            self._check_response(request, raw, status, back, content) if answer is not None else []
        )
        if response_findings:
            self.stats.response_violations[op.operation_id] = (
                self.stats.response_violations.get(op.operation_id, 0) + 1
            )
        secret_fields = (spec.credential.name,) if spec.credential.location == "body" else ()
        seq = await self.engine.runtime.store.journal_append(
            {
                "time": iso(await self.engine.runtime.now()),
                "provider": spec.id,
                "operation": op.operation_id,
                "method": request.method,
                "path": path,
                "query": journal.redact_query(query, bound.secret_query),
                "upstream": self.upstream,
                "outcome": outcome,
                "level": level,
                "status": status,
                "scenario": None,
                "findings": [f.as_dict() for f in findings],
                "response_findings": response_findings,
                "rejected": outcome == "refused",
                "request": {
                    "headers": journal.redact_headers(headers, bound.secret_headers),
                    "body": None if is_malformed(body) else journal.summarise_body(body, raw, secret_fields),
                },
                "response": {
                    "headers": journal.redact_headers(back),
                    "body": journal.summarise_body(_decode(content, back), content, secret_fields),
                },
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )
        if self.record is not None and answer is not None:
            self._save(seq, bound, request, body, raw, status, back, content, secret_fields)
        notes = [str(f) for f in findings] + [f"response: {m}" for m in response_findings]
        out = {**back, "x-mock-request-id": str(seq), "x-mock-proxy": outcome}
        if notes:
            out["x-mock-violations"] = _ascii(" | ".join(notes))
        return Response(content, status_code=status, headers=out)

    def _call(self, request: Request, bound: Bound, body: Any, credential: str | None) -> Call:
        examples = self.plugin.scenarios.examples(bound.op.operation_id)
        return Call(
            provider=self.plugin.id,
            operation_id=bound.op.operation_id,
            method=bound.op.method,
            body=body,
            path_params=request.path_params,
            query=request.query_params,
            headers=request.headers,
            credential=credential,
            scenario="invalid_request",
            example=examples.get("invalid_request"),
            examples=examples,
            base_url=f"{request.url.scheme}://{request.url.netloc}",
            mount="",
        )

    def _check_response(
        self, request: Request, raw: bytes, status: int, headers: Mapping[str, str], content: bytes
    ) -> list[str]:
        """The upstream answer against the spec (openapi-core), addressed as the proxy saw it."""
        sent = httpx.Request(request.method, str(request.url), headers=request.headers.raw, content=raw)
        got = httpx.Response(status, headers=dict(headers), content=content, request=sent)
        try:
            return check_response(self.plugin.id, got)
        except Exception as exc:  # openapi-core cannot read the exchange at all: say so, not 500
            return [f"could not be checked: {type(exc).__name__}: {exc}"]

    def _save(
        self,
        seq: int,
        bound: Bound,
        request: Request,
        body: Any,
        raw: bytes,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        secret_fields: tuple[str, ...],
    ) -> None:
        assert self.record is not None
        name = f"recorded_{status}_{seq}"
        media = headers.get("content-type", "").split(";", 1)[0].strip() or None
        value = journal.redact(_decode(content, headers), secret_fields)
        document = {
            "provider": self.plugin.id,
            "operation": bound.op.operation_id,
            "method": bound.op.method,
            "path": request.url.path,
            "status": status,
            "media_type": media,
            "request": {
                "headers": journal.redact_headers(request.headers, bound.secret_headers),
                "body": None if is_malformed(body) else journal.summarise_body(body, raw, secret_fields),
            },
            "response_headers": journal.redact_headers(headers),
            "example": {
                "name": name,
                "summary": f"recorded from {self.upstream} ({bound.op.method} {request.url.path} → {status})",
                "value": value,
            },
        }
        path = self.record / f"{seq:04d}-{bound.op.operation_id}-{status}.json"
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        self.stats.recorded += 1


def _decode(content: bytes, headers: Mapping[str, str]) -> Any:
    kind = headers.get("content-type", "")
    if "json" in kind:
        try:
            return json.loads(content)
        except ValueError:
            return content.decode("utf-8", "replace")
    if kind.startswith("text/") or not content:
        return content.decode("utf-8", "replace") if content else None
    return content


def _encode(body: Any, media_type: str | None) -> bytes:
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if body is None:
        return b""
    if isinstance(body, str) and not (media_type or "").endswith("json"):
        return body.encode()
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _ascii(text: str, limit: int = 2000) -> str:
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
