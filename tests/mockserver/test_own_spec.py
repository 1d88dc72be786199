"""Serving a user's own OpenAPI document through the same pipeline as the bundled providers:
every operation of documents nobody here wrote answers without a 500 and validates; scenarios
from named examples and statuses; security answers; validation levels; journal, admin, rules;
form and multipart bodies; generated answers, static and dynamic."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from headshot_mock import create_app, specs
from headshot_mock.contracts.exchange import check_response
from tests.openapi_requests import request_for

OPENAPI = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"
STUDIO = OPENAPI / "own" / "studio.yaml"
PUBLIC = sorted(p for p in OPENAPI.glob("*.yaml"))
UPSTREAM = sorted(
    p for p in (OPENAPI / "reference").glob("*.json") if "enterprise-image-editing" not in p.name
)
KEY = {"x-api-key": "sk-live-secret"}


def _client(app: Any, base: str = "http://mock.test") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


@pytest.fixture
async def studio() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(specs=(str(STUDIO),), level="strict")
    async with _client(app, "http://mock.test/studio/v1") as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


@pytest.mark.parametrize("path", [*PUBLIC, *UPSTREAM], ids=lambda p: p.name)
@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
async def test_every_operation_of_a_public_document_answers_and_validates(path: Path, dynamic: bool) -> None:
    spec = specs.load_file(path)
    app = create_app(specs=(str(path),), level="strict", dynamic=dynamic, seed=3)
    provider = app.state.engine.providers[spec.id]
    assert not [n for n in provider.notes if "cannot generate" in n]
    answered = 0
    async with _client(app) as client:
        for op in spec.operations:
            request = request_for(spec, op)
            statuses = sorted({ex.status for ex in provider.scenarios.examples(op.operation_id).values()})
            for prefer in [None, *statuses]:
                headers = dict(request["headers"])
                if prefer is not None:
                    headers["prefer"] = f"code={prefer}"
                response = await client.request(
                    request["method"],
                    f"/{spec.id}{request['url']}",
                    headers=headers,
                    content=request["content"],
                )
                where = f"{op.method} {op.path} prefer={prefer}: {response.text[:300]}"
                assert response.status_code < 500 or (
                    prefer is not None and response.status_code == prefer
                ), where
                assert "x-mock-violations" not in response.headers, where
                if prefer is not None:
                    assert response.status_code == prefer, where
                if op.definition.get("responses"):  # openapi-core cannot check an operation without any
                    assert check_response(spec.id, response, mount=f"/{spec.id}") == [], where
                answered += 1
    assert answered >= len(spec.operations)


async def test_examples_are_scenarios_as_prism_chooses_them(studio: httpx.AsyncClient) -> None:
    body = {"photo_url": "https://example.com/me.jpg"}
    default = await studio.post("/portraits", json=body, headers=KEY)
    assert default.status_code == 201
    assert default.json()["status"] == "queued"
    assert default.headers["x-mock-scenario"] == "success"
    named = await studio.post("/portraits", json=body, headers={**KEY, "prefer": "example=processing"})
    assert named.json()["status"] == "running"
    assert named.headers["x-mock-scenario"] == "processing"
    by_header = await studio.post("/portraits", json=body, headers={**KEY, "x-mock-scenario": "processing"})
    assert by_header.json() == named.json()
    by_code = await studio.post("/portraits", json=body, headers={**KEY, "prefer": "code=429"})
    assert by_code.status_code == 429
    assert by_code.headers["x-mock-scenario"] == "rate_limited"
    assert set(by_code.json()) == {"code", "message"}  # generated from the Error schema
    no_such = await studio.post("/portraits", json=body, headers={**KEY, "prefer": "code=418"})
    assert no_such.status_code == 400
    assert "has no response example with status 418" in no_such.text
    by_key = await studio.get("/portraits/p_1", headers={"x-api-key": "mock-not_found"})
    assert by_key.status_code == 404


async def test_a_missing_key_gets_the_specs_security_answer(studio: httpx.AsyncClient) -> None:
    body = {"photo_url": "https://example.com/me.jpg"}
    declared = await studio.post("/portraits", json=body)
    assert declared.status_code == 401
    assert declared.json() == {"code": "unauthorized", "message": "Invalid API key"}
    assert "security.apiKey: no API key was sent" in declared.headers["x-mock-violations"]
    undeclared = await studio.get("/portraits")  # listPortraits declares no 401: a plain one
    assert undeclared.status_code == 401
    open_door = await studio.post("/uploads", data={"url": "https://example.com/a.jpg"})  # security: []
    assert open_door.status_code == 200


async def test_strict_and_lenient_levels(studio: httpx.AsyncClient) -> None:
    raw = json.dumps({"photo_url": "https://example.com/me.jpg"})
    headers = {**KEY, "content-type": "text/plain"}
    strict = await studio.post("/portraits", content=raw, headers=headers)
    assert strict.status_code == 422
    assert strict.headers["x-mock-scenario"] == "invalid_request"
    assert "content-type" in strict.json()["message"]
    lenient = await studio.post(
        "/portraits", content=raw, headers={**headers, "x-mock-validation": "lenient"}
    )
    assert lenient.status_code == 201
    assert lenient.headers["x-mock-validation"] == "lenient; violations=1"
    wrong = await studio.post(
        "/portraits", json={"photo_url": 7}, headers={**KEY, "x-mock-validation": "lenient"}
    )
    assert wrong.status_code == 422  # a schema violation is refused at both levels
    assert wrong.json()["code"] == "invalid"  # the spec's own invalid_request envelope
    assert "body.photo_url" in wrong.json()["message"]


async def test_parameters_are_validated(studio: httpx.AsyncClient) -> None:
    assert (await studio.get("/portraits/x1", headers=KEY)).status_code == 404  # pattern ^p_[0-9]+$
    bad_limit = await studio.get("/portraits?limit=99", headers=KEY)
    assert bad_limit.status_code == 400
    assert "query.limit" in bad_limit.text
    bad_item = await studio.get("/portraits?status=queued&status=lost", headers=KEY)
    assert bad_item.status_code == 400
    assert 'query.status: "lost"' in bad_item.headers["x-mock-violations"]
    fine = await studio.get("/portraits?status=queued&status=done&limit=2", headers=KEY)
    assert fine.status_code == 200
    assert int(fine.headers["x-total-count"]) >= 0


async def test_form_and_multipart_bodies_are_validated(studio: httpx.AsyncClient) -> None:
    photo = {"file": ("me.jpg", b"\xff\xd8\xff")}
    good = await studio.post("/uploads", files=photo, data={"purpose": "portrait", "count": "2"})
    assert good.status_code == 200
    assert "file_id" in good.json()
    bad = await studio.post("/uploads", files=photo, data={"purpose": "poster", "count": "9"})
    assert bad.status_code == 400
    assert "body.purpose" in bad.json()["message"]
    assert "body.count" in bad.json()["message"]
    missing = await studio.post("/uploads", data={"purpose": "portrait"})  # form, not multipart: needs url
    assert missing.status_code == 400
    assert "url" in missing.json()["message"]
    assert (await studio.post("/uploads", data={"url": "https://example.com/a.jpg"})).status_code == 200


async def test_journal_admin_and_rules_work_for_a_users_spec(studio: httpx.AsyncClient) -> None:
    admin = _client(studio.app)  # type: ignore[attr-defined]
    async with admin:
        listed = (await admin.get("/__mock/providers")).json()
        assert "studio" in json.dumps(listed)
        rule = await admin.post(
            "/__mock/rules", json={"provider": "studio", "scenario": "not_found", "times": 1}
        )
        assert rule.status_code in (200, 201), rule.text
        assert (await studio.get("/portraits/p_1", headers=KEY)).status_code == 404
        assert (await studio.get("/portraits/p_1", headers=KEY)).status_code == 200
        await studio.post("/portraits", json={"photo_url": 3}, headers=KEY)
        journal = (await admin.get("/__mock/journal", params={"provider": "studio"})).json()
    entries = journal if isinstance(journal, list) else journal["entries"]
    assert [e["operation"] for e in entries] == ["getPortrait", "getPortrait", "createPortrait"]
    assert entries[0]["scenario_source"] == "rule"
    assert entries[2]["rejected"]
    assert entries[2]["findings"][0]["field"] == "photo_url"
    assert entries[2]["request"]["headers"]["x-api-key"] == "***"  # the key is never kept


async def test_static_answers_follow_the_seed_and_dynamic_ones_vary() -> None:
    async def bodies(**options: Any) -> list[Any]:
        app = create_app(specs=(str(STUDIO),), **options)
        async with _client(app, "http://mock.test/studio/v1") as client:
            return [(await client.post("/uploads", data={"url": "https://e.com/a"})).json() for _ in range(4)]

    same = await bodies(seed=1)
    assert same == [same[0]] * 4
    assert await bodies(seed=1) == same
    assert (await bodies(seed=2))[0]["file_id"] != same[0]["file_id"]
    varied = await bodies(seed=1, dynamic=True)
    assert len({json.dumps(b) for b in varied}) > 1
    assert await bodies(seed=1, dynamic=True) == varied  # seeded: a rerun is the same sequence


async def test_served_beside_the_bundled_providers_and_at_the_root() -> None:
    both = create_app(specs=(str(STUDIO),), providers=("modelslab",))
    assert sorted(both.state.engine.providers) == ["modelslab", "studio"]
    root = create_app(specs=(str(STUDIO),), root_provider="studio")
    async with _client(root) as client:
        assert (await client.get("/v1/portraits/p_1", headers=KEY)).status_code == 200


def test_what_the_mock_cannot_do_is_listed_at_start(tmp_path: Path) -> None:
    file = tmp_path / "odd.yaml"
    file.write_text(
        "openapi: 3.1.0\ninfo: {title: Odd, version: '1'}\npaths:\n"
        "  /never:\n    get:\n      operationId: never\n      responses:\n"
        "        '200': {description: no value fits, content: {application/json: {schema: {type: string, "
        "minLength: 5, maxLength: 2}}}}\n"
        "  /xml:\n    post:\n      operationId: xml\n      requestBody: {content: {application/xml: {}}}\n"
        "      responses: {'204': {description: ok}}\n"
        "  /wrong:\n    get:\n      operationId: wrong\n      responses:\n"
        "        '200': {description: a number, content: {application/json: {schema: {type: integer}, "
        "examples: {success: {value: seven}}}}}\n"
    )
    app = create_app(specs=(str(file),))
    notes = app.state.engine.providers["odd"].notes
    assert any("GET /never 200: cannot generate an answer" in n for n in notes)
    assert any("application/xml are accepted unchecked" in n for n in notes)
    assert any("GET /wrong 200: example success breaks its schema at /" in n for n in notes)


async def test_an_api_key_in_the_query_is_checked_and_redacted(tmp_path: Path) -> None:
    file = tmp_path / "query.yaml"
    file.write_text(
        "openapi: 3.1.0\ninfo: {title: Query Key, version: '1'}\nsecurity: [{q: []}]\n"
        "components: {securitySchemes: {q: {type: apiKey, in: query, name: api_key}}}\npaths:\n"
        "  /things:\n    get:\n      operationId: things\n      parameters:\n"
        "        - {name: tags, in: query, schema: {type: array, items: {type: integer}}, explode: false}\n"
        "      responses:\n        '200': {description: ok, content: {application/json: "
        "{schema: {type: array, items: {type: [integer, 'null']}}}}}\n"
    )
    app = create_app(specs=(str(file),), level="strict")
    async with _client(app, "http://mock.test/query-key") as client:
        assert (await client.get("/things")).status_code == 401
        ok = await client.get("/things", params={"api_key": "sk-query-secret", "tags": "1,2"})
        assert ok.status_code == 200
        assert (await client.get("/things", params={"api_key": "k", "tags": "1,x"})).status_code == 400
        journal = (await client.get("http://mock.test/__mock/journal")).json()["entries"]
    assert "sk-query-secret" not in json.dumps(journal)
    assert "api_key=***" in journal[1]["query"]
