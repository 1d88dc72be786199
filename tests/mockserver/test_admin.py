"""The admin API under /__mock/, through HTTP, checked against its own OpenAPI document.

Every response a test here receives from /__mock/ is validated against ``mockserver/admin.yaml``
with openapi-core (the ``client`` fixture below hooks that into httpx); answers to paths or methods
the document does not declare must be the ``Problem`` schema as ``application/problem+json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import respx
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headshot_mock.mockserver import BackgroundServer, MockConfig, admin, create_app
from headshot_mock.mockserver.runtime import iso
from headshot_mock.mockserver.signing import verify_magichour

BASE_URL = "http://127.0.0.1:4010"
DOC = admin.document()
DOC_URI = "urn:headshot-mock:admin"
PROBLEM = "application/problem+json"
# openapi-core decodes application/json only; the problem answers are JSON too.
OPENAPI = OpenAPI.from_dict(DOC, config=Config(extra_media_type_deserializers={PROBLEM: json.loads}))
METHODS = ("get", "post", "put", "patch", "delete")

PORTRAIT = "/idphoto/api/generate-portrait"
HEADSHOT = "/modelslab/api/v6/image_editing/head_shot"
FLUX = "/modelslab/api/v6/image_editing/flux_headshot"
AGENTAI = "/agentai/v1/action/instant_headshot_run_headshot_generation"
MAGICHOUR = "/magichour/v1/ai-headshot-generator"
ENDPOINTS = "/__mock/webhooks/endpoints"
DELIVERIES = "/__mock/webhooks/deliveries"
LONG_IMAGE = "data:image/jpeg;base64," + "A" * 400


def portrait(key: str = "secret-key") -> dict[str, Any]:
    return {"apiKey": key, "prompt": "p", "inputImages": [LONG_IMAGE]}


def headshot(key: str = "secret-key") -> dict[str, Any]:
    return {"key": key, "prompt": "p", "face_image": "https://example.com/face.jpg"}


# -- validation of every admin answer -------------------------------------------------------------------


def _schema_validator(schema: dict[str, Any]) -> OAS31Validator:
    """A validator of ``schema``, whose ``#/...`` references point into admin.yaml."""
    registry: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(DOC))
    rebased = {k: f"{DOC_URI}{v}" if k == "$ref" else v for k, v in schema.items()}
    return OAS31Validator(rebased, registry=registry)


def check_admin_response(response: httpx.Response) -> None:
    """Raise unless ``response`` is what admin.yaml promises for its request."""
    request = response.request
    path = request.url.path
    if not path.startswith(admin.PREFIX) or path.startswith(
        (f"{admin.PREFIX}/files", f"{admin.PREFIX}/web/")
    ):
        return  # a provider call, a generated file or a file of the page: not JSON of the admin API
    assert response.status_code < 500, (
        f"{request.method} {path} failed: {response.status_code} {response.text}"
    )
    content_type = response.headers.get("content-type", "")
    openapi_request = MockRequest(
        BASE_URL,
        request.method,
        path,
        args=dict(request.url.params),
        headers=dict(request.headers),
        data=request.content,
        content_type=request.headers.get("content-type", ""),
    )
    openapi_response = MockResponse(
        response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=content_type,
    )
    try:
        OPENAPI.validate_response(openapi_request, openapi_response)
    except (PathNotFound, OperationNotFound):
        # Not a declared operation: the NotFound / MethodNotAllowed answers, problem+json.
        assert response.status_code in (404, 405), (request.method, path, response.status_code)
        assert content_type == PROBLEM
        _schema_validator({"$ref": "#/components/schemas/Problem"}).validate(response.json())


async def _validate_hook(response: httpx.Response) -> None:
    await response.aread()
    check_admin_response(response)


