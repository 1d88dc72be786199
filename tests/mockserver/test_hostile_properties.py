"""Property tests: type-confused JSON over every operation of every provider, at both levels,
and over the admin API. Whatever the bytes, the mock answers below 500 — in the provider's own
envelope on provider routes, in problem+json on ``/__mock/`` — and its journal stays servable.

Bounded (``max_examples``) and derandomized, so CI is fast and stable; raise
``HOSTILE_EXAMPLES`` locally to fuzz harder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headshot_mock import MockSession, specs
from headshot_mock.mockserver import Level, MockConfig

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "12"))
PROBLEM = "application/problem+json"
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# --- strategies ------------------------------------------------------------------------------
LONE_SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udbff", "x" * 3 + "\ud83d"])
HUGE_INTS = st.sampled_from([10**400, -(10**400), 2**1024, 2**63, -(2**63) - 1, 10**308])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | HUGE_INTS
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | LONE_SURROGATES
    | st.sampled_from(["", "1e400", "9" * 5000, "-1", "data:image/png;base64," + "A" * 400, "http://[::1"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
RAW_TOKENS = st.sampled_from(
    [
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"1e400",
        b"1" + b"0" * 5000,
        b"[" * 100 + b"]" * 100,
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 70 + b"1" + b"}" * 70,
        b'"\\ud800"',
        b'"\\udc00\\ud800"',
        b'"\xff\xfe"',
    ]
)


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()  # lone surrogates travel as \udXXX escapes, as on the wire


def _wire(template: Any) -> st.SearchStrategy[bytes]:
    """Bodies a buggy or hostile client sends: any JSON, raw tokens Python's json would take
    (NaN, 1e400), and a valid body with one field replaced by something of another type."""
    whole = JSON.map(encode)
    raw = RAW_TOKENS
    if not isinstance(template, dict) or not template:
        return st.one_of(whole, raw)
    paths = list(_paths(template))

    @st.composite
    def substituted(draw: st.DrawFn) -> bytes:
        path = draw(st.sampled_from(paths))
        if draw(st.booleans()):
            return encode(_replaced(template, path, draw(JSON)))
        token = draw(RAW_TOKENS).decode("latin-1")
        text = encode(_replaced(template, path, "\x00TOKEN\x00")).decode("latin-1")
        return text.replace('"\\u0000TOKEN\\u0000"', token).encode("latin-1")

    return st.one_of(whole, raw, substituted(), substituted())


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value a field can be replaced (nested objects and arrays included)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield (*path, key)
        yield from _paths(item, (*path, key))


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return copy


def _template(spec: specs.ProviderSpec, op: specs.Operation) -> Any:
    """A valid body of the operation (its first request example), or None."""
    body = spec.resolve(op.definition.get("requestBody", {}))
    media = (body.get("content") or {}).get("application/json") or {}
    for example in (media.get("examples") or {}).values():
        return spec.resolve(example).get("value")
    return None


def _path(pid: str, op: specs.Operation) -> str:
    path = f"/{pid}{op.base_path}{op.path}"
    return path.replace("{id}", "1").replace("{asset_id}", "a").replace("{filename}", "f.png")


def _operations() -> Iterator[Any]:
    for pid in specs.providers():
        spec = specs.load(pid)
        for op in spec.operations:
            if "application/json" not in (
                spec.resolve(op.definition.get("requestBody", {})).get("content") or {}
            ):
                continue
            for level in ("strict", "lenient"):
                yield pytest.param(pid, op.operation_id, level, id=f"{pid}-{op.operation_id}-{level}")


@contextmanager
def _client(config: MockConfig) -> Iterator[httpx.Client]:
    """An in-process mock and a client of it (the session's own loop runs the app)."""
    with MockSession(config=config, strict=False) as mock, mock.client() as client:
        yield client


def _assert_served_back(client: httpx.Client) -> None:
    """Whatever was sent, every admin view still answers (nothing stored that cannot be served)."""
    for path in ("/__mock/journal", "/__mock/jobs", "/__mock/webhooks/deliveries", "/__mock/rules"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        json.loads(response.content)  # strict JSON: no NaN, no lone surrogate


@pytest.mark.parametrize(("provider", "operation", "level"), list(_operations()))
def test_type_confused_json_never_gets_a_5xx(provider: str, operation: str, level: Level) -> None:
    spec = specs.load(provider)
    op = spec.operation(operation)
    template = _template(spec, op)
    headers = {"content-type": "application/json", "authorization": "Bearer k", "x-mock-validation": level}
    with _client(MockConfig(level=level)) as client:

        @SETTINGS
        @given(raw=_wire(template))
        def probe(raw: bytes) -> None:
            response = client.request(op.method, _path(provider, op), content=raw, headers=headers)
            assert response.status_code < 500, (raw[:200], response.text[:500])
            if response.status_code >= 400:
                # A refusal of the body is the provider's own envelope, never the mock's problem+json.
                assert not response.headers["content-type"].startswith(PROBLEM), response.text[:500]
            assert "Traceback" not in response.text

        probe()
        _assert_served_back(client)


ADMIN_CALLS = [
    (
        "POST",
        "/__mock/rules",
        {"provider": "modelslab", "scenario": "error", "operation": "headShot", "times": 1},
    ),
    ("POST", "/__mock/clock", {"advance": 1}),
    (
        "POST",
        "/__mock/webhooks/endpoints",
        {"provider": "magichour", "url": "http://127.0.0.1:9/h", "secret": "s"},
    ),
    ("POST", "/__mock/jobs/modelslab/1/finish", {"state": "success"}),
    ("POST", "/__mock/idle", None),
    ("POST", "/__mock/reset", None),
    ("DELETE", "/__mock/journal", None),
]


@pytest.mark.parametrize(
    ("method", "path", "template"), [pytest.param(*call, id=f"{call[0]} {call[1]}") for call in ADMIN_CALLS]
)
def test_type_confused_admin_bodies_are_problems_never_a_5xx(method: str, path: str, template: Any) -> None:
    with _client(MockConfig()) as client:

        @SETTINGS
        @given(raw=_wire(template))
        def probe(raw: bytes) -> None:
            response = client.request(method, path, content=raw, headers={"content-type": "application/json"})
            assert response.status_code < 500, (raw[:200], response.text[:500])
            if response.status_code >= 400:
                assert response.headers["content-type"] == PROBLEM, response.text[:500]
                assert response.json()["detail"]

        probe()
        _assert_served_back(client)


HOSTILE_VALUES = st.text(max_size=8) | st.sampled_from(
    ["9" * 5000, "9" * 19, "1e400", "nan", "inf", "-1", "\x00", "²", "0"]
)
QUERIES = st.dictionaries(
    st.sampled_from(
        ["provider", "operation", "scenario", "status", "kind", "limit", "timeout", "after", "wait"]
    ),
    HOSTILE_VALUES,
    max_size=3,
)
ADMIN_GETS = ["/__mock/journal", "/__mock/jobs", "/__mock/webhooks/endpoints", "/__mock/journal/summaries"]


@SETTINGS
@given(path=st.sampled_from(ADMIN_GETS), query=QUERIES)
def test_hostile_admin_queries_are_problems_never_a_5xx(path: str, query: dict[str, str]) -> None:
    with _client(MockConfig()) as client:
        response = client.get(path, params=query)
        assert response.status_code < 500, response.text[:500]
        if response.status_code >= 400:
            assert response.headers["content-type"] == PROBLEM


PATH_TEMPLATES = [
    ("GET", "/__mock/journal/{}"),
    ("GET", "/__mock/webhooks/deliveries/{}/signature"),
    ("POST", "/__mock/jobs/modelslab/{}/finish"),
    ("POST", "/__mock/jobs/{}/1/finish"),
]


@SETTINGS
@given(
    route=st.sampled_from(PATH_TEMPLATES),
    segment=HOSTILE_VALUES.filter(lambda v: v and "/" not in v and v not in (".", "..")),
)
def test_hostile_admin_path_segments_are_problems_never_a_5xx(route: tuple[str, str], segment: str) -> None:
    """A path parameter of any text: 5,000 digits made Starlette's int convertor raise (a 500)."""
    method, template = route
    with _client(MockConfig()) as client:
        response = client.request(method, template.format(quote(segment, safe="")))
        assert response.status_code < 500, response.text[:500]
        assert response.headers["content-type"] == PROBLEM, response.text[:500]


PHOTOS_JSON = st.text(max_size=40) | st.sampled_from(
    ["[" * 100_000, '[{"base64": "AA=="}]' + "]" * 5, "NaN", "[1e400]", '["\\ud800"]', "9" * 5000, "{}"]
)


@SETTINGS
@given(photos=PHOTOS_JSON)
def test_any_photos_json_text_is_refused_or_answered_never_a_5xx(photos: str) -> None:
    """agent.ai's ``photos_json`` is JSON inside a string, parsed by the plug-in: 100,000 nested
    arrays made it raise RecursionError (a 500)."""
    with _client(MockConfig(providers=("agentai",))) as client:
        response = client.post(
            "/agentai/v1/action/instant_headshot_run_headshot_generation",
            json={"image_url": "https://example.com/f.jpg", "photos_json": photos},
            headers={"authorization": "Bearer k"},
        )
        assert response.status_code < 500, response.text[:500]
