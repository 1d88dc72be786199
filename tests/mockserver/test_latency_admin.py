"""`GET/PUT/DELETE /__mock/latency`: latency distributions set while the mock runs, checked like
`--latency`, answered as admin.yaml says (every answer validated against it), shared by every
worker of a Redis store. Through HTTP."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headshot_mock.mockserver import MockConfig, RedisStore, create_app
from tests.mockserver.test_admin import assert_problem, checked_client

PORTRAIT = "/idphoto/api/generate-portrait"
BODY = {"apiKey": "k", "prompt": "p", "inputImages": ["data:image/jpeg;base64,/9j/"]}
HEADSHOT = "/modelslab/api/v6/image_editing/head_shot"


async def _timed(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    assert (await client.post(path, json=body)).status_code == 200
    return time.perf_counter() - started


async def test_latency_is_the_servers_until_set_and_back_after_delete() -> None:
    app = create_app(config=MockConfig(latency=("idphoto=fixed:0.3",)))
    async with checked_client(app) as client:
        assert (await client.get("/__mock/latency")).json() == {
            "latency": ["idphoto=fixed:0.3"],
            "source": "config",
            "config": ["idphoto=fixed:0.3"],
        }
        assert await _timed(client, PORTRAIT, BODY) >= 0.3
        put = await client.put("/__mock/latency", json={"latency": []})
        assert put.json() == {"latency": [], "source": "admin", "config": ["idphoto=fixed:0.3"]}
        assert await _timed(client, PORTRAIT, BODY) < 0.25  # none at all now
        assert (await client.delete("/__mock/latency")).status_code == 204
        assert (await client.get("/__mock/latency")).json()["source"] == "config"
        assert await _timed(client, PORTRAIT, BODY) >= 0.3


async def test_set_latency_applies_per_provider_and_operation_and_a_reset_forgets_it() -> None:
    app = create_app(config=MockConfig())
    async with checked_client(app) as client:
        entries = ["idphoto=fixed:0.3", "modelslab.fetchResult=fixed:0.6"]
        assert (await client.put("/__mock/latency", json={"latency": entries})).status_code == 200
        assert await _timed(client, PORTRAIT, BODY) >= 0.3
        assert (
            await _timed(client, HEADSHOT, {"key": "k", "prompt": "p", "face_image": "https://e.com/f.jpg"})
            < 0.25
        )
        [entry] = (await client.get("/__mock/journal", params={"provider": "idphoto"})).json()["entries"]
        assert entry["duration_ms"] >= 300
        assert (await client.post("/__mock/reset")).status_code == 204
        assert (await client.get("/__mock/latency")).json() == {
            "latency": [],
            "source": "config",
            "config": [],
        }
        assert await _timed(client, PORTRAIT, BODY) < 0.25


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        pytest.param({"latency": "fixed:1"}, "must be a list", id="not-a-list"),
        pytest.param({"latency": [1.5]}, "must be a list", id="not-strings"),
        pytest.param({"latency": ["fixd:1"]}, "Did you mean 'fixed'", id="unknown-kind"),
        pytest.param({"latency": ["uniform:2,1"]}, "LOW must not be above HIGH", id="low-above-high"),
        pytest.param({"latency": ["fixed:1e400"]}, "0..3600", id="huge"),
        pytest.param({"latency": ["agentia=fixed:1"]}, "Did you mean 'agentai'", id="unknown-provider"),
        pytest.param({"latency": ["modelslab.headshot=fixed:1"]}, "Did you mean 'headShot'", id="operation"),
        pytest.param({"latency": [".headShot=fixed:1"]}, "needs its provider", id="operation-alone"),
        pytest.param({"latency": ["fixed:0.1"] * 101}, "at most 100", id="too-many"),
        pytest.param({"latency": ["fixed:" + "0" * 300]}, "200 characters", id="too-long"),
        pytest.param({"latencies": []}, "Did you mean 'latency'", id="misspelt-field"),
        pytest.param({}, "needs 'latency'", id="missing-field"),
    ],
)
async def test_bad_latency_is_a_problem_and_changes_nothing(body: dict[str, Any], needle: str) -> None:
    app = create_app(config=MockConfig(latency=("fixed:0.01",)))
    async with checked_client(app) as client:
        assert_problem(await client.put("/__mock/latency", json=body), 400, needle)
        assert (await client.get("/__mock/latency")).json()["source"] == "config"


async def test_malformed_json_and_a_foreign_origin_are_refused() -> None:
    app = create_app(config=MockConfig())
    async with checked_client(app) as client:
        bad = await client.put("/__mock/latency", content=b"[", headers={"content-type": "application/json"})
        assert_problem(bad, 400)
        cross = await client.put(
            "/__mock/latency", json={"latency": []}, headers={"origin": "https://evil.example"}
        )
        assert cross.status_code == 403


ENTRY = st.one_of(
    st.builds(lambda s: f"fixed:{s}", st.floats(0, 3600, allow_nan=False)),
    st.builds(lambda a, b: f"uniform:{min(a, b)},{max(a, b)}", st.floats(0, 5), st.floats(0, 5)),
    st.builds(lambda m, s: f"agentai=lognormal:{m},{s}", st.floats(0, 5), st.floats(0, 3)),
    st.text(max_size=30),  # anything at all
)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(entries=st.lists(ENTRY, max_size=4))
def test_any_latency_body_is_stored_whole_or_refused_whole_never_a_5xx(entries: list[str]) -> None:
    """What PUT accepts, GET gives back exactly; what it refuses leaves the previous entries."""

    async def run() -> None:
        app = create_app(config=MockConfig())
        async with checked_client(app) as client:
            await client.put("/__mock/latency", json={"latency": ["fixed:0"]})
            answer = await client.put("/__mock/latency", json={"latency": entries})
            assert answer.status_code in (200, 400), answer.text
            now = (await client.get("/__mock/latency")).json()["latency"]
            assert now == (entries if answer.status_code == 200 else ["fixed:0"])

    asyncio.run(run())


@pytest.mark.redis
async def test_latency_set_through_one_worker_applies_on_another(redis_session: Any) -> None:
    prefix = f"latency-{uuid.uuid4().hex[:8]}"
    stores = [RedisStore(redis_session.url, prefix=prefix) for _ in range(2)]
    one, other = (create_app(config=MockConfig(), store=store) for store in stores)
    try:
        async with checked_client(one) as a, checked_client(other) as b:
            assert await _timed(b, PORTRAIT, BODY) < 0.25  # b has read "none" already
            assert (
                await a.put("/__mock/latency", json={"latency": ["idphoto=fixed:0.4"]})
            ).status_code == 200
            assert (await b.get("/__mock/latency")).json()["latency"] == ["idphoto=fixed:0.4"]
            await asyncio.sleep(0.3)  # past the other worker's refresh interval
            assert await _timed(b, PORTRAIT, BODY) >= 0.4
            assert (await b.delete("/__mock/latency")).status_code == 204
            await asyncio.sleep(0.3)
            assert await _timed(a, PORTRAIT, BODY) < 0.25
    finally:
        await stores[0].reset()
        for store in stores:
            await store.close()
