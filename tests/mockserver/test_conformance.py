"""Every answer the mock gives, for every provider, operation and scenario, validates against
the provider's spec with openapi-core (the reference semantics), and so do its rejections."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from headshot_mock import specs
from headshot_mock.contracts.exchange import check_response
from headshot_mock.mockserver import MockConfig, create_app
from headshot_mock.mockserver.app import scenario_books
from headshot_mock.mockserver.scenarios import BEHAVIOURS, FAULTS

BOOKS = scenario_books(specs.providers())
KEY = "test-key"


def _cases() -> Iterator[Any]:
    for provider, book in BOOKS.items():
        spec = specs.load(provider)
        for op in spec.operations:
            # Faults break the answer on purpose (test_faults.py); what they break is the success one.
            names = {*book.examples(op.operation_id), *BEHAVIOURS, *book.summaries} - set(FAULTS)
            for scenario in sorted(names):
                yield pytest.param(
                    provider, op.operation_id, scenario, id=f"{provider}-{op.operation_id}-{scenario}"
                )


def _request_body(spec: specs.ProviderSpec, op: specs.Operation) -> Any:
    body = spec.resolve(op.definition.get("requestBody", {}))
    media = (body.get("content") or {}).get("application/json")
    if media is None:
        return None
    examples = media.get("examples") or media.get("x-accepted-examples") or {}
    return spec.resolve(next(iter(examples.values())))["value"]


def _headers(spec: specs.ProviderSpec, scenario: str | None) -> dict[str, str]:
    headers = {"authorization": f"Bearer {KEY}"} if spec.credential.location == "header" else {}
    if scenario is not None:
        headers["x-mock-scenario"] = scenario
    return headers


async def _call(
    client: httpx.AsyncClient,
    provider: str,
    op: specs.Operation,
    scenario: str | None,
    path_params: dict[str, str],
) -> httpx.Response:
    spec = specs.load(provider)
    path = op.path
    for name, value in path_params.items():
        if isinstance(value, str):
            path = path.replace(f"{{{name}}}", value)
    url = f"/{provider}{op.base_path}{path}"
    body = _request_body(spec, op)
    if op.operation_id == "uploadAsset":
        return await client.put(
            url,
            params=path_params.get("_query"),
            content=b"\xff\xd8 a jpeg",
            headers=_headers(spec, scenario),
        )
    return await client.request(op.method, url, json=body, headers=_headers(spec, scenario))


async def _path_params(
    client: httpx.AsyncClient, provider: str, op: specs.Operation, scenario: str
) -> dict[str, str]:
    """Ids the operation needs, made by the operation that links to it (or an upload URL)."""
    spec = specs.load(provider)
    if op.operation_id == "uploadAsset":
        made = await _call(client, provider, spec.operation("createUploadUrls"), None, {})
        url = httpx.URL(made.json()["items"][0]["upload_url"])
        _, _, asset_id, filename = url.path.rsplit("/", 3)
        return {"asset_id": asset_id, "filename": filename, "_query": dict(url.params)}  # type: ignore[dict-item]
    for source in spec.operations:
        if op.operation_id in source.links.values():
            # The job is made under the same scenario where that makes a job, else by default.
            for chosen in (scenario, None):
                made = await _call(client, provider, source, chosen, {})
                assert check_response(provider, made, mount=f"/{provider}") == []
                if made.status_code == 200 and "id" in made.json():
                    return {"id": str(made.json()["id"])}
    return {}


@pytest.fixture
async def quick_client() -> Any:
    app = create_app(config=MockConfig(slow_seconds=0, timeout_seconds=0))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:4010"
    ) as c:
        yield c


@pytest.mark.parametrize(("provider", "operation", "scenario"), list(_cases()))
async def test_every_answer_validates_against_the_spec(
    quick_client: httpx.AsyncClient, provider: str, operation: str, scenario: str
) -> None:
    op = specs.load(provider).operation(operation)
    params = await _path_params(quick_client, provider, op, scenario)
    response = await _call(quick_client, provider, op, scenario, params)
    assert response.status_code < 500 or scenario == "server_error", response.text
    assert check_response(provider, response, mount=f"/{provider}") == []
    assert response.headers["x-mock-scenario"]


@pytest.mark.parametrize("provider", specs.providers())
@pytest.mark.parametrize("level", ["strict", "lenient"])
async def test_rejections_use_the_providers_own_envelope(
    quick_client: httpx.AsyncClient, provider: str, level: str
) -> None:
    spec = specs.load(provider)
    for op in spec.operations:
        body = _request_body(spec, op)
        if not isinstance(body, dict):
            continue
        # Keep only the credential: every other required field is now missing.
        bare = {k: v for k, v in body.items() if k == spec.credential.name}
        url = f"/{provider}{op.base_path}{op.path.replace('{id}', '1')}"
        response = await quick_client.request(
            op.method, url, json=bare, headers={**_headers(spec, None), "x-mock-validation": level}
        )
        if op.definition.get("requestBody", {}).get("required") and spec.validator(
            spec.resolve(op.definition["requestBody"])["content"]["application/json"]["schema"]
        ).is_valid(bare):
            continue
        assert response.status_code >= 400 or "error" in response.text, (op.operation_id, response.text)
        assert response.headers["content-type"].startswith("application/json")
        assert check_response(provider, response, mount=f"/{provider}") == [], op.operation_id
