"""Checking one HTTP exchange against a provider's spec with openapi-core, the reference semantics.

The mock (and any server under test) serves a provider under some prefix; openapi-core knows
the provider by its real server URL. :func:`locate` maps a mock URL back onto the spec, and
:func:`check_response` / :func:`check_request` report every difference openapi-core finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from werkzeug.datastructures import Headers, ImmutableMultiDict

from headshot_mock import specs


@dataclass(frozen=True, slots=True)
class Located:
    spec: specs.ProviderSpec
    operation: specs.Operation
    real_url: str
    """The URL the real provider would have been called at."""


def _patterns(provider: str) -> tuple[tuple[re.Pattern[str], specs.Operation], ...]:
    return _compiled(provider, id(specs.load(provider)))  # a reloaded user spec is a new object


@cache
def _compiled(provider: str, version: int) -> tuple[tuple[re.Pattern[str], specs.Operation], ...]:
    out = []
    for op in specs.load(provider).operations:
        template = re.escape(op.base_path + op.path)
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", template)
        out.append((re.compile(f"^{regex}$"), op))
    return tuple(out)


def locate(provider: str, method: str, path: str, *, mount: str = "") -> Located | None:
    """The operation a mock path serves (``mount`` is the prefix the provider is served under)."""
    if mount and not path.startswith(mount):
        return None
    rest = path[len(mount) :]
    for pattern, op in _patterns(provider):
        if op.method == method.upper() and pattern.match(rest):
            real = urlsplit(op.server_url)
            return Located(specs.load(provider), op, f"{real.scheme}://{real.netloc}{rest}")
    return None


class _Request:
    """An httpx request, as openapi-core sees one, re-addressed to the real provider."""

    def __init__(self, request: httpx.Request, real_url: str) -> None:
        url = urlsplit(real_url)
        self.host_url = f"{url.scheme}://{url.netloc}"
        self.path = url.path
        self.method = request.method.lower()
        self.body: bytes | None = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = _parameters(request)


def _parameters(request: httpx.Request) -> Any:
    from openapi_core.datatypes import RequestParameters

    return RequestParameters(
        query=ImmutableMultiDict(parse_qs(request.url.query.decode(), keep_blank_values=True)),
        header=Headers(dict(request.headers)),
        cookie=ImmutableMultiDict(),
    )


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data: bytes | None = response.content
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(dict(response.headers))


def check_request(provider: str, request: httpx.Request, *, mount: str = "") -> list[str]:
    """openapi-core's objections to ``request`` (strict level: the documented contract)."""
    located = locate(provider, request.method, request.url.path, mount=mount)
    if located is None:
        return [f"no operation of {provider} serves {request.method} {request.url.path}"]
    result = located.spec.openapi.unmarshal_request(_Request(request, located.real_url))
    return [_describe(e) for e in result.errors]


def check_response(provider: str, response: httpx.Response, *, mount: str = "") -> list[str]:
    """openapi-core's objections to ``response`` (status, headers, body) for its request."""
    request = response.request
    located = locate(provider, request.method, request.url.path, mount=mount)
    if located is None:
        return [f"no operation of {provider} serves {request.method} {request.url.path}"]
    result = located.spec.openapi.unmarshal_response(_Request(request, located.real_url), _Response(response))
    return [_describe(e) for e in result.errors]


def _describe(error: Exception) -> str:
    """openapi-core keeps the useful part in ``__cause__`` / ``schema_errors``."""
    parts = [str(error)]
    cause = error.__cause__
    while cause is not None:
        parts.append(str(cause))
        for schema_error in getattr(cause, "schema_errors", ()):
            path = "/".join(map(str, schema_error.path))
            parts.append(f"{path}: {schema_error.message}")
        cause = cause.__cause__
    return " — ".join(parts)
