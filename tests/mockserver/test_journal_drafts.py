"""The memory store keeps a small request's journal entry as a draft and writes it out when it is
first read. What a reader gets must be exactly what writing it out at the time of the request
gave, whatever came after (other requests, jobs moving on, polls, fetches); and what it holds is
bounded as written-out entries are."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headshot_mock import specs
from headshot_mock.mockserver import MockConfig, create_app
from headshot_mock.mockserver.journal import DRAFT_BYTES, Draft, written
from headshot_mock.mockserver.stores import MemoryStore
from headshot_mock.mockserver.stores.base import Limits, Record

SECRET = "sk-planted-0123456789"
HEADSHOT = "/modelslab/api/v6/image_editing/head_shot"


class AtOnce(MemoryStore):
    """A memory store that also writes every entry out the moment it is appended: the record a
    draft must still give when it is read later."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.at_append: dict[int, Record] = {}

    async def journal_append(self, entry: Record | Draft) -> int:
        seq = await super().journal_append(entry)
        if not isinstance(entry, dict) or entry.get("kind") != "webhook":
            self.at_append[seq] = json.loads(json.dumps({**written(entry), "seq": seq}))
        return seq


@contextlib.asynccontextmanager
async def _client(store: MemoryStore, config: MockConfig | None = None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(config=config or MockConfig(), store=store))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4010") as client:
        yield client


def _calls() -> list[tuple[str, str, Any]]:
    """(method, path, body) of every operation of the bundled providers: the first request
    example of each JSON body; a path's parameters get the last ``id`` an answer gave."""
    out = []
    for pid in specs.providers():
        spec = specs.load(pid)
        for op in spec.operations:
            body = None
            if "requestBody" in op.definition:
                content = spec.resolve(op.definition["requestBody"]).get("content", {})
                media = content.get("application/json")
                if not media:
                    continue
                examples = [spec.resolve(e).get("value") for e in (media.get("examples") or {}).values()]
                body = next((e for e in examples if isinstance(e, dict)), None)
                if body is None:
                    continue
            out.append((op.method, f"/{pid}{op.base_path}{op.path}", body))
    return out


CALLS = _calls()


def _fill(path: str, last_id: str) -> str:
    while "{" in path:
        head, _, rest = path.partition("{")
        path = head + last_id + rest.partition("}")[2]
    return path


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    calls=st.lists(
        st.tuples(
            st.sampled_from(range(len(CALLS))),
            st.sampled_from(["", f"key={SECRET}", "a=1&token=t0k", "x=" + "y" * 600]),
            st.sampled_from([{}, {"authorization": f"Bearer {SECRET}"}, {"x-api-key": SECRET}]),
            st.sampled_from([None, "\u00e9t\u00e9", "z" * 300, 12, [1, {"a": None}]]),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    ),
    scenario=st.sampled_from(["", "processing", "error"]),
)
def test_a_draft_read_later_is_the_entry_written_at_the_request(
    calls: list[tuple[int, str, dict[str, str], Any, bool]], scenario: str
) -> None:
    async def go() -> None:
        store = AtOnce()
        last_id = "1"
        async with _client(store, MockConfig(time_scale=0)) as client:
            for index, query, extra, planted, advance in calls:
                method, path, body = CALLS[index]
                headers = {**extra, **({"x-mock-scenario": scenario} if scenario and body else {})}
                if body is not None and planted is not None:
                    body = {**body, next(iter(body)): planted}
                url = _fill(path, last_id) + (f"?{query}" if query else "")
                response = await client.request(method, url, headers=headers, json=body)
                assert response.status_code < 500, response.text
                answer = response.json() if "json" in response.headers.get("content-type", "") else None
                if isinstance(answer, dict) and isinstance(answer.get("id"), str | int):
                    last_id = str(answer["id"])
                if advance:  # jobs move on, downloads expire
                    assert (await client.post("/__mock/clock", json={"advance": 600})).status_code == 200
            read = (await client.get("/__mock/journal")).json()["entries"]
        requests = [e for e in read if e.get("kind") != "webhook"]
        assert {e["seq"] for e in requests} == set(store.at_append)  # every call journaled is read
        for entry in requests:
            assert entry == store.at_append[entry["seq"]]
        assert SECRET not in json.dumps(read)

    asyncio.run(go())


def test_a_small_entry_is_kept_as_a_draft_until_read_then_as_its_bytes() -> None:
    async def go() -> None:
        store = MemoryStore()
        async with _client(store) as client:
            body = {"key": SECRET, "prompt": "p", "face_image": "https://e.com/f.jpg"}
            assert (await client.post(HEADSHOT, json=body)).status_code == 200
            [kept] = store._journal.kept("request")
            assert isinstance(kept.data, Draft)
            [entry] = (await client.get("/__mock/journal")).json()["entries"]
            assert entry["request"]["body"]["key"] == "***"
            assert isinstance(kept.data, bytes)
            assert SECRET.encode() not in kept.data

    asyncio.run(go())


def test_a_large_entry_is_written_out_at_once() -> None:
    async def go() -> None:
        store = MemoryStore()
        async with _client(store) as client:
            body = {"key": SECRET, "prompt": "p" * DRAFT_BYTES, "face_image": "https://e.com/f.jpg"}
            await client.post(HEADSHOT, json=body)
            [kept] = store._journal.kept("request")
            assert isinstance(kept.data, bytes)  # no raw body (nor its key) held for a cut entry
            assert SECRET.encode() not in kept.data
            assert len(kept.data) < DRAFT_BYTES

    asyncio.run(go())


def test_drafts_count_against_the_journal_byte_limit() -> None:
    async def go() -> None:
        limit = 20_000
        store = MemoryStore(limits=Limits(journal_bytes=limit))
        async with _client(store) as client:
            body = {"key": "k", "prompt": "p" * 2000, "face_image": "https://e.com/f.jpg"}
            for _ in range(40):
                await client.post(HEADSHOT, json=body)
            held = await store.journal_count()
            assert 1 < held < 40
            assert store._journal.bytes_held("request") <= limit
            entries = (await client.get("/__mock/journal")).json()["entries"]
            assert len(entries) == held  # written out, nothing lost
            assert store._journal.bytes_held("request") == sum(k.size for k in store._journal.kept("request"))

    asyncio.run(go())