@asynccontextmanager
async def checked_client(app: Any, *, raise_app_exceptions: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, event_hooks={"response": [_validate_hook]}
    ) as c:
        yield c


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Like the conftest ``client``, but every /__mock/ answer is checked against admin.yaml."""
    async with checked_client(app) as c:
        yield c


def assert_problem(response: httpx.Response, status: int, *needles: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    for needle in needles:
        assert needle in body["detail"], body
    return body


async def journal(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/__mock/journal", params=params)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["count"] == len(data["entries"])
    entries: list[dict[str, Any]] = data["entries"]
    return entries


async def rules(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/__mock/rules")
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()["rules"]
    return found


# -- the document ---------------------------------------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    validate(DOC)
    assert DOC["openapi"] == "3.1.0"
    assert DOC["servers"] == [{"url": "/__mock", "description": DOC["servers"][0]["description"]}]


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in DOC["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = DOC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_operation_ids_are_unique_camel_case() -> None:
    ids = [op["operationId"] for _, _, op in _operations()]
    assert len(ids) == len(set(ids))
    for op_id in ids:
        assert re.fullmatch(r"[a-z][a-zA-Z0-9]*", op_id), op_id


def test_every_error_answer_is_a_problem_and_every_success_has_named_examples() -> None:
    for path, method, op in _operations():
        for status, response in op["responses"].items():
            response = _resolve(response)
            content = response.get("content", {})
            if status.startswith("4"):
                assert list(content) == [PROBLEM], (path, method, status)
                assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
            elif content and "page" in op["tags"]:  # the web page and its files
                assert set(content) <= {"application/json", "text/html", "text/javascript", "text/css"}
                assert all(media["examples"] for media in content.values()), (path, method, status)
            elif content:
                assert list(content) == ["application/json"], (path, method, status)
                assert content["application/json"]["examples"], (path, method, status)
    for name in ("BadRequest", "NotFound", "MethodNotAllowed"):
        content = DOC["components"]["responses"][name]["content"]
        assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}


def _examples() -> list[Any]:
    cases = []
    media_types = [
        (f"{method} {path} {status}", _resolve(response).get("content", {}))
        for path, method, op in _operations()
        for status, response in op["responses"].items()
    ]
    media_types += [
        (f"{method} {path} body", op["requestBody"]["content"])
        for path, method, op in _operations()
        if "requestBody" in op
    ]
    for where, content in media_types:
        for media in content.values():
            for name, example in media.get("examples", {}).items():
                cases.append(pytest.param(media["schema"], example["value"], id=f"{where} {name}"))
    return cases


@pytest.mark.parametrize(("schema", "value"), _examples())
def test_examples_match_their_schema(schema: dict[str, Any], value: Any) -> None:
    _schema_validator(schema).validate(value)


async def test_openapi_json_serves_the_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/__mock/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == json.loads(json.dumps(DOC))


async def test_document_declares_exactly_the_methods_served(client: httpx.AsyncClient) -> None:
    for path, item in DOC["paths"].items():
        url = "/__mock" + path.format(
            provider="modelslab", job_id="nope", seq=1, delivery_id=1, name="app.js"
        )
        for method in METHODS:
            response = await client.request(method.upper(), url)
            if method in item:
                assert response.status_code != 405, (method, path, response.text)
                if response.status_code == 404:  # an unknown job, not an unknown route
                    assert response.json()["title"] != "No such route on this mock"
                assert str(response.status_code) in item[method]["responses"], (method, path)
            else:
                assert_problem(response, 405, f"not {method.upper()}")


# -- status ---------------------------------------------------------------------------------------------


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/__mock/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": admin.VERSION,
        "providers": ["agentai", "idphoto", "magichour", "modelslab"],
    }


async def test_providers_give_working_base_urls(client: httpx.AsyncClient) -> None:
    response = await client.get("/__mock/providers")
    assert response.status_code == 200
    providers = response.json()
    assert {pid: p["base_url"] for pid, p in providers.items()} == {
        "agentai": f"{BASE_URL}/agentai/v1",
        "modelslab": f"{BASE_URL}/modelslab/api",
        "idphoto": f"{BASE_URL}/idphoto",
        "magichour": f"{BASE_URL}/magichour",
    }
    assert providers["idphoto"]["real_base_url"] == "https://idphoto.ai"
    assert providers["idphoto"]["operations"] == ["generatePortrait"]
    assert "headShot" in providers["modelslab"]["operations"]
    # The base URL is what a client pastes: an operation path appended to it is served.
    url = providers["idphoto"]["base_url"] + "/api/generate-portrait"
    assert (await client.post(url, json=portrait())).status_code == 200


async def test_providers_follow_the_name_the_mock_is_reached_at(app: Any) -> None:
    transport = httpx.ASGITransport(app=app)  # in-process, the URL's host is the server's own
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test:8080") as other:
        response = await other.get("/__mock/providers")
        assert response.json()["modelslab"]["base_url"] == "http://mock.test:8080/modelslab/api"
        # A Host that is none of its names (DNS rebinding) gets no links at all.
        foreign = await other.get("/__mock/providers", headers={"host": "evil.example:8080"})
        assert_problem(foreign, 421, "evil.example")


async def test_scenarios(client: httpx.AsyncClient) -> None:
    response = await client.get("/__mock/scenarios")
    assert response.status_code == 200
    scenarios = response.json()
    assert sorted(scenarios) == ["agentai", "idphoto", "magichour", "modelslab"]
    for pid, names in scenarios.items():
        assert {"success", "rate_limited", "slow", "timeout"} <= set(names), pid
        assert all(isinstance(summary, str) and summary for summary in names.values())
    assert "no_face" in scenarios["idphoto"]
    assert "stuck" in scenarios["modelslab"]
    assert scenarios["idphoto"]["rate_limited"] == "too many requests (429)"


# -- journal --------------------------------------------------------------------------------------------


async def test_journal_records_a_call_with_secrets_and_images_redacted(client: httpx.AsyncClient) -> None:
    assert await journal(client) == []
    response = await client.post(PORTRAIT, json=portrait(), params={"trace": "1"})
    assert response.status_code == 200
    [entry] = await journal(client)
    assert entry["seq"] == int(response.headers["x-mock-request-id"]) == 1
    assert entry["provider"] == "idphoto"
    assert entry["operation"] == "generatePortrait"
    assert entry["method"] == "POST"
    assert entry["path"] == PORTRAIT
    assert entry["query"] == "trace=1"
    assert entry["status"] == 200
    assert (entry["scenario"], entry["scenario_source"], entry["requested_scenario"]) == (
        "success",
        "default",
        "success",
    )
    assert entry["level"] == "lenient"
    assert entry["rejected"] is False
    assert entry["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    body = entry["request"]["body"]
    assert body["apiKey"] == "***"
    assert body["prompt"] == "p"
    assert body["inputImages"] == [f"<image: {len(LONG_IMAGE)} chars redacted>"]
    assert re.fullmatch(r"<image: \d+ chars redacted>", entry["response"]["body"]["outputImages"][0])
    assert entry["request"]["headers"]["content-type"] == "application/json"
    raw = (await client.get("/__mock/journal")).text
    assert "secret-key" not in raw
    assert "AAAAAAAA" not in raw


async def test_journal_keeps_mock_scenario_keys_visible(client: httpx.AsyncClient) -> None:
    response = await client.post(PORTRAIT, json=portrait("mock-no_face"))
    assert response.status_code == 422
    [entry] = await journal(client)
    assert entry["request"]["body"]["apiKey"] == "mock-no_face"
    assert (entry["scenario"], entry["scenario_source"]) == ("no_face", "key")


@pytest.mark.parametrize(
    ("token", "logged"),
    [
        pytest.param("secret-token", "Bearer ***", id="real-key-redacted"),
        pytest.param("mock-rate_limited", "Bearer mock-rate_limited", id="mock-key-visible"),
    ],
)
async def test_journal_redacts_header_keys(client: httpx.AsyncClient, token: str, logged: str) -> None:
    response = await client.post(
        AGENTAI,
        json={"photos_json": "[]"},
        headers={"authorization": f"Bearer {token}", "x-mock-scenario": "rate_limited"},
    )
    assert response.status_code == 429
    [entry] = await journal(client)
    assert entry["request"]["headers"]["authorization"] == logged
    assert "secret-token" not in json.dumps(entry)


async def test_journal_records_findings_and_rejections(client: httpx.AsyncClient) -> None:
    response = await client.post(PORTRAIT, json={"apiKey": "k", "prompt": 5})
    assert response.status_code == 400
    [entry] = await journal(client)
    assert entry["scenario"] == "invalid_request"
    assert entry["requested_scenario"] == "success"
    assert entry["rejected"] is True
    assert entry["findings"]
    assert {f["location"] for f in entry["findings"]} == {"body"}
    assert set(entry["findings"][0]) == {"location", "field", "message", "level"}


async def _three_calls(client: httpx.AsyncClient) -> None:
    assert (await client.post(PORTRAIT, json=portrait())).status_code == 200
    assert (await client.post(HEADSHOT, json=headshot("mock-rate_limited"))).status_code == 429
    limited = await client.post(PORTRAIT, json=portrait(), headers={"x-mock-scenario": "rate_limited"})
    assert limited.status_code == 429


@pytest.mark.parametrize(
    ("params", "seqs"),
    [
        pytest.param({}, [1, 2, 3], id="all"),
        pytest.param({"provider": "idphoto"}, [1, 3], id="provider"),
        pytest.param({"operation": "headShot"}, [2], id="operation"),
        pytest.param({"status": 429}, [2, 3], id="status"),
        pytest.param({"status": 200}, [1], id="status-200"),
        pytest.param({"scenario": "rate_limited"}, [2, 3], id="scenario"),
        pytest.param({"provider": "idphoto", "status": 429}, [3], id="provider-and-status"),
        pytest.param({"operation": "noSuchOperation"}, [], id="no-match"),
        pytest.param({"limit": 2}, [2, 3], id="limit-keeps-the-latest"),
        pytest.param({"limit": 10}, [1, 2, 3], id="limit-above-count"),
        pytest.param({"provider": "idphoto", "limit": 1}, [3], id="limit-after-filter"),
    ],
)
async def test_journal_filters(client: httpx.AsyncClient, params: dict[str, Any], seqs: list[int]) -> None:
    await _three_calls(client)
    assert [e["seq"] for e in await journal(client, **params)] == seqs


async def test_journal_limit_zero_returns_nothing(client: httpx.AsyncClient) -> None:
    await _three_calls(client)
    assert await journal(client, limit=0) == []


@pytest.mark.parametrize(
    ("params", "status", "needles"),
    [
        pytest.param(
            {"provider": "modelslb"}, 404, ["'modelslb'", "Did you mean 'modelslab'?"], id="provider"
        ),
        pytest.param({"limit": "-1"}, 400, ["limit", "'-1'"], id="negative-limit"),
        pytest.param({"limit": "ten"}, 400, ["limit", "'ten'"], id="word-limit"),
        pytest.param({"limit": "1.5"}, 400, ["limit"], id="fraction-limit"),
    ],
)
async def test_journal_bad_filters_are_problems(
    client: httpx.AsyncClient, params: dict[str, str], status: int, needles: list[str]
) -> None:
    assert_problem(await client.get("/__mock/journal", params=params), status, *needles)


async def test_journal_unicode_digit_limit_is_a_problem(app: Any) -> None:
    async with checked_client(app, raise_app_exceptions=False) as c:
        response = await c.get("/__mock/journal", params={"limit": "²"})
    assert_problem(response, 400, "limit")


async def test_journal_delete_clears(client: httpx.AsyncClient) -> None:
    await _three_calls(client)
    response = await client.delete("/__mock/journal")
    assert response.status_code == 204
    assert response.content == b""
    assert await journal(client) == []
    # Sequence numbers keep counting: a cleared journal never reuses a request id.
    assert (await client.post(PORTRAIT, json=portrait())).headers["x-mock-request-id"] == "4"


async def test_journal_keeps_only_the_last_journal_limit_entries() -> None:
    async with checked_client(create_app(config=MockConfig(journal_limit=3))) as c:
        for _ in range(5):
            assert (await c.post(PORTRAIT, json=portrait())).status_code == 200
        assert [e["seq"] for e in await journal(c)] == [3, 4, 5]
        await c.post("/__mock/reset")
        for _ in range(4):
            await c.post(PORTRAIT, json=portrait())
        assert [e["seq"] for e in await journal(c)] == [2, 3, 4]


# -- rules ----------------------------------------------------------------------------------------------


async def test_rule_answers_the_next_calls_then_expires(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/__mock/rules",
        json={"provider": "modelslab", "operation": "headShot", "scenario": "rate_limited", "times": 2},
    )
    assert response.status_code == 201
    rule = response.json()
    assert rule == {
        "id": rule["id"],
        "provider": "modelslab",
        "operation": "headShot",
        "scenario": "rate_limited",
        "remaining": 2,
    }
    assert await rules(client) == [rule]
    # Another provider and another operation of the same provider are not affected.
    assert (await client.post(PORTRAIT, json=portrait())).status_code == 200
    assert (await client.post(FLUX, json=headshot())).status_code == 200

    first = await client.post(HEADSHOT, json=headshot())
    assert first.status_code == 429
    assert first.headers["x-mock-scenario"] == "rate_limited"
    assert [r["remaining"] for r in await rules(client)] == [1]
    assert (await client.post(HEADSHOT, json=headshot())).status_code == 429
    assert await rules(client) == []
    third = await client.post(HEADSHOT, json=headshot())
    assert third.status_code == 200
    assert third.headers["x-mock-scenario"] == "success"
    calls = await journal(client, operation="headShot")
    assert [(e["status"], e["scenario_source"]) for e in calls] == [
        (429, "rule"),
        (429, "rule"),
        (200, "default"),
    ]


async def test_rule_without_operation_applies_to_every_operation(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/__mock/rules", json={"provider": "modelslab", "scenario": "server_error", "times": 2}
    )
    assert response.status_code == 201
    assert response.json()["operation"] is None
    assert response.json()["remaining"] == 2
    assert (await client.post(FLUX, json=headshot())).status_code == 500
    assert (await client.post(HEADSHOT, json=headshot())).status_code == 500
    assert (await client.post(HEADSHOT, json=headshot())).status_code == 200
    assert [e["operation"] for e in await journal(client, status=500)] == [
        "fluxHeadshot",
        "headShot",
    ]


async def test_rule_defaults_to_once_and_null_means_forever(client: httpx.AsyncClient) -> None:
    once = await client.post("/__mock/rules", json={"provider": "idphoto", "scenario": "no_face"})
    assert once.json()["remaining"] == 1
    forever = await client.post(
        "/__mock/rules", json={"provider": "idphoto", "scenario": "rate_limited", "times": None}
    )
    assert forever.json()["remaining"] is None
    assert forever.json()["id"] > once.json()["id"]
    statuses = [(await client.post(PORTRAIT, json=portrait())).status_code for _ in range(4)]
    assert statuses == [422, 429, 429, 429]  # first in, first out
    assert [r["scenario"] for r in await rules(client)] == ["rate_limited"]
    assert (await client.delete("/__mock/rules")).status_code == 204
    assert await rules(client) == []
    assert (await client.post(PORTRAIT, json=portrait())).status_code == 200


@pytest.mark.parametrize(
    ("steer", "status", "source"),
    [
        pytest.param({"headers": {"x-mock-scenario": "success"}}, 200, "header", id="x-mock-scenario"),
        pytest.param({"headers": {"prefer": "example=server_error"}}, 500, "prefer", id="prefer"),
        pytest.param({"key": "mock-insufficient_credits"}, 402, "key", id="mock-key"),
    ],
)
async def test_per_request_choice_wins_over_a_rule_without_consuming_it(
    client: httpx.AsyncClient, steer: dict[str, Any], status: int, source: str
) -> None:
    await client.post(
        "/__mock/rules",
        json={"provider": "modelslab", "operation": "headShot", "scenario": "rate_limited", "times": 1},
    )
    steered = await client.post(
        HEADSHOT, json=headshot(steer.get("key", "secret-key")), headers=steer.get("headers", {})
    )
    assert steered.status_code == status
    [entry] = await journal(client)
    assert entry["scenario_source"] == source
    assert [r["remaining"] for r in await rules(client)] == [1]
    assert (await client.post(HEADSHOT, json=headshot())).status_code == 429


RULE = {"provider": "modelslab", "operation": "headShot", "scenario": "rate_limited"}


@pytest.mark.parametrize(
    ("body", "status", "needles"),
    [
        pytest.param(
            {**RULE, "provider": "modelslb"}, 404, ["'modelslb'", "Did you mean 'modelslab'?"], id="provider"
        ),
        pytest.param(
            {**RULE, "operation": "headshot"}, 404, ["'headshot'", "Did you mean 'headShot'?"], id="operation"
        ),
        pytest.param(
            {**RULE, "scenario": "rate_limit"},
            400,
            ["'rate_limit'", "Did you mean 'rate_limited'?"],
            id="scenario",
        ),
        pytest.param(
            {**RULE, "scenario": "zzz"}, 400, ["'zzz'", "Valid values:", "rate_limited"], id="far-scenario"
        ),
        pytest.param({**RULE, "colour": "red"}, 400, ["colour", "times"], id="unknown-field"),
        pytest.param({"operation": "headShot", "scenario": "success"}, 400, ["'provider'"], id="no-provider"),
        pytest.param({"provider": "modelslab"}, 400, ["'scenario'"], id="no-scenario"),
        pytest.param({**RULE, "scenario": 5}, 400, ["'scenario'"], id="scenario-not-a-string"),
        pytest.param({**RULE, "times": 0}, 400, ["times", "0"], id="times-zero"),
        pytest.param({**RULE, "times": -1}, 400, ["times", "-1"], id="times-negative"),
        pytest.param({**RULE, "times": 1.5}, 400, ["times", "1.5"], id="times-fraction"),
        pytest.param({**RULE, "times": "2"}, 400, ["times", "'2'"], id="times-string"),
        pytest.param({**RULE, "times": True}, 400, ["times", "True"], id="times-boolean"),
        pytest.param([RULE], 400, ["JSON object", "list"], id="not-an-object"),
    ],
)
async def test_bad_rules_are_problems(
    client: httpx.AsyncClient, body: Any, status: int, needles: list[str]
) -> None:
    assert_problem(await client.post("/__mock/rules", json=body), status, *needles)
    assert await rules(client) == []


async def test_malformed_rule_json_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/__mock/rules", content=b"{provider: modelslab", headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400, "JSON object")
    assert body["title"] == "Malformed JSON"


async def test_misspelt_rule_field_suggests_the_right_one(client: httpx.AsyncClient) -> None:
    body = {"provider": "modelslab", "scenario": "rate_limited", "tims": 2}
    assert_problem(await client.post("/__mock/rules", json=body), 400, "Did you mean 'times'?")


# -- jobs -----------------------------------------------------------------------------------------------


async def test_jobs_list_and_finish(client: httpx.AsyncClient) -> None:
    assert (await client.get("/__mock/jobs")).json() == {"jobs": []}
    created = await client.post(HEADSHOT, json=headshot(), headers={"x-mock-scenario": "stuck"})
    assert created.status_code == 200
    job_id = str(created.json()["id"])
    assert (await client.post("/__mock/idle")).status_code == 204
    [job] = (await client.get("/__mock/jobs", params={"provider": "modelslab"})).json()["jobs"]
    assert (job["id"], job["provider"], job["operation"], job["scenario"]) == (
        job_id,
        "modelslab",
        "headShot",
        "stuck",
    )
    assert job["done"] is False
    assert (await client.get("/__mock/jobs", params={"provider": "idphoto"})).json() == {"jobs": []}

    # A stuck job has no final state of its own: finishing it needs one.
    assert_problem(await client.post(f"/__mock/jobs/modelslab/{job_id}/finish"), 409, "never ends")
    assert_problem(
        await client.post(f"/__mock/jobs/modelslab/{job_id}/finish", json={"state": "sucess"}),
        400,
        "Did you mean 'success'?",
    )
    finished = await client.post(f"/__mock/jobs/modelslab/{job_id}/finish", json={"state": "success"})
    assert finished.status_code == 200
    assert finished.json()["done"] is True
    assert finished.json()["state"] == "success"
    same = await client.post(f"/__mock/jobs/modelslab/{job_id}/finish", json={"state": "success"})
    assert same.status_code == 200, "finishing again in the same state changes nothing"
    assert (same.json()["done"], same.json()["state"]) == (True, "success")
    again = await client.post(f"/__mock/jobs/modelslab/{job_id}/finish", json={"state": "failed"})
    body = assert_problem(again, 409, "already finished", "'success'")
    assert body["title"] == "Job already finished"
    [job] = (await client.get("/__mock/jobs")).json()["jobs"]
    assert job["state"] == "success"


@pytest.mark.parametrize(
    ("url", "kwargs", "status", "needles"),
    [
        pytest.param(
            "/__mock/jobs?provider=idphot", {}, 404, ["Did you mean 'idphoto'?"], id="list-provider"
        ),
        pytest.param("/__mock/jobs/modelslb/1/finish", {}, 404, ["Did you mean 'modelslab'?"], id="provider"),
        pytest.param("/__mock/jobs/modelslab/999/finish", {}, 404, ["'999'", "/__mock/jobs"], id="job"),
        pytest.param(
            "/__mock/jobs/modelslab/1/finish",
            {"content": b"[1]", "headers": {"content-type": "application/json"}},
            400,
            ["list"],
            id="body",
        ),
    ],
)
async def test_bad_job_calls_are_problems(
    client: httpx.AsyncClient, url: str, kwargs: dict[str, Any], status: int, needles: list[str]
) -> None:
    method = "GET" if url.startswith("/__mock/jobs?") else "POST"
    assert_problem(await client.request(method, url, **kwargs), status, *needles)


# -- webhooks, idle -------------------------------------------------------------------------------------

FACE = {"assets": {"image_file_path": "https://example.com/face.jpg"}}


class Receiver:
    """A webhook receiver on a real loopback socket: records every POST, answers ``status``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        self.url = ""

    async def hook(self, request: Request) -> Response:
        self.calls.append((request.url.path, dict(request.headers), await request.body()))
        return Response(status_code=self.status)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver()
    app = Starlette(routes=[Route("/{path:path}", rx.hook, methods=["POST"])])
    with BackgroundServer(app) as server:
        rx.url = server.url
        yield rx


