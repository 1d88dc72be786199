"""Rate limits from the specs (``x-provider.rate-limits``): always counted and reported where the
provider reports them, enforced with ``enforce_rate_limits``. Through HTTP (ASGI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from headshot_mock.mockserver import create_app
from tests.helpers import hs1_body

AGENTAI = "/agentai/v1/action/instant_headshot_run_headshot_generation"
HEADSHOT = "/modelslab/api/v6/image_editing/head_shot"
PORTRAIT = "/idphoto/api/generate-portrait"


@asynccontextmanager
async def mock(**options: object) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(**options)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_agentai_counts_and_reports_without_enforcing() -> None:
    async with mock() as client:
        body = hs1_body(count="1")
        answers = [await client.post(AGENTAI, json=body, headers=bearer("a")) for _ in range(22)]
    assert {a.status_code for a in answers} == {200}
    assert [a.headers["ratelimit-remaining"] for a in answers[:3]] == ["19", "18", "17"]
    assert answers[-1].headers["ratelimit-remaining"] == "0"
    assert all(a.headers["ratelimit-limit"] == "20" for a in answers)
    assert "retry-after" not in answers[0].headers


async def test_agentai_enforced_past_20_a_minute_per_key_until_the_window_resets() -> None:
    async with mock(enforce_rate_limits=True) as client:
        body = hs1_body(count="1")
        for _ in range(20):
            assert (await client.post(AGENTAI, json=body, headers=bearer("a"))).status_code == 200
        refused = await client.post(AGENTAI, json=body, headers=bearer("a"))
        other_key = await client.post(AGENTAI, json=body, headers=bearer("b"))
        reset = int(refused.headers["ratelimit-reset"])
        now = (await client.get("/__mock/clock")).json()
        await client.post("/__mock/clock", json={"advance": 61})
        again = await client.post(AGENTAI, json=body, headers=bearer("a"))
        entries = (await client.get("/__mock/journal", params={"status": "429"})).json()["entries"]
    assert refused.status_code == 429
    assert refused.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert reset % 60 == 0
    assert now is not None
    assert other_key.status_code == 200
    assert again.status_code == 200
    assert [(e["scenario"], e["scenario_source"]) for e in entries] == [("rate_limited", "rate_limit")]


async def test_modelslab_queue_limit_counts_jobs_still_processing() -> None:
    async with mock(enforce_rate_limits=True) as client:
        body = {"key": "mock-stuck", "prompt": "p", "face_image": "https://example.com/face.jpg"}
        queued = [await client.post(HEADSHOT, json=body) for _ in range(5)]
        refused = await client.post(HEADSHOT, json={**body, "key": "k"})
    assert [q.json()["status"] for q in queued] == ["processing"] * 5
    assert refused.status_code == 429
    assert refused.json()["status"] == "error"  # ModelsLab's own envelope


async def test_modelslab_finished_jobs_do_not_count() -> None:
    async with mock(enforce_rate_limits=True) as client:
        body = {"key": "k", "prompt": "p", "face_image": "https://example.com/face.jpg"}
        answers = [await client.post(HEADSHOT, json=body) for _ in range(8)]
    assert {a.status_code for a in answers} == {200}


async def test_a_provider_without_documented_limits_is_never_limited() -> None:
    async with mock(enforce_rate_limits=True) as client:
        body = {"apiKey": "k", "prompt": "p", "inputImages": ["data:image/png;base64,AA=="]}
        answers = [await client.post(PORTRAIT, json=body) for _ in range(25)]
    assert {a.status_code for a in answers} == {200}
    assert "ratelimit-limit" not in answers[0].headers
