"""Latency distributions: seeded, per provider or operation, the most specific first; bad entries
are refused at start with what to write instead."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from headshot_mock.mockserver import ConfigError, MockConfig, create_app
from headshot_mock.mockserver.faults import Latency
from tests.helpers import hs1_body

HEADSHOT = "/modelslab/api/v6/image_editing/head_shot"
AGENTAI = "/agentai/v1/action/instant_headshot_run_headshot_generation"


def draws(config: MockConfig, provider: str, operation: str, n: int = 20) -> list[float]:
    latency = Latency(config)
    return [latency.draw(provider, operation) for _ in range(n)]


def test_same_seed_same_delays_other_seed_other_delays() -> None:
    config = MockConfig(latency=("uniform:0.1,0.5",), seed=3)
    first = draws(config, "modelslab", "headShot")
    assert first == draws(config, "modelslab", "headShot")
    assert first != draws(config.replace(seed=4), "modelslab", "headShot")
    assert all(0.1 <= d <= 0.5 for d in first)


def test_lognormal_has_the_given_median() -> None:
    delays = sorted(draws(MockConfig(latency=("lognormal:0.2,0.5",)), "agentai", "op", n=2001))
    assert 0.17 < delays[1000] < 0.23
    assert delays[-1] > 0.4  # a long tail


def test_the_most_specific_entry_applies() -> None:
    config = MockConfig(
        latency=("fixed:0.01", "modelslab=fixed:0.02", "modelslab.fetchResult=fixed:0.03"),
    )
    latency = Latency(config)
    assert latency.draw("idphoto", "generatePortrait") == 0.01
    assert latency.draw("modelslab", "headShot") == 0.02
    assert latency.draw("modelslab", "fetchResult") == 0.03
    assert Latency(MockConfig()).draw("modelslab", "headShot") == 0.0


async def test_latency_delays_the_answer_and_shows_in_the_journal() -> None:
    app = create_app(latency=("modelslab=fixed:0.25",))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as client:
        started = time.monotonic()
        slow = await client.post(
            HEADSHOT, json={"key": "k", "prompt": "p", "face_image": "https://e.x/f.jpg"}
        )
        took = time.monotonic() - started
        fast = await client.post(AGENTAI, json=hs1_body(count="1"), headers={"authorization": "Bearer k"})
        entries = (await client.get("/__mock/journal")).json()["entries"]
    assert (slow.status_code, fast.status_code) == (200, 200)
    assert took >= 0.25
    assert entries[0]["duration_ms"] >= 250
    assert entries[1]["duration_ms"] < 250


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ("fixed", "fixed takes 1 number"),
        ("uniform:0.5", "uniform takes 2 number"),
        ("uniform:2,1", "LOW must not be above HIGH"),
        ("fixed:-1", "in 0..3600"),
        ("fixed:nan", "in 0..3600"),
        ("fixed:abc", "are not numbers"),
        ("gauss:1,2", "unknown distribution 'gauss'"),
        ("modelslap=fixed:1", "Did you mean 'modelslab'"),
        ("modelslab.headshot=fixed:1", "Did you mean 'headShot'"),
    ],
)
def test_bad_latency_entries_are_refused(entry: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        MockConfig(latency=(entry,))


def test_latency_from_the_environment_is_split_on_semicolons() -> None:
    config = MockConfig.load(environ={"HEADSHOT_MOCK_LATENCY": "uniform:0.1,0.2; agentai=fixed:1"})
    assert config.latency == ("uniform:0.1,0.2", "agentai=fixed:1")


def test_your_own_spec_takes_latency_by_its_id_and_operations() -> None:
    """`serve --spec studio.yaml --latency studio.createPortrait=fixed:1` (it was refused as an
    unknown provider: only the bundled ids were known)."""
    studio = str(Path(__file__).resolve().parents[1] / "fixtures" / "openapi" / "own" / "studio.yaml")
    config = MockConfig(specs=(studio,), latency=("studio=fixed:0.1", "studio.createPortrait=fixed:1"))
    assert [(r.provider, r.operation) for r in config.latency_rules] == [
        ("studio", None),
        ("studio", "createPortrait"),
    ]
    with pytest.raises(ConfigError, match=r"studio has no operation 'createPortrai'\. Did you mean"):
        MockConfig(specs=(studio,), latency=("studio.createPortrai=fixed:1",))