@asynccontextmanager
async def running_mock(**options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A checked client of a fresh mock, shut down as a server would be (background work, webhook client)."""
    app = create_app(config=MockConfig(**options))
    async with app.router.lifespan_context(app), checked_client(app) as c:
        yield c


async def magichour_headshot(client: httpx.AsyncClient) -> str:
    response = await client.post(MAGICHOUR, json=FACE, headers={"authorization": "Bearer k"})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def idle(client: httpx.AsyncClient) -> None:
    response = await client.post("/__mock/idle")
    assert response.status_code == 204, response.text
    assert response.content == b""


async def endpoints(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(ENDPOINTS, params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["endpoints"]
    return found


async def deliveries(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(DELIVERIES, params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


async def test_webhook_endpoints_register_list_and_clear(client: httpx.AsyncClient) -> None:
    assert await endpoints(client) == []
    plain = await client.post(ENDPOINTS, json={"url": "http://127.0.0.1:8000/hook"})
    assert plain.status_code == 201, plain.text
    assert plain.json() == {
        "id": plain.json()["id"],
        "provider": "magichour",
        "url": "http://127.0.0.1:8000/hook",
        "events": None,
        "secret": "***",  # not in clear: --show-secrets lists them
    }
    chosen = {
        "provider": "magichour",
        "url": "https://localhost/hooks",
        "events": ["image.completed"],
        "secret": "whsec_test",
    }
    picky = await client.post(ENDPOINTS, json=chosen)
    assert picky.status_code == 201
    assert picky.json() == {**chosen, "secret": "***", "id": picky.json()["id"]}
    assert picky.json()["id"] > plain.json()["id"]
    ipv6 = await client.post(ENDPOINTS, json={"url": "http://[::1]:9/x", "events": None, "secret": None})
    assert ipv6.status_code == 201
    # ModelsLab posts to each request's `webhook` field: it has nothing to register.
    modelslab = await client.post(ENDPOINTS, json={"provider": "modelslab", "url": "http://[::1]:9/x"})
    assert_problem(modelslab, 400, "webhook")
    assert await endpoints(client) == [plain.json(), picky.json(), ipv6.json()]
    assert await endpoints(client, provider="magichour") == [plain.json(), picky.json(), ipv6.json()]
    assert await endpoints(client, provider="idphoto") == []
    cleared = await client.delete(ENDPOINTS)
    assert cleared.status_code == 204
    assert cleared.content == b""
    assert await endpoints(client) == []


async def test_webhook_secrets_are_listed_in_clear_only_when_asked() -> None:
    shown = create_app(config=MockConfig(show_secrets=True))
    transport = httpx.ASGITransport(app=shown)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4010") as c:
        plain = await c.post(ENDPOINTS, json={"url": "http://127.0.0.1:8000/hook"})
        assert plain.json()["secret"].startswith("whsec_"), "the default secret, so a receiver can verify"
        mine = await c.post(ENDPOINTS, json={"url": "http://127.0.0.1:8000/hook", "secret": "whsec_mine"})
        assert mine.json()["secret"] == "whsec_mine"
        assert [e["secret"] for e in await endpoints(c)] == [plain.json()["secret"], "whsec_mine"]


HOOK = {"url": "http://127.0.0.1:8000/hook"}


@pytest.mark.parametrize(
    ("body", "status", "needles"),
    [
        pytest.param(
            {**HOOK, "provider": "magichur"}, 404, ["'magichur'", "Did you mean 'magichour'?"], id="provider"
        ),
        pytest.param({"urll": HOOK["url"]}, 400, ["'urll'", "Did you mean 'url'?"], id="misspelt-field"),
        pytest.param({**HOOK, "colour": "red"}, 400, ["'colour'", "secret"], id="unknown-field"),
        pytest.param({}, 400, ["'url'"], id="no-url"),
        pytest.param({"url": 5}, 400, ["'url'"], id="url-not-a-string"),
        pytest.param({"url": "ftp://127.0.0.1/hook"}, 400, ["'ftp://127.0.0.1/hook'", "http(s)"], id="ftp"),
        pytest.param({"url": "localhost/hook"}, 400, ["http(s)"], id="no-scheme"),
        pytest.param({"url": "http:///hook"}, 400, ["http(s)"], id="no-host"),
        pytest.param(
            {**HOOK, "events": "image.completed"}, 400, ["events", "'image.completed'"], id="events"
        ),
        pytest.param({**HOOK, "events": [1]}, 400, ["events", "[1]"], id="event-not-a-string"),
        pytest.param({**HOOK, "secret": ""}, 400, ["secret"], id="empty-secret"),
        pytest.param({**HOOK, "secret": 5}, 400, ["secret"], id="secret-not-a-string"),
        pytest.param([HOOK], 400, ["JSON object", "list"], id="not-an-object"),
    ],
)
async def test_bad_webhook_endpoints_are_problems(
    client: httpx.AsyncClient, body: Any, status: int, needles: list[str]
) -> None:
    assert_problem(await client.post(ENDPOINTS, json=body), status, *needles)
    assert await endpoints(client) == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({**HOOK, "provider": 5}, id="provider-number"),
        pytest.param({**HOOK, "provider": ["magichour"]}, id="provider-list"),
        pytest.param({**HOOK, "events": []}, id="no-events-means-every-event"),
        pytest.param({"url": HOOK["url"] + "#whsec_x"}, id="config-secret-syntax-kept-in-the-url"),
    ],
)
async def test_webhook_endpoint_bodies_that_are_refused(app: Any, body: dict[str, Any]) -> None:
    async with checked_client(app, raise_app_exceptions=False) as c:
        assert_problem(await c.post(ENDPOINTS, json=body), 400)


async def test_webhook_listings_of_an_unknown_provider_are_404_problems(client: httpx.AsyncClient) -> None:
    for url in (ENDPOINTS, DELIVERIES):
        response = await client.get(url, params={"provider": "magichur"})
        assert_problem(response, 404, "'magichur'", "Did you mean 'magichour'?")


@pytest.mark.parametrize(
    "time_scale",
    [
        pytest.param(0.0, id="instant"),  # every phase is still announced, image.started included
        pytest.param(0.05, id="scaled-clock"),
    ],
)
async def test_webhooks_are_delivered_signed_and_recorded(receiver: Receiver, time_scale: float) -> None:
    async with running_mock(time_scale=time_scale) as c:
        assert await deliveries(c) == []
        mine = {"url": f"{receiver.url}/all", "secret": "whsec_test"}
        assert (await c.post(ENDPOINTS, json=mine)).status_code == 201
        finals = {"url": f"{receiver.url}/final", "events": ["image.completed"]}
        assert (await c.post(ENDPOINTS, json=finals)).status_code == 201
        project = await magichour_headshot(c)
        await idle(c)

        sent = await deliveries(c)
        assert [(d["event"], d["url"], d["last"]) for d in sent] == [
            ("image.started", f"{receiver.url}/all", False),
            ("image.completed", f"{receiver.url}/all", True),
            ("image.completed", f"{receiver.url}/final", True),
        ]
        for d in sent:
            assert (d["provider"], d["group"], d["state"], d["copy"], d["max_attempts"]) == (
                "magichour",
                project,
                "delivered",
                0,
                8,
            )
            [attempt] = d["attempts"]
            assert (attempt["status"], attempt["error"]) == (200, None)
            assert attempt["latency_ms"] >= 0
            assert "error" not in d
            assert json.loads(d["body"])["type"] == d["event"]
            assert json.loads(d["body"])["payload"]["id"] == project
        assert len({d["id"] for d in sent}) == 3
        assert await deliveries(c, provider="magichour") == sent
        assert await deliveries(c, provider="modelslab") == []

        # The receiver got exactly what the records say, signed with the endpoint's secret.
        assert sorted((path, body) for path, _, body in receiver.calls) == sorted(
            (d["url"].removeprefix(receiver.url), d["body"].encode()) for d in sent
        )
        for path, headers, body in receiver.calls:
            if path == "/all":
                verify_magichour("whsec_test", headers, body, tolerance=None)

        # Each attempt is a journal entry of its own kind, beside the call that started the job.
        entries = await journal(c)
        assert [e["operation"] for e in entries if "kind" not in e] == ["createAiHeadshot"]
        hooks = [e for e in entries if e.get("kind") == "webhook"]
        assert sorted((e["delivery"], e["operation"], e["path"]) for e in hooks) == [
            (d["id"], d["event"], d["url"]) for d in sent
        ]
        for e in hooks:
            assert (e["provider"], e["method"], e["attempt"], e["state"], e["status"], e["error"]) == (
                "magichour",
                "POST",
                1,
                "delivered",
                200,
                None,
            )
            assert e["latency_ms"] >= 0
        assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
        completed = await journal(c, operation="image.completed")
        assert [e["path"] for e in completed] == [f"{receiver.url}/all", f"{receiver.url}/final"]

        # Reset forgets endpoints and deliveries.
        assert (await c.post("/__mock/reset")).status_code == 204
        assert await endpoints(c) == []
        assert await deliveries(c) == []


async def test_webhook_to_a_host_not_allowed_is_refused_never_sent(client: httpx.AsyncClient) -> None:
    registered = await client.post(ENDPOINTS, json={"url": "http://example.com/hook"})
    assert registered.status_code == 201, "registering is fine; sending there is not"
    with respx.mock(assert_all_called=False) as network:
        route = network.route(host="example.com").respond(200)
        project = await magichour_headshot(client)
        await idle(client)
    assert not route.called
    assert network.calls.call_count == 0

    refused = await deliveries(client)
    assert [d["event"] for d in refused] == ["image.started", "image.completed"]
    for d in refused:
        assert (d["state"], d["url"], d["group"], d["attempts"]) == (
            "refused",
            "http://example.com/hook",
            project,
            [],
        )
        assert "'example.com'" in d["error"]
        assert "webhook_allow" in d["error"]
    hooks = await journal(client, provider="magichour", operation="image.completed")
    [entry] = [e for e in hooks if e.get("kind") == "webhook"]
    assert (entry["state"], entry["attempt"], entry["status"], entry["latency_ms"]) == (
        "refused",
        0,
        None,
        None,
    )
    assert "webhook_allow" in entry["error"]


async def test_a_failing_receiver_is_retried_and_recorded(receiver: Receiver) -> None:
    receiver.status = 503
    async with running_mock(webhook_attempts=2, webhook_backoff=0) as c:
        await c.post(ENDPOINTS, json={"url": receiver.url, "events": ["image.completed"]})
        await magichour_headshot(c)
        await idle(c)
        [failed] = await deliveries(c)
        assert (failed["state"], failed["max_attempts"]) == ("failed", 2)
        assert [(a["status"], a["error"]) for a in failed["attempts"]] == [(503, None), (503, None)]
        assert len(receiver.calls) == 2
        hooks = [e for e in await journal(c) if e.get("kind") == "webhook"]
        assert [(e["attempt"], e["state"], e["status"]) for e in hooks] == [
            (1, "retrying", 503),
            (2, "failed", 503),
        ]


async def test_idle_waits_for_background_work_or_says_what_still_runs() -> None:
    async with running_mock(time_scale=1) as c:
        await idle(c)  # nothing running yet
        project = await magichour_headshot(c)  # 14 provider seconds at time_scale 1
        busy = await c.post("/__mock/idle", params={"timeout": "0.05"})
        body = assert_problem(busy, 409, "still running", "0.05")
        assert body["title"] == "Still running"
        finished = await c.post(f"/__mock/jobs/magichour/{project}/finish")
        assert finished.status_code == 200
        assert finished.json()["state"] == "complete"
        await idle(c)


@pytest.mark.parametrize("timeout", ["ten", "", "1s"])
async def test_idle_with_a_bad_timeout_is_a_problem(client: httpx.AsyncClient, timeout: str) -> None:
    body = assert_problem(await client.post("/__mock/idle", params={"timeout": timeout}), 400, "timeout")
    assert body["title"] == "Bad timeout"


@pytest.mark.parametrize("timeout", ["nan", "inf", "-1"])
async def test_idle_with_a_non_finite_or_negative_timeout_is_a_problem(
    client: httpx.AsyncClient, timeout: str
) -> None:
    assert_problem(await client.post("/__mock/idle", params={"timeout": timeout}), 400, "timeout")


# -- clock, reset ---------------------------------------------------------------------------------------


async def test_clock_advance_moves_now(client: httpx.AsyncClient) -> None:
    before = (await client.get("/__mock/clock")).json()
    assert before["offset"] == 0
    assert before["time_scale"] == 0
    advanced = await client.post("/__mock/clock", json={"advance": 3600})
    assert advanced.status_code == 200
    after = advanced.json()
    assert after["offset"] == 3600
    assert 3600 <= after["now"] - before["now"] < 3660
    assert (await client.post("/__mock/clock", json={"advance": 0.5})).json()["offset"] == 3600.5
    later = (await client.get("/__mock/clock")).json()
    assert later["offset"] == 3600.5
    # The journal's clock is the mock clock.
    await client.post(PORTRAIT, json=portrait())
    [entry] = await journal(client)
    assert entry["time"][:13] == iso(after["now"])[:13]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"advance": -1}, id="negative"),
        pytest.param({"advance": "60"}, id="string"),
        pytest.param({"advance": True}, id="boolean"),
        pytest.param({"advance": None}, id="null"),
        pytest.param({}, id="missing"),
        pytest.param([60], id="not-an-object"),
    ],
)
async def test_bad_clock_calls_are_problems(client: httpx.AsyncClient, body: Any) -> None:
    assert_problem(await client.post("/__mock/clock", json=body), 400)
    assert (await client.get("/__mock/clock")).json()["offset"] == 0


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"advance": 1e999}', id="overflowing-number"),
        pytest.param(b'{"advance": NaN}', id="nan"),
    ],
)
async def test_non_finite_clock_advance_is_a_problem(app: Any, raw: bytes) -> None:
    async with checked_client(app, raise_app_exceptions=False) as c:
        response = await c.post("/__mock/clock", content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        assert (await c.get("/__mock/clock")).json()["offset"] == 0


async def test_reset_forgets_journal_rules_jobs_and_clock(client: httpx.AsyncClient) -> None:
    await _three_calls(client)
    await client.post("/__mock/rules", json={"provider": "idphoto", "scenario": "no_face", "times": None})
    await client.post(HEADSHOT, json=headshot(), headers={"x-mock-scenario": "processing"})
    await client.post("/__mock/clock", json={"advance": 60})
    response = await client.post("/__mock/reset")
    assert response.status_code == 204
    assert await journal(client) == []
    assert await rules(client) == []
    assert (await client.get("/__mock/jobs")).json() == {"jobs": []}
    assert (await client.get("/__mock/clock")).json()["offset"] == 0
    response = await client.post(PORTRAIT, json=portrait())
    assert response.status_code == 200
    assert response.headers["x-mock-request-id"] == "1"


# -- routing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "needles"),
    [
        pytest.param("/__mock/journl", ["GET /__mock/journl", "Did you mean /__mock/journal?"], id="typo"),
        pytest.param("/__mock/nothing", ["GET /__mock/nothing"], id="under-prefix"),
        pytest.param("/__mock/rules/1", ["GET /__mock/rules/1"], id="rule-by-id"),
    ],
)
async def test_unknown_admin_path_is_a_404_problem(
    client: httpx.AsyncClient, path: str, needles: list[str]
) -> None:
    body = assert_problem(await client.get(path), 404, *needles)
    assert body["title"] == "No such route on this mock"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        pytest.param("PUT", "/__mock/health", "GET", id="put-health"),
        pytest.param("POST", "/__mock/journal", "DELETE, GET", id="post-journal"),
        pytest.param("PATCH", "/__mock/rules", "DELETE, GET, POST", id="patch-rules"),
        pytest.param("DELETE", "/__mock/clock", "GET, POST", id="delete-clock"),
        pytest.param("GET", "/__mock/reset", "POST", id="get-reset"),
        pytest.param("GET", "/__mock/jobs/modelslab/1/finish", "POST", id="get-finish"),
        pytest.param("PUT", ENDPOINTS, "DELETE, GET, POST", id="put-endpoints"),
        pytest.param("DELETE", DELIVERIES, "GET", id="delete-deliveries"),
        pytest.param("GET", "/__mock/idle", "POST", id="get-idle"),
    ],
)
async def test_wrong_method_is_a_405_problem(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    body = assert_problem(await client.request(method, path), 405, f"answers {allowed}, not {method}")
    assert body["title"] == "Method not allowed"


async def test_405_names_the_allowed_methods_in_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/__mock/rules")
    assert response.status_code == 405
    assert response.headers.get("allow") == "DELETE, GET, POST"
