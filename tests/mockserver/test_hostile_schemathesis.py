"""schemathesis in negative mode — requests each spec says are wrong — against the mock in-process,
over every provider spec and the admin API's own ``admin.yaml``, at both validation levels.

The mock must refuse them as the provider (or, on ``/__mock/``, as problem+json) would: never a
5xx of its own. Bounded by ``max_examples`` and derandomized for CI.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from headshot_mock import specs
from headshot_mock.mockserver import MockConfig, create_app

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "12"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _provider_schema(pid: str) -> Any:
    """The provider's spec with its servers pointed at where this mock serves it."""
    spec = specs.load(pid)
    document = copy.deepcopy(dict(spec.document))
    document["servers"] = [{"url": f"/{pid}{spec.base_path}"}]
    for op in spec.operations:
        item = document["paths"][op.path]
        for holder in (item, item[op.method.lower()]):
            if "servers" in holder:
                holder["servers"] = [{"url": f"/{pid}{op.base_path}"}]
    config: dict[str, Any] = {}
    if spec.credential.location == "header":
        config["auth"] = {"openapi": {spec.credential.name: {"bearer": "k"}}}
    return schemathesis.openapi.from_dict(document, config=schemathesis.Config.from_dict(config))


def _run(schema: Any, app: Any, *, admin: bool) -> dict[int, int]:
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        op = result.ok()

        @SETTINGS
        @given(case=op.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        def probe(case: Any) -> None:
            response = case.call(app=app)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            where = f"{case.method} {case.formatted_path} body={str(case.body)[:200]} query={case.query}"
            assert response.status_code < 500, f"{where} -> {response.status_code} {response.text[:300]}"
            if admin and response.status_code >= 400:
                assert response.headers["content-type"][0].startswith("application/problem+json"), where

        try:
            probe()
        except Unsatisfiable:  # nothing in this operation can be made invalid (GET /health)
            continue
    return statuses


def _levels() -> Iterator[Any]:
    for pid in specs.providers():
        for level in ("strict", "lenient"):
            yield pytest.param(pid, level, id=f"{pid}-{level}")


@pytest.mark.parametrize(("provider", "level"), list(_levels()))
def test_negative_requests_over_every_provider_spec_never_get_a_5xx(provider: str, level: str) -> None:
    app = create_app(config=MockConfig(level=level))
    statuses = _run(_provider_schema(provider), app, admin=False)
    assert any(400 <= status < 500 for status in statuses), statuses  # the requests were refused


def test_negative_requests_over_the_admin_api_never_get_a_5xx() -> None:
    app = create_app(config=MockConfig())
    statuses = _run(schemathesis.openapi.from_asgi("/__mock/openapi.json", app), app, admin=True)
    assert any(400 <= status < 500 for status in statuses), statuses
