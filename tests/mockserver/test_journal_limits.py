"""Journal entries are bounded in bytes: big headers and bodies are cut where they are recorded,
with a marker saying how much is missing, and secrets stay redacted. Through HTTP (ASGI)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headshot_mock.mockserver import MockConfig, create_app
from headshot_mock.mockserver.journal import cut_marker, cut_text

PORTRAIT = "/idphoto/api/generate-portrait"
HEADSHOT = "/modelslab/api/v6/image_editing/head_shot"
BUDGET = 8192
MARKER = re.compile(r"…\[cut \d+(\.\d)? (B|kB|MB)\]")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config=MockConfig(journal_entry_bytes=BUDGET))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:4010"
    ) as c:
        yield c


async def _entry(client: httpx.AsyncClient) -> dict[str, Any]:
    [entry] = (await client.get("/__mock/journal")).json()["entries"]
    return entry  # type: ignore[no-any-return]


def _size(value: Any) -> int:
    return len(json.dumps(value))


async def test_a_huge_header_is_cut_with_a_marker_and_the_rest_counted(client: httpx.AsyncClient) -> None:
    headers = {"x-big": "v" * 1_200_000, **{f"x-more-{i}": "w" * 100 for i in range(50)}}
    body = {"apiKey": "secret-key", "prompt": "p", "inputImages": ["data:image/jpeg;base64,/9j/"]}
    response = await client.post(PORTRAIT, json=body, headers=headers)
    assert response.status_code == 200
    recorded = (await _entry(client))["request"]["headers"]
    assert recorded["x-big"].endswith("…[cut 1.2 MB]")
    assert int(recorded["…"].split()[0]) >= 50  # the x-more-* headers after x-big
    assert MARKER.search(recorded["…"])
    assert _size(recorded) <= BUDGET // 4 + 200


async def test_a_big_body_is_cut_after_redaction(client: httpx.AsyncClient) -> None:
    # Many short strings: nothing for the long-string redaction to shrink, 1 MB all the same.
    body = {
        "key": "secret-key",
        "prompt": "p",
        "face_image": "https://example.com/face.jpg",
        "negative_prompt": " ".join(["word"] * 10),
        "extra": [f"item-{i}" for i in range(100_000)],
    }
    response = await client.post(HEADSHOT, json=body)
    assert response.status_code == 200
    kept = (await _entry(client))["request"]["body"]
    assert isinstance(kept, str)
    assert kept.startswith('{"key": "***"')  # redacted before it was cut
    assert "secret-key" not in kept
    assert MARKER.search(kept)
    assert len(kept) <= BUDGET // 4


async def test_bodies_under_the_budget_are_kept_whole(client: httpx.AsyncClient) -> None:
    body = {"apiKey": "secret-key", "prompt": "p" * 300, "inputImages": ["data:image/jpeg;base64,/9j/"]}
    await client.post(PORTRAIT, json=body)
    kept = (await _entry(client))["request"]["body"]
    assert kept["apiKey"] == "***"
    assert kept["prompt"] == "<text: 300 chars redacted>"


async def test_a_long_query_is_cut(client: httpx.AsyncClient) -> None:
    body = {"apiKey": "k", "prompt": "p", "inputImages": ["data:image/jpeg;base64,/9j/"]}
    await client.post(PORTRAIT, json=body, params={"q": "x" * 50_000})
    query = (await _entry(client))["query"]
    assert len(query) <= BUDGET // 8
    assert MARKER.search(query)


async def test_the_whole_entry_stays_within_the_budget_whatever_is_sent(client: httpx.AsyncClient) -> None:
    headers = {f"x-h{i}": "h" * 2000 for i in range(40)}
    body = {"key": "k", "prompt": "p", "face_image": "https://example.com/face.jpg", "x": ["y"] * 200_000}
    await client.post(HEADSHOT, json=body, headers=headers, params={"q": "z" * 40_000})
    entry = await _entry(client)
    assert _size(entry) <= BUDGET + 2048  # the fixed fields (time, ids, level ...) on top


def test_journal_entry_bytes_is_checked() -> None:
    with pytest.raises(Exception, match="journal_entry_bytes must be >= 1024"):
        MockConfig(journal_entry_bytes=10)


@settings(max_examples=200, derandomize=True)
@given(st.text(max_size=400), st.integers(min_value=20, max_value=300))
def test_cut_text_is_bounded_and_marks_what_it_cut(text: str, limit: int) -> None:
    cut = cut_text(text, limit)
    assert len(cut) <= limit
    if len(text) <= limit:
        assert cut == text
    else:
        assert cut.endswith(cut_marker(len(text) - len(cut.rsplit("…[cut", 1)[0])))
        assert text.startswith(cut.rsplit("…[cut", 1)[0])


@pytest.mark.parametrize(
    ("missing", "marker"),
    [(5, "…[cut 5 B]"), (999, "…[cut 999 B]"), (1500, "…[cut 1.5 kB]"), (1_234_567, "…[cut 1.2 MB]")],
)
def test_cut_marker_units(missing: int, marker: str) -> None:
    assert cut_marker(missing) == marker
