"""Every string field of every request example, replaced by each hostile string: the mock answers
below 500. The hostile corpus and properties send hostile JSON; this sends well-formed JSON whose
strings a plug-in reads further (numbers in strings, URLs, data URIs, JSON inside a string) — how
an idphoto.ai `seed` of 5,000 digits and an agent.ai `photos_json` of 100,000 nested arrays each
answered 500."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from headshot_mock import specs
from headshot_mock.mockserver import MockConfig, create_app

HOSTILE = [
    "9" * 5000,
    "99999999999999999999",
    "-1",
    "0",
    "1e400",
    "NaN",
    "",
    " ",
    "\u0000",
    "[" * 100_000,
    "x" * 200_000,
    "http://[::1",
    "https://" + "a" * 3000 + ".com/",
    "data:image/png;base64,!!",
    "api-assets/x/y.png",
    "api-assets/" + "../" * 50,
    "%00",
    "{{id}}",
]
CREDENTIALS = {"authorization": "Bearer k", "x-api-key": "k"}


def _string_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _string_paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _string_paths(value, (*path, i))
    elif path:
        yield path


def _with(body: Any, path: tuple[Any, ...], value: str) -> Any:
    changed = copy.deepcopy(body)
    node = changed
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return changed


def _cases(provider: str) -> Iterator[tuple[str, str, Any]]:
    """(method, path, body) of each JSON operation's request examples, the first two of each."""
    spec = specs.load(provider)
    for op in spec.operations:
        if "requestBody" not in op.definition:
            continue
        media = spec.resolve(op.definition["requestBody"]).get("content", {}).get("application/json")
        if not media:
            continue
        examples = [spec.resolve(e).get("value") for e in (media.get("examples") or {}).values()]
        path = f"/{provider}{op.base_path}{op.path}".replace("{", "").replace("}", "")
        for body in [e for e in examples if isinstance(e, dict)][:2]:
            yield op.method, path, body


@pytest.mark.parametrize("provider", specs.providers())
async def test_hostile_strings_in_every_field_never_get_a_5xx(provider: str) -> None:
    app = create_app(config=MockConfig(time_scale=0))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    sent = 0
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://m") as c,
    ):
        for method, path, body in _cases(provider):
            for field in _string_paths(body):
                for value in HOSTILE:
                    answer = await c.request(
                        method, path, json=_with(body, field, value), headers=CREDENTIALS
                    )
                    sent += 1
                    assert answer.status_code < 500, (path, field, value[:40], answer.text[:300])
    assert sent > 50, "the examples have string fields to replace"
