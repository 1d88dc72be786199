"""An admin rule's use is spent only by a call whose answer the rule decided (docs/scenarios.md):
a call validation refuses spends a rule only when the rule's scenario still answers it
(`unauthorized`, `forbidden`, `rate_limited`) or is a fault; an unusable body, a missing key or
an enforced rate limit never spend one. Through HTTP, on the memory store and a real Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headshot_mock.mockserver import MockConfig, RedisStore, create_app
from headshot_mock.mockserver.scenarios import FAULTS
from headshot_mock.mockserver.stores import MemoryStore, Store

HEADSHOT = "/modelslab/api/v6/image_editing/head_shot"
GOOD = {"key": "k", "prompt": "p", "face_image": "https://example.com/f.jpg"}
REFUSED = {"key": "k", "prompt": 5, "face_image": "https://example.com/f.jpg"}  # refused at strict
UNREACHABLE = {**GOOD, "webhook": "http://[::1"}  # the schema takes it; the plug-in refuses it
STRICT = {"x-mock-validation": "strict"}


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    server = request.getfixturevalue("redis_session")
    redis = RedisStore(server.url, prefix=f"rules-{uuid.uuid4().hex[:8]}")
    try:
        yield redis
    finally:
        await redis.reset()
        await redis.close()


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config=MockConfig(enforce_rate_limits=True), store=store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as c:
        yield c


async def _rule(client: httpx.AsyncClient, scenario: str, times: int | None = 1, **more: Any) -> None:
    rule = {"provider": "modelslab", "operation": "headShot", "scenario": scenario, "times": times, **more}
    assert (await client.post("/__mock/rules", json=rule)).status_code == 201


async def _remaining(client: httpx.AsyncClient) -> list[Any]:
    return [(r["scenario"], r["remaining"]) for r in (await client.get("/__mock/rules")).json()["rules"]]


async def _last(client: httpx.AsyncClient) -> dict[str, Any]:
    entry: dict[str, Any] = (await client.get("/__mock/journal")).json()["entries"][-1]
    return entry


async def test_a_call_validation_refuses_does_not_spend_a_rule_it_would_not_answer(
    client: httpx.AsyncClient,
) -> None:
    await _rule(client, "error")
    refused = await client.post(HEADSHOT, json=REFUSED, headers=STRICT)
    assert (refused.status_code, refused.headers["x-mock-scenario"]) == (400, "invalid_request")
    assert (await _last(client))["scenario_source"] == "default"
    assert await _remaining(client) == [("error", 1)]
    decided = await client.post(HEADSHOT, json=GOOD)
    assert (decided.headers["x-mock-scenario"], (await _last(client))["scenario_source"]) == ("error", "rule")
    assert await _remaining(client) == []


@pytest.mark.parametrize(
    ("scenario", "status"),
    [
        pytest.param("rate_limited", 429, id="answers-before-validation"),
        pytest.param("unauthorized", 401, id="auth-error-before-validation"),
    ],
)
async def test_a_rule_that_answers_before_validation_is_spent_by_a_refused_call(
    client: httpx.AsyncClient, scenario: str, status: int
) -> None:
    await _rule(client, scenario, times=2)
    answer = await client.post(HEADSHOT, json=REFUSED, headers=STRICT)
    assert (answer.status_code, answer.headers["x-mock-scenario"]) == (status, scenario)
    assert (await _last(client))["scenario_source"] == "rule"
    assert await _remaining(client) == [(scenario, 1)]


async def test_a_fault_rule_is_spent_by_a_refused_call_and_breaks_its_answer(
    client: httpx.AsyncClient,
) -> None:
    await _rule(client, "malformed_json")
    answer = await client.post(HEADSHOT, json=REFUSED, headers=STRICT)
    assert answer.status_code == 400
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.content)  # the refusal, delivered broken as the fault says
    assert await _remaining(client) == []


@pytest.mark.parametrize(
    ("request_kwargs", "status"),
    [
        pytest.param(
            {"content": b'{"key": "k", ', "headers": {"content-type": "application/json"}},
            400,
            id="malformed",
        ),
        pytest.param({"json": {"prompt": "p", "face_image": "https://example.com/f.jpg"}}, 401, id="no-key"),
    ],
)
async def test_an_unusable_call_spends_no_rule_not_even_one_that_answers_early(
    client: httpx.AsyncClient, request_kwargs: dict[str, Any], status: int
) -> None:
    await _rule(client, "rate_limited")
    await _rule(client, "connection_reset")
    answer = await client.post(HEADSHOT, **request_kwargs)
    assert answer.status_code == status
    assert await _remaining(client) == [("rate_limited", 1), ("connection_reset", 1)]


async def test_a_body_the_plug_in_refuses_spends_no_rule_it_would_not_answer(
    client: httpx.AsyncClient,
) -> None:
    """A webhook URL no request could reach passes the schema and is refused by the plug-in: a
    `success` rule does not decide that answer, so it stays for the next call (it used to be
    spent by the refusal); a rule answering before validation still is."""
    await _rule(client, "success")
    refused = await client.post(HEADSHOT, json=UNREACHABLE)
    assert (refused.status_code, refused.headers["x-mock-scenario"]) == (400, "invalid_request")
    assert "webhook" in refused.text
    assert (await _last(client))["scenario_source"] == "default"
    assert await _remaining(client) == [("success", 1)]
    decided = await client.post(HEADSHOT, json=GOOD)
    assert (decided.status_code, (await _last(client))["scenario_source"]) == (200, "rule")
    assert await _remaining(client) == []
    await _rule(client, "rate_limited")
    limited = await client.post(HEADSHOT, json=UNREACHABLE)
    assert (limited.status_code, (await _last(client))["scenario_source"]) == (429, "rule")


async def test_the_first_rule_applies_or_none_does_a_later_one_is_not_spent_instead(
    client: httpx.AsyncClient,
) -> None:
    await _rule(client, "error")
    await _rule(client, "rate_limited")
    refused = await client.post(HEADSHOT, json=REFUSED, headers=STRICT)
    assert refused.headers["x-mock-scenario"] == "invalid_request"
    assert await _remaining(client) == [("error", 1), ("rate_limited", 1)]


async def test_an_enforced_rate_limit_answers_without_spending_a_rule(client: httpx.AsyncClient) -> None:
    agent = "/agentai/v1/action/instant_headshot_run_headshot_generation"
    body = {"image_url": "https://example.com/f.jpg"}
    bearer = {"authorization": "Bearer limited-key"}
    for _ in range(40):  # agent.ai's documented per-minute limit, then some
        if (await client.post(agent, json=body, headers=bearer)).status_code == 429:
            break
    else:
        pytest.fail("the enforced rate limit never answered 429")
    rule = {"provider": "agentai", "scenario": "server_error", "times": 1}
    assert (await client.post("/__mock/rules", json=rule)).status_code == 201
    limited = await client.post(agent, json=body, headers=bearer)
    assert limited.status_code == 429
    assert [r["remaining"] for r in (await client.get("/__mock/rules")).json()["rules"]] == [1]


CALLS = st.lists(
    st.sampled_from(["good", "refused", "malformed", "no-key", "unreachable"]), min_size=1, max_size=8
)
RULES = st.lists(
    st.tuples(
        st.sampled_from(["error", "rate_limited", "malformed_json", "server_error", "success", "processing"]),
        st.integers(1, 3),
    ),
    min_size=1,
    max_size=3,
)
BODIES: dict[str, dict[str, Any]] = {
    "good": {"json": GOOD},
    "refused": {"json": REFUSED, "headers": STRICT},
    "malformed": {"content": b"{", "headers": {"content-type": "application/json"}},
    "no-key": {"json": {"prompt": "p", "face_image": "https://example.com/f.jpg"}},
    "unreachable": {"json": UNREACHABLE},
}


@settings(max_examples=30, derandomize=True, deadline=None)
@given(rules=RULES, calls=CALLS)
def test_uses_spent_equal_the_calls_a_rule_answered(rules: list[tuple[str, int]], calls: list[str]) -> None:
    """Whatever the mix: the uses the rules lost are exactly the journal entries a rule answered."""

    async def run() -> tuple[int, int]:
        app = create_app(config=MockConfig(), store=MemoryStore())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as c:
            for scenario, times in rules:
                await _rule(c, scenario, times=times)
            for call in calls:
                await c.post(HEADSHOT, **BODIES[call])
            entries = (await c.get("/__mock/journal")).json()["entries"]
            left = sum(r["remaining"] for r in (await c.get("/__mock/rules")).json()["rules"])
        ruled = [e for e in entries if e["scenario_source"] == "rule"]
        # what a rule answered is its scenario (a fault breaks whatever the answer was)
        assert all(
            e["scenario"] == e["requested_scenario"] or e["requested_scenario"] in FAULTS for e in ruled
        )
        return sum(times for _, times in rules) - left, len(ruled)

    spent, answered = asyncio.run(run())
    assert spent == answered
