"""Scenario selection: header / Prefer > API key > admin rule > server default."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headshot_mock.mockserver import MockConfig, create_app
from headshot_mock.mockserver.scenarios import Example

HEAD_SHOT = "/modelslab/api/v6/image_editing/head_shot"
BODY = {"key": "k", "prompt": "p", "face_image": "https://example.com/face.jpg"}
IDPHOTO = {"apiKey": "k", "prompt": "p", "inputImages": ["data:image/jpeg;base64,AA=="]}


async def test_default_is_success(client: httpx.AsyncClient) -> None:
    response = await client.post(HEAD_SHOT, json=BODY)
    assert response.json()["status"] == "success"
    assert response.headers["x-mock-scenario"] == "success"


@pytest.mark.parametrize(
    ("headers", "key", "expected"),
    [
        pytest.param({"x-mock-scenario": "error"}, "k", "error", id="header"),
        pytest.param({"prefer": "code=429"}, "k", "rate_limited", id="prefer-code"),
        pytest.param({"prefer": "example=processing"}, "k", "processing", id="prefer-example"),
        pytest.param({}, "mock-rate_limited", "rate_limited", id="api-key"),
        pytest.param({"x-mock-scenario": "error"}, "mock-rate_limited", "error", id="header-beats-key"),
        pytest.param({}, "mock-not-a-scenario", "success", id="other-mock-key-is-default"),
    ],
)
async def test_selection_order(
    client: httpx.AsyncClient, headers: dict[str, str], key: str, expected: str
) -> None:
    response = await client.post(HEAD_SHOT, json={**BODY, "key": key}, headers=headers)
    assert response.headers["x-mock-scenario"] == expected


async def test_rule_beats_default_and_key_beats_rule(client: httpx.AsyncClient) -> None:
    rule = {"provider": "modelslab", "operation": "headShot", "scenario": "server_error", "times": 1}
    (await client.post("/__mock/rules", json=rule)).raise_for_status()
    (await client.post("/__mock/rules", json=rule)).raise_for_status()
    assert (await client.post(HEAD_SHOT, json={**BODY, "key": "mock-error"})).headers[
        "x-mock-scenario"
    ] == "error"
    assert (await client.post(HEAD_SHOT, json=BODY)).status_code == 500
    assert (await client.post(HEAD_SHOT, json=BODY)).status_code == 500
    assert (await client.post(HEAD_SHOT, json=BODY)).status_code == 200


async def test_server_default_scenario() -> None:
    app = create_app(config=MockConfig(scenario="rate_limited"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as c:
        assert (await c.post(HEAD_SHOT, json=BODY)).status_code == 429
        assert (await c.post("/idphoto/api/generate-portrait", json=IDPHOTO)).status_code == 429
        # A default an operation does not have leaves that operation at success.
        system = "/modelslab/api/v1/enterprise/image_editing/system_details"
        assert (await c.post(system, json={"key": "k"})).status_code == 200


async def test_unknown_scenario_is_a_problem_with_a_suggestion(client: httpx.AsyncClient) -> None:
    response = await client.post(HEAD_SHOT, json=BODY, headers={"x-mock-scenario": "rate_limit"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "Did you mean 'rate_limited'?" in response.json()["detail"]


async def test_prefer_code_the_operation_lacks_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(HEAD_SHOT, json=BODY, headers={"prefer": "code=418"})
    assert response.status_code == 400
    assert "has no response example with status 418" in response.json()["detail"]


async def test_scenario_that_does_not_apply_leaves_the_operation_at_success(
    client: httpx.AsyncClient,
) -> None:
    # no_face is a Magic Hour project outcome: the upload-urls call still succeeds.
    response = await client.post(
        "/magichour/v1/files/upload-urls",
        json={"items": [{"type": "image", "extension": "png"}]},
        headers={"authorization": "Bearer mock-no_face"},
    )
    assert response.status_code == 200
    assert response.json()["items"][0]["file_path"].startswith("api-assets/")


@pytest.mark.parametrize(
    ("provider_path", "body", "headers", "scenario", "status", "field"),
    [
        pytest.param(
            "/agentai/v1/action/instant_headshot_run_headshot_generation",
            {"photos_json": '[{"base64": "AA==", "mimeType": "image/jpeg"}]', "output_variable_name": "r"},
            {"authorization": "Bearer k"},
            "moderation_blocked",
            422,
            "error",
            id="agentai-moderation",
        ),
        pytest.param(
            "/idphoto/api/generate-portrait", IDPHOTO, {}, "no_face", 422, "error", id="idphoto-no-face"
        ),
        pytest.param(HEAD_SHOT, BODY, {}, "insufficient_credits", 402, "message", id="modelslab-credits"),
    ],
)
async def test_provider_specific_scenarios(
    client: httpx.AsyncClient,
    provider_path: str,
    body: dict[str, str],
    headers: dict[str, str],
    scenario: str,
    status: int,
    field: str,
) -> None:
    response = await client.post(provider_path, json=body, headers={**headers, "x-mock-scenario": scenario})
    assert response.status_code == status
    assert field in response.json()


async def test_slow_adds_latency() -> None:
    import time

    app = create_app(config=MockConfig(slow_seconds=0.2))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as c:
        started = time.perf_counter()
        response = await c.post(HEAD_SHOT, json={**BODY, "key": "mock-slow"})
        assert time.perf_counter() - started >= 0.2
        assert response.json()["status"] == "success"


async def test_timeout_holds_the_request_past_the_clients_timeout() -> None:
    app = create_app(config=MockConfig(timeout_seconds=5))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as c:
        held = c.post(HEAD_SHOT, json={**BODY, "key": "mock-timeout"})
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(held, timeout=0.3)


async def test_a_held_request_follows_the_mock_clock() -> None:
    """Real time moves the mock clock, so a held request waits the full hold for real; moving
    the clock past the hold (what ``ClientSuite`` does once the client gave up) ends it at once."""
    import time

    app = create_app(config=MockConfig(timeout_seconds=60))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as c:
        started = time.perf_counter()
        held = asyncio.ensure_future(c.post(HEAD_SHOT, json={**BODY, "key": "mock-timeout"}))
        await asyncio.sleep(0.2)
        assert not held.done()
        await c.post("/__mock/clock", json={"advance": 60})
        response = await asyncio.wait_for(held, timeout=5)
        assert response.json()["status"] == "success"
        assert time.perf_counter() - started < 5


async def test_a_hold_left_alone_lasts_its_real_seconds() -> None:
    import time

    app = create_app(config=MockConfig(timeout_seconds=0.3))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as c:
        started = time.perf_counter()
        response = await c.post(HEAD_SHOT, json={**BODY, "key": "mock-timeout"})
        assert time.perf_counter() - started >= 0.3
        assert response.json()["status"] == "success"


async def test_journal_records_the_scenario_and_its_source(client: httpx.AsyncClient) -> None:
    await client.post(HEAD_SHOT, json={**BODY, "key": "mock-error"})
    entry = (await client.get("/__mock/journal")).json()["entries"][-1]
    assert (entry["scenario"], entry["scenario_source"]) == ("error", "key")
    assert entry["request"]["body"]["key"] == "mock-error"


@pytest.mark.parametrize(
    ("quality", "count", "seconds"),
    [
        pytest.param("standard", "2", 2 * 15, id="standard-15s-per-image"),
        pytest.param("high", "1", 30, id="high-30s-per-image"),
    ],
)
async def test_agentai_takes_its_realistic_time_when_a_time_scale_is_set(
    quality: str, count: str, seconds: int
) -> None:
    import time

    scale = 0.02
    app = create_app(config=MockConfig(time_scale=scale))
    body = {
        "photos_json": '[{"base64": "AA==", "mimeType": "image/jpeg"}]',
        "style": "professional",
        "background": "office",
        "attire": "casual",
        "output_variable_name": "r",
        "count": count,
        "quality": quality,
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as c:
        started = time.perf_counter()
        answer = await c.post(
            "/agentai/v1/action/instant_headshot_run_headshot_generation",
            json=body,
            headers={"authorization": "Bearer k"},
        )
        took = time.perf_counter() - started
    assert answer.status_code == 200
    assert seconds * scale <= took < seconds * scale + 1.0


# ---- a scenario asked for on a poll -------------------------------------------------------------

ML = "/modelslab/api/v6/image_editing"
ML_BODY = {"prompt": "p", "face_image": "https://example.com/f.jpg"}
MH = "/magichour/v1"
MH_AUTH = {"authorization": "Bearer k"}
MH_BODY = {"assets": {"image_file_path": "https://example.com/f.jpg"}}


@pytest.mark.parametrize(
    ("ask", "scenario"),
    [
        pytest.param({"x-mock-scenario": "failed"}, "failed", id="header"),
        pytest.param({"prefer": "example=stuck"}, "stuck", id="prefer"),
    ],
)
async def test_a_job_outcome_asked_on_a_modelslab_fetch_is_refused(
    client: httpx.AsyncClient, ask: dict[str, str], scenario: str
) -> None:
    queued = (await client.post(f"{ML}/head_shot", json={**ML_BODY, "key": "mock-processing"})).json()
    answer = await client.post(f"{ML}/fetch/{queued['id']}", json={"key": "k"}, headers=ask)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["title"] == "Scenario asked for on a poll"
    assert "ask for it on the call that creates the job (headShot" in problem["detail"]
    assert f"mock-{scenario}" in problem["detail"]


async def test_a_job_outcome_asked_on_a_magichour_project_get_is_refused(client: httpx.AsyncClient) -> None:
    project = (await client.post(f"{MH}/ai-headshot-generator", json=MH_BODY, headers=MH_AUTH)).json()
    answer = await client.get(
        f"{MH}/image-projects/{project['id']}", headers={**MH_AUTH, "x-mock-scenario": "canceled"}
    )
    assert answer.status_code == 400
    assert "ask for it on the call that creates the job (createAiHeadshot)" in answer.json()["detail"]


async def test_answers_a_poll_can_give_are_still_asked_there(client: httpx.AsyncClient) -> None:
    project = (await client.post(f"{MH}/ai-headshot-generator", json=MH_BODY, headers=MH_AUTH)).json()
    limited = await client.get(
        f"{MH}/image-projects/{project['id']}", headers={**MH_AUTH, "x-mock-scenario": "rate_limited"}
    )
    assert limited.status_code == 429
    assert limited.headers["x-mock-scenario"] == "rate_limited"
    queued = (await client.post(f"{ML}/head_shot", json={**ML_BODY, "key": "mock-processing"})).json()
    missing = await client.post(
        f"{ML}/fetch/{queued['id']}", json={"key": "k"}, headers={"x-mock-scenario": "not_found"}
    )
    assert missing.headers["x-mock-scenario"] == "not_found"


@pytest.mark.parametrize("key", ["mock-failed", "mock-processing"])
async def test_a_modelslab_poll_names_the_jobs_scenario(client: httpx.AsyncClient, key: str) -> None:
    queued = (await client.post(f"{ML}/head_shot", json={**ML_BODY, "key": key})).json()
    seen = set()
    for _ in range(3):
        answer = await client.post(f"{ML}/fetch/{queued['id']}", json={"key": "any-key"})
        seen.add(answer.headers["x-mock-scenario"])
    assert seen == {key.removeprefix("mock-")}


@pytest.mark.parametrize("key", ["mock-no_face", "mock-error", "mock-canceled"])
async def test_a_magichour_poll_names_the_jobs_scenario(client: httpx.AsyncClient, key: str) -> None:
    auth = {"authorization": f"Bearer {key}"}
    project = (await client.post(f"{MH}/ai-headshot-generator", json=MH_BODY, headers=auth)).json()
    states, headers = [], set()
    for _ in range(4):  # a plain key on the polls, as an SDK sends one key
        answer = await client.get(f"{MH}/image-projects/{project['id']}", headers=MH_AUTH)
        states.append(answer.json()["status"])
        headers.add(answer.headers["x-mock-scenario"])
    assert states[-1] in ("error", "canceled")
    assert headers == {key.removeprefix("mock-")}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)
_OBJECTS = st.dictionaries(st.text(max_size=5), _JSON, max_size=6)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(value=_OBJECTS, fields=_OBJECTS)
def test_a_filled_example_is_its_body_updated_and_shares_nothing_it_keeps(
    value: dict[str, Any], fields: dict[str, Any]
) -> None:
    example = Example("success", 200, "application/json", value)
    expected = example.body()
    expected.update(fields)
    filled = example.filled(fields)
    assert json.dumps(filled) == json.dumps(expected)  # the same values, keys in the same order
    for key, kept in filled.items():
        if key not in fields and isinstance(kept, list | dict):
            kept.clear()  # an answer changed afterwards: the example is not
    assert example.body() == value
    assert example.filled(fields) == expected


def test_only_an_object_example_can_be_filled() -> None:
    with pytest.raises(TypeError, match="'error' example is not a JSON object"):
        Example("error", 500, "text/plain", "boom").filled({"id": 1})
