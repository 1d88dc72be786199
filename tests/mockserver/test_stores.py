"""One contract, three stores: MemoryStore, SerialisingStore (a JSON round trip of every value)
and RedisStore against a real redis-server. Every test runs on each."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from headshot_mock.mockserver.errors import StateFull, StoreUnavailable
from headshot_mock.mockserver.stores import (
    Due,
    Limits,
    MemoryStore,
    Opening,
    Record,
    RedisStore,
    SerialisingStore,
    Store,
)

SMALL = Limits(
    journal_entries=5,
    journal_bytes=4000,
    deliveries=3,
    rules=4,
    endpoints=2,
    jobs=3,
    files=3,
    uploads=3,
    upload_bytes=100,
)


FLUX = "/modelslab/api/v6/image_editing/flux_headshot"
FLUX_BODY = {"key": "k", "prompt": "a headshot", "face_image": "https://example.com/f.jpg"}


STORES = ["memory", "serialising", pytest.param("redis", marks=pytest.mark.redis)]


@contextlib.asynccontextmanager
async def _opened(request: pytest.FixtureRequest, limits: Limits) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore(limits=limits)
    elif request.param == "serialising":
        yield SerialisingStore(limits=limits)
    else:
        server = request.getfixturevalue("redis_session")
        redis = RedisStore(server.url, prefix=f"test-{uuid.uuid4().hex[:8]}", limits=limits)
        try:
            yield redis
        finally:
            await redis.reset()
            await redis.close()


@pytest.fixture(params=STORES)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    async with _opened(request, SMALL) as opened:
        yield opened


@pytest.fixture(params=STORES)
async def roomy_store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """Each store with the default limits (a journal of 1,000 entries)."""
    async with _opened(request, Limits()) as opened:
        yield opened


def job(job_id: str, provider: str = "modelslab", **extra: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "provider": provider,
        "phases": [{"state": "processing", "seconds": 10.0}],
        "final": "success",
        "created_at": 1_700_000_000.123456,
        "polls": 0,
        "forced": False,
        "forced_at": None,
        "data": {"output": ["a", "b"], "nested": {"x": None}},
        **extra,
    }


# -- journal -------------------------------------------------------------------------------------
async def test_journal_numbers_entries_and_keeps_copies(store: Store) -> None:
    entry: dict[str, Any] = {"provider": "p", "body": {"list": [1, 2]}, "emoji": "\u00e9\u4e2d"}
    first = await store.journal_append(entry)
    second = await store.journal_append({"provider": "q"})
    assert second > first
    entry["body"]["list"].append(3)  # the caller's object is not the stored one
    entries = await store.journal_entries()
    assert [e["seq"] for e in entries] == [first, second]
    assert entries[0] == {"provider": "p", "body": {"list": [1, 2]}, "emoji": "\u00e9\u4e2d", "seq": first}
    entries[0]["provider"] = "changed"
    assert (await store.journal_entries())[0]["provider"] == "p"
    await store.journal_clear()
    assert await store.journal_entries() == []


async def test_journal_is_bounded_by_count_and_webhook_attempts_never_evict_requests(store: Store) -> None:
    for i in range(4):
        await store.journal_append({"provider": "p", "n": i})
    for i in range(10):
        await store.journal_append({"kind": "webhook", "n": i})
    entries = await store.journal_entries()
    requests = [e["n"] for e in entries if "kind" not in e]
    hooks = [e["n"] for e in entries if e.get("kind") == "webhook"]
    assert requests == [0, 1, 2, 3]
    assert hooks == [7, 8, 9]  # the deliveries limit
    for i in range(4, 8):
        await store.journal_append({"provider": "p", "n": i})
    assert [e["n"] for e in await store.journal_entries() if "kind" not in e] == [3, 4, 5, 6, 7]


async def test_journal_reads_the_newest_matching_entries_oldest_first(store: Store) -> None:
    for n in range(1, 5):
        await store.journal_append({"n": n, "provider": "a" if n % 2 else "b"})
    await store.journal_append({"kind": "webhook", "n": 5, "provider": "a"})
    assert [e["n"] for e in await store.journal_entries(newest=2)] == [4, 5]
    odd = await store.journal_entries(where=lambda e: e["provider"] == "a", newest=2)
    assert [e["n"] for e in odd] == [3, 5]
    assert [e["n"] for e in await store.journal_entries(where=lambda e: e["n"] < 3)] == [1, 2]
    assert await store.journal_entries(newest=0) == []
    odd[0]["n"] = 99  # a copy: the journal keeps its own
    assert [e["n"] for e in await store.journal_entries()] == [1, 2, 3, 4, 5]


async def test_what_is_not_above_after_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page polls `after=` its newest seq ten times a second: a poll decodes what is new, not
    the journal (memory; Redis reads one page of each stream, the test above covers its pages)."""
    from headshot_mock.mockserver.stores import memory_journal

    store = MemoryStore()
    for n in range(1, 501):
        await store.journal_append({"n": n})
    decoded = 0
    loads = memory_journal._loads  # type: ignore[attr-defined]

    def counting(data: bytes) -> Any:
        nonlocal decoded
        decoded += 1
        return loads(data)

    monkeypatch.setattr(memory_journal, "_loads", counting)
    assert [e["n"] for e in await store.journal_entries(after=498)] == [499, 500]
    assert decoded == 2


async def test_the_newest_entries_are_the_same_read_whole_or_page_by_page(roomy_store: Store) -> None:
    """Redis reads ``newest=`` page by page from both rings (16 entries a page at the least):
    what it returns is what filtering the whole journal gives, across pages and rings."""
    store = roomy_store
    for n in range(1, 121):
        kind = {"kind": "webhook"} if n % 3 == 0 else {}
        await store.journal_append({"n": n, **kind})
    whole = await store.journal_entries()
    assert len(whole) == 120
    cases: list[tuple[int, Callable[[Record], bool]]] = [
        (5, lambda e: e["n"] % 7 == 0),
        (40, lambda e: e["n"] % 2 == 0),
        (1, lambda e: e["n"] == 119),
        (200, lambda e: True),
        (3, lambda e: e["n"] == 500),  # nothing matches: every page is read
        (16, lambda e: e["n"] <= 40),  # only the oldest match: the pages' boundaries are crossed
        (30, lambda e: True),
    ]
    for i, (newest, wanted) in enumerate(cases):
        expected = [e for e in whole if wanted(e)][-newest:]
        assert await store.journal_entries(where=wanted, newest=newest) == expected, i
    assert [e["n"] for e in await store.journal_entries(newest=3)] == [118, 119, 120]
    for after in (0, 1, 59, 104, 119, 120, 500):  # only what is numbered above `after`, oldest first
        above = [e for e in whole if e["seq"] > after]
        assert await store.journal_entries(after=after) == above, after
        assert await store.journal_entries(after=after, newest=2) == above[-2:], after
        odd = [e for e in above if e["n"] % 2]
        assert await store.journal_entries(after=after, where=lambda e: e["n"] % 2 == 1) == odd, after
    assert await store.journal_count() == 120


async def test_journal_is_bounded_by_bytes(store: Store) -> None:
    for i in range(4):
        await store.journal_append({"n": i, "blob": "x" * 1500})
    kept = [e["n"] for e in await store.journal_entries()]
    assert kept == [2, 3], "4000 bytes hold two 1.5 kB entries"


# -- rules ---------------------------------------------------------------------------------------
async def test_rules_are_consumed_in_order_and_counted(store: Store) -> None:
    a = await store.rule_add({"provider": "p", "operation": None, "scenario": "a", "remaining": 2})
    b = await store.rule_add({"provider": "p", "operation": "op", "scenario": "b", "remaining": None})
    assert b["id"] > a["id"]
    assert a == {"provider": "p", "operation": None, "scenario": "a", "remaining": 2, "id": a["id"]}
    assert [r["scenario"] for r in await store.rules()] == ["a", "b"]
    assert (await store.rule_take("p", "op"))["remaining"] == 1  # type: ignore[index]
    assert (await store.rule_take("p", "other"))["scenario"] == "a"  # type: ignore[index]
    assert (await store.rule_take("p", "other")) is None, "a is used up; b is for op only"
    assert (await store.rule_take("q", "op")) is None
    for _ in range(3):
        assert (await store.rule_take("p", "op"))["scenario"] == "b"  # type: ignore[index]
    await store.rules_clear()
    assert await store.rules() == []


async def test_a_rule_is_taken_only_when_the_first_match_has_one_of_the_scenarios(store: Store) -> None:
    await store.rule_add({"provider": "p", "operation": None, "scenario": "a", "remaining": 1})
    await store.rule_add({"provider": "p", "operation": None, "scenario": "b", "remaining": 1})
    assert await store.rule_take("p", "op", scenarios={"b"}) is None, "the first rule is a: none is taken"
    assert await store.rule_take("p", "op", scenarios=set()) is None
    assert [r["remaining"] for r in await store.rules()] == [1, 1]
    taken = await store.rule_take("p", "op", scenarios={"a", "z"})
    assert taken is not None
    assert (taken["scenario"], taken["remaining"]) == ("a", 0)
    assert [r["scenario"] for r in await store.rules()] == ["b"]


async def test_rules_have_a_cap(store: Store) -> None:
    for _ in range(4):
        await store.rule_add({"provider": "p", "operation": None, "scenario": "a", "remaining": 1})
    with pytest.raises(StateFull, match="rules_limit"):
        await store.rule_add({"provider": "p", "operation": None, "scenario": "a", "remaining": 1})


async def test_a_rule_with_times_5_answers_exactly_5_of_many_concurrent_calls(store: Store) -> None:
    await store.rule_add({"provider": "p", "operation": None, "scenario": "a", "remaining": 5})
    taken = await asyncio.gather(*(store.rule_take("p", "op") for _ in range(40)))
    assert sum(1 for t in taken if t is not None) == 5
    assert await store.rules() == []


# -- jobs ----------------------------------------------------------------------------------------
async def test_jobs_round_trip_poll_and_compare_and_set(store: Store) -> None:
    await store.job_create(job("1"))
    assert await store.job_get("modelslab", "1") == job("1")
    assert await store.job_get("magichour", "1") is None
    polls = await asyncio.gather(*(store.job_poll("modelslab", "1") for _ in range(20)))
    assert sorted(p["polls"] for p in polls if p is not None) == list(range(1, 21))
    won = await asyncio.gather(
        *(
            store.job_update("modelslab", "1", {"forced": True, "final": f"f{i}"}, expect={"forced": False})
            for i in range(10)
        )
    )
    assert sum(1 for _, changed in won if changed) == 1, "one finish wins"
    [winner] = [j for j, changed in won if changed]
    stored = await store.job_get("modelslab", "1")
    assert stored is not None
    assert winner is not None
    assert (stored["final"], stored["forced"], stored["polls"]) == (winner["final"], True, 20)
    assert stored["data"] == {"output": ["a", "b"], "nested": {"x": None}}
    assert await store.job_update("modelslab", "nope", {"deleted": True}) == (None, False)
    lost, changed = await store.job_update("modelslab", "1", {"x": 1}, expect={"forced_at": 5})
    assert (changed, lost is not None and "x" not in lost) == (False, True)
    assert await store.job_poll("modelslab", "nope") is None


async def test_jobs_are_listed_per_provider_and_bounded(store: Store) -> None:
    for i in range(3):
        await store.job_create(job(str(i)))
    await store.job_create(job("m", provider="magichour"))
    assert [j["id"] for j in await store.jobs("modelslab")] == ["1", "2"]
    assert [j["id"] for j in await store.jobs()] == ["1", "2", "m"]
    assert await store.job_get("modelslab", "0") is None, "the oldest is evicted"


# -- the due index -------------------------------------------------------------------------------
async def test_due_items_are_claimed_once_when_due(store: Store) -> None:
    early, late = Due("job", "p", "a", 0, 100.0), Due("job", "p", "b", 1, 200.0)
    await store.job_create(job("a", provider="p"), [early])
    await store.due_add([late, Due("job", "q", "c", 0, 50.0)])
    assert await store.due_next(["p"]) == 100.0
    assert await store.due_pending(["p", "q"]) == 3
    assert await store.due_claim(["p"], 99.0, limit=10, lease=30) == []
    claims = await asyncio.gather(*(store.due_claim(["p"], 150.0, limit=10, lease=30) for _ in range(5)))
    assert [c for c in claims if c] == [[early]], "claimed by exactly one caller"
    assert await store.due_next(["p"]) == 200.0
    assert await store.due_pending(["p"]) == 2, "a claimed item is still pending"
    follow = Due("job", "p", "a", 1, 120.0)
    await store.due_done(early, [follow])
    assert await store.due_claim(["p"], 150.0, limit=10, lease=30) == [follow]
    await store.due_done(follow)
    assert await store.due_claim(["p", "q"], 1000.0, limit=1, lease=30) == [late]
    assert await store.due_claim(["q"], 1000.0, limit=5, lease=30) == [Due("job", "q", "c", 0, 50.0)]


async def test_a_claim_whose_worker_died_is_taken_over_after_its_lease(store: Store) -> None:
    item = Due("delivery", "p", "7", 2, 10.0)
    await store.due_add([item])
    assert await store.due_claim(["p"], 10.0, limit=5, lease=0.2) == [item]
    assert await store.due_claim(["p"], 10.0, limit=5, lease=0.2) == []
    await asyncio.sleep(0.4)  # the lease runs out (real time)
    [again] = await store.due_claim(["p"], 11.0, limit=5, lease=30)
    assert (again.kind, again.ref, again.step) == ("delivery", "7", 2)
    await store.due_release([again])
    assert len(await store.due_claim(["p"], 11.0, limit=5, lease=30)) == 1


async def test_scheduling_an_item_twice_keeps_one(store: Store) -> None:
    await store.due_add([Due("job", "p", "a", 0, 5.0), Due("job", "p", "a", 0, 7.0)])
    assert await store.due_pending(["p"]) == 1


# -- files and uploads ---------------------------------------------------------------------------
async def test_files_round_trip_and_are_bounded(store: Store) -> None:
    for i in range(4):
        await store.file_put(f"t{i}", {"name": f"{i}.png", "expires_at": None, "recipe": {"seed": i}})
    assert await store.file_get("t0") is None
    assert await store.file_get("t3") == {"name": "3.png", "expires_at": None, "recipe": {"seed": 3}}


async def test_uploads_are_bounded_by_bytes_and_say_they_were_evicted(store: Store) -> None:
    await store.upload_put("a", b"\x00\xff" * 20, {"size": 40})
    await store.upload_put("b", b"b" * 40, {"size": 40})
    assert await store.upload_get("a") == (b"\x00\xff" * 20, {"size": 40})
    assert await store.upload_exists("a") is True
    await store.upload_put("c", b"c" * 40, {"size": 40})  # 120 bytes > 100: the oldest goes
    assert await store.upload_get("a") is None
    assert await store.upload_exists("a") is False
    assert await store.upload_evicted("a") is True
    assert await store.upload_evicted("never") is False
    assert (await store.upload_get("c")) == (b"c" * 40, {"size": 40})


async def test_uploads_expire(store: Store) -> None:
    await store.upload_put("short", b"x", {}, ttl=0.1)
    assert await store.upload_exists("short") is True
    await asyncio.sleep(0.3)
    assert await store.upload_exists("short") is False
    assert await store.upload_get("short") is None
    assert await store.upload_evicted("short") is False, "expired, not evicted"


# -- webhooks ------------------------------------------------------------------------------------
async def test_endpoints_have_a_cap(store: Store) -> None:
    one = await store.endpoint_add(
        {"provider": "m", "url": "http://127.0.0.1/a", "events": None, "secret": "s"}
    )
    await store.endpoint_add({"provider": "n", "url": "http://127.0.0.1/b", "events": ["x"], "secret": "s"})
    with pytest.raises(StateFull, match="endpoints_limit"):
        await store.endpoint_add(
            {"provider": "m", "url": "http://127.0.0.1/c", "events": None, "secret": "s"}
        )
    assert await store.endpoints("m") == [one]
    await store.endpoints_clear()
    assert await store.endpoints() == []


async def test_deliveries_are_created_once_per_key_and_bounded_on_their_own(store: Store) -> None:
    record = {"provider": "m", "state": "pending", "attempts": [], "group": "g"}
    first, new = await store.delivery_create("k1", record)
    again, new_again = await store.delivery_create("k1", {**record, "state": "other"})
    assert (new, new_again, again) == (True, False, first)
    updated, changed = await store.delivery_update(
        first["id"], {"state": "delivered", "attempts": [{"status": 200}]}, expect={"state": "pending"}
    )
    assert changed
    assert updated is not None
    assert updated["attempts"] == [{"status": 200}]
    _, changed = await store.delivery_update(first["id"], {"state": "x"}, expect={"state": "pending"})
    assert not changed
    for i in range(2, 6):
        await store.delivery_create(f"k{i}", {**record, "provider": "n" if i == 5 else "m"})
    kept = await store.deliveries()
    assert len(kept) == 3
    assert first["id"] not in [d["id"] for d in kept]
    assert [d["provider"] for d in await store.deliveries("n")] == ["n"]
    assert await store.delivery_get(first["id"]) is None
    _, new = await store.delivery_create("k1", record)
    assert new, "an evicted key is forgotten with its delivery"


# -- counters, clock, reset ------------------------------------------------------------------------
async def test_counters_count_and_expire(store: Store) -> None:
    assert [await store.next_number("a") for _ in range(3)] == [1, 2, 3]
    assert await store.next_number("b") == 1
    counted = await asyncio.gather(*(store.next_number("c") for _ in range(30)))
    assert sorted(counted) == list(range(1, 31))
    assert await store.next_number("window", ttl=0.1) == 1
    assert await store.next_number("window", ttl=0.1) == 2
    await asyncio.sleep(0.3)
    assert await store.next_number("window", ttl=0.1) == 1, "the counter expired"


async def test_clock_and_reset(store: Store) -> None:
    assert await store.clock_offset() == 0.0
    assert await store.clock_advance(1.5) == 1.5
    assert await store.clock_advance(2.25) == 3.75
    await store.journal_append({"x": 1})
    await store.job_create(job("1"), [Due("job", "modelslab", "1", 0, 1.0)])
    await store.reset()
    assert (await store.clock_offset(), await store.journal_entries(), await store.jobs()) == (0.0, [], [])
    assert await store.due_pending(["modelslab"]) == 0


# -- Redis only ------------------------------------------------------------------------------------
@pytest.mark.redis
async def test_redis_reset_clears_only_its_own_prefix(redis_session: Any) -> None:
    mine = RedisStore(redis_session.url, prefix=f"mine-{uuid.uuid4().hex[:6]}")
    theirs = RedisStore(redis_session.url, prefix=f"theirs-{uuid.uuid4().hex[:6]}")
    try:
        await mine.journal_append({"who": "mine"})
        await theirs.journal_append({"who": "theirs"})
        await theirs.clock_advance(9)
        await mine.reset()
        assert await mine.journal_entries() == []
        assert [e["who"] for e in await theirs.journal_entries()] == ["theirs"]
        assert await theirs.clock_offset() == 9
    finally:
        await theirs.reset()
        await mine.close()
        await theirs.close()


async def test_an_unreachable_redis_is_unavailable_not_a_hang() -> None:
    from tests.redis_server import free_port

    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"redis://127\.0\.0\.1:\d+/0 is unavailable"):
        await store.journal_append({"x": 1})
    assert time.monotonic() - started < 30, "bounded by the socket timeout, never a hang"
    await store.close()


@pytest.mark.redis
async def test_a_redis_that_stops_answering_is_unavailable_within_the_timeout() -> None:
    """A Redis that accepts but does not answer (SIGSTOP: a stuck or swamped server), for a store
    already connected and for one connecting: each call fails within the timeout and an eighth,
    and both work again once Redis answers."""
    import os
    import signal

    from headshot_mock.mockserver.stores.redis_store import SOCKET_TIMEOUT
    from tests.redis_server import redis_server

    with redis_server() as server:
        connected, fresh = RedisStore(server.url), RedisStore(server.url)
        await connected.journal_append({"x": 1})
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            for store in (connected, fresh):
                started = time.monotonic()
                with pytest.raises(StoreUnavailable, match="is unavailable"):
                    await store.journal_append({"x": 2})
                assert time.monotonic() - started < SOCKET_TIMEOUT * 1.125 + 1.5  # not a hang
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        for store in (connected, fresh):
            assert await store.journal_append({"x": 3}) > 0
            await store.close()


async def test_a_whole_mock_runs_on_each_store(store: Store) -> None:
    """Jobs, polls, a finish, webhooks with a retry, idle: the app through HTTP, on this store."""
    from headshot_mock.contracts.receiver import WebhookReceiver
    from headshot_mock.mockserver import MockConfig, create_app

    with WebhookReceiver(secret="whsec_s", fail_first=1) as hooks:
        app = create_app(config=MockConfig(webhook_backoff=0, time_scale=100), store=store)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as c,
        ):
            await c.post("/__mock/webhooks/endpoints", json={"url": hooks.url, "secret": "whsec_s"})
            made = await c.post(
                "/magichour/v1/ai-headshot-generator",
                json={"assets": {"image_file_path": "https://e.com/f.jpg"}},
                headers={"authorization": "Bearer k"},
            )
            project = made.json()["id"]
            path = f"/magichour/v1/image-projects/{project}"
            assert (await c.get(path, headers={"authorization": "Bearer k"})).json()["status"] == "queued"
            finished = await c.post(f"/__mock/jobs/magichour/{project}/finish")
            assert finished.json()["state"] == "complete"
            assert (await c.post("/__mock/idle", params={"timeout": "20"})).status_code == 204
            assert (await c.get(path, headers={"authorization": "Bearer k"})).json()["status"] == "complete"
            [delivery] = (await c.get("/__mock/webhooks/deliveries")).json()["deliveries"]
            assert (delivery["event"], delivery["state"], len(delivery["attempts"])) == (
                "image.completed",
                "delivered",
                2,
            )
            assert [d.json["type"] for d in hooks.deliveries] == ["image.completed", "image.completed"]
            [job] = (await c.get("/__mock/jobs", params={"provider": "magichour"})).json()["jobs"]
            assert (job["done"], job["forced"], job["polls"]) == (True, True, 2)


async def test_default_scenarios_per_provider(store: Store) -> None:
    assert (await store.default_get("modelslab"), await store.defaults()) == (None, {})
    await store.default_set("modelslab", "rate_limited")
    await store.default_set("agentai", "error")
    await store.default_set("agentai", None)
    assert (await store.default_get("modelslab"), await store.defaults()) == (
        "rate_limited",
        {"modelslab": "rate_limited"},
    )
    await store.reset()
    assert await store.defaults() == {}


async def test_a_claim_renewed_while_its_worker_works_is_not_taken_over(store: Store) -> None:
    item = Due("job", "p", "a", 0, 1.0)
    await store.due_add([item])
    [held] = await store.due_claim(["p"], 1.0, limit=1, lease=0.3)
    for _ in range(3):
        await asyncio.sleep(0.15)
        await store.due_extend([held], 0.3)
        assert await store.due_claim(["p"], 1.0, limit=1, lease=0.3) == []
    await store.due_done(held)
    await store.due_extend([held], 0.3)  # a claim no longer held is not brought back
    assert await store.due_pending(["p"]) == 0


# -- what a call starts from, and held-back writes -------------------------------------------------
async def test_opening_reads_a_rule_the_default_and_the_clock_in_one_step(store: Store) -> None:
    assert await store.opening("p", "op") == Opening(None, None, 0.0)
    await store.rule_add({"provider": "p", "operation": "op", "scenario": "a", "remaining": 2})
    await store.default_set("p", "rate_limited")
    await store.clock_advance(2.5)
    unused = await store.opening("p", "op", take_rule=False)
    assert unused == Opening(None, "rate_limited", 2.5), "take_rule=False leaves the rule alone"
    first = await store.opening("p", "op")
    assert (first.rule, first.default, first.clock_offset) == (
        {"provider": "p", "operation": "op", "scenario": "a", "remaining": 1, "id": first.rule["id"]}  # type: ignore[index,unused-ignore]
        if first.rule
        else None,
        "rate_limited",
        2.5,
    )
    assert (await store.opening("p", "other")).rule is None, "the rule is for op only"
    assert (await store.opening("q", "op")) == Opening(None, None, 2.5)
    assert (await store.opening("p", "op")).rule is not None
    assert await store.rules() == [], "both uses consumed"


async def test_a_rule_with_times_5_opens_exactly_5_of_many_concurrent_calls(store: Store) -> None:
    await store.rule_add({"provider": "p", "operation": None, "scenario": "a", "remaining": 5})
    opened = await asyncio.gather(*(store.opening("p", "op") for _ in range(40)))
    assert sum(1 for o in opened if o.rule is not None) == 5


async def test_writes_held_back_are_seen_by_their_task_and_sent_by_the_exit(store: Store) -> None:
    async with store.deferring():
        await store.file_put("t1", {"name": "a.png"})
        await store.job_create(job("1"))
        assert await store.file_get("t1") == {"name": "a.png"}, "the task's next call sends them first"
        await store.file_put("t2", {"name": "b.png"})
        await store.job_create(job("2", title='Portr\u00e4t \U0001f600 \\ "q"'))
        first = await store.journal_append({"n": 1})
        await store.file_put("t3", {"name": "c.png"})
    second = await store.journal_append({"n": 2})
    assert second == first + 1
    assert [e["n"] for e in await store.journal_entries()] == [1, 2]
    assert await store.file_get("t2") == {"name": "b.png"}
    assert await store.file_get("t3") == {"name": "c.png"}, "the exit sent what was left"
    assert await store.jobs() == [job("1"), job("2", title='Portr\u00e4t \U0001f600 \\ "q"')]


async def test_held_back_writes_land_when_the_request_fails_and_due_work_is_never_held(store: Store) -> None:
    seen: list[int] = []

    async def look() -> None:  # another task, while the first one is still deferring
        seen.append(await store.due_pending(["modelslab"]))

    async def fail() -> None:
        async with store.deferring():
            await store.job_create(job("1"), [Due("job", "modelslab", "1", 0, 1.0)])
            await asyncio.create_task(look())
            await store.file_put("t1", {"name": "a.png"})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail()
    assert seen == [1], "a job with due work is stored at once: a ticker woken next finds it"
    assert await store.file_get("t1") == {"name": "a.png"}
    async with store.deferring(), store.deferring():  # nested: the outer one sends
        await store.file_put("t2", {"name": "b.png"})
    assert await store.file_get("t2") == {"name": "b.png"}


@pytest.mark.redis
async def test_a_generation_costs_one_round_trip_on_redis(redis_session: Any) -> None:
    """The hot path: the opening this worker remembers, an id from its block, then the check of
    both, the file, the job and the journal entry in one script. A new round trip here shows in
    the benchmark."""
    from redis.asyncio.connection import Connection

    from headshot_mock.mockserver import MockConfig, create_app

    store = RedisStore(redis_session.url, prefix=f"trips-{uuid.uuid4().hex[:8]}")
    app = create_app(config=MockConfig(time_scale=0), store=store)
    sent, ours = 0, None  # the task the counted request runs in (not the ticker)
    original = Connection.send_packed_command
    link_call = store._link.call

    async def counting(self: Connection, command: Any, check_health: bool = True) -> None:
        nonlocal sent
        sent += asyncio.current_task() is ours
        await original(self, command, check_health)

    async def counting_link(command: Any) -> Any:  # the hot path's scripts (redis_link.py)
        nonlocal sent
        sent += asyncio.current_task() is ours
        return await link_call(command)

    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as c,
        ):
            for _ in range(2):  # scripts loaded, pool warm: the first call (a fresh opening) and
                # the next ones (the opening remembered, then checked) send different scripts
                assert (await c.post(FLUX, json=FLUX_BODY)).status_code == 200
            Connection.send_packed_command = counting  # type: ignore[method-assign,assignment,unused-ignore]
            store._link.call = counting_link  # type: ignore[method-assign]
            try:  # a task of its own, as each request on a served mock: nothing carried over
                ours = asyncio.ensure_future(c.post(FLUX, json=FLUX_BODY))
                answer = await ours
            finally:
                Connection.send_packed_command = original  # type: ignore[method-assign]
                store._link.call = link_call  # type: ignore[method-assign]
            assert answer.status_code == 200, answer.text
            assert sent == 1, f"{sent} round trips"
            [entry] = [e for e in (await c.get("/__mock/journal")).json()["entries"] if e["seq"] == 3]
            assert entry["scenario"] == "success"
            image = await c.get(answer.json()["output"][0].removeprefix("http://m"))
            assert image.status_code == 200, "the file went out with the journal entry"
    finally:
        await store.reset()
        await store.close()


@contextlib.asynccontextmanager
async def _two_workers(
    url: str, name: str
) -> AsyncIterator[tuple[list[RedisStore], httpx.AsyncClient, httpx.AsyncClient]]:
    """Two workers of one mock: two apps, each on its own store, one prefix; their stores and a
    client of each (``a``, ``b``). The prefix is reset at the end."""
    from headshot_mock.mockserver import MockConfig, create_app

    prefix = f"{name}-{uuid.uuid4().hex[:8]}"
    stores = [RedisStore(url, prefix=prefix) for _ in range(2)]
    a, b = (create_app(config=MockConfig(time_scale=0), store=s) for s in stores)
    try:
        async with (
            a.router.lifespan_context(a),
            b.router.lifespan_context(b),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://a") as ca,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=b), base_url="http://b") as cb,
        ):
            yield stores, ca, cb
    finally:
        await stores[0].reset()
        for store in stores:
            await store.close()


@pytest.mark.redis
async def test_what_a_worker_remembers_never_hides_a_change_made_through_another(redis_session: Any) -> None:
    """Two workers (two apps, two stores, one prefix). Worker a answers from the opening it
    remembers (no rule, the default scenario, the clock); a rule, a default and a clock advance
    made through worker b apply to a's very next call, and a rule is used exactly ``times``."""
    async with _two_workers(redis_session.url, "two") as (stores, ca, cb):

        async def scenario() -> str:
            answer = await ca.post(FLUX, json=FLUX_BODY)
            assert answer.status_code in (200, 500), answer.text
            return answer.headers["x-mock-scenario"]

        assert [await scenario() for _ in range(3)] == ["success"] * 3  # a remembers its opening
        rule = {"provider": "modelslab", "operation": "fluxHeadshot", "scenario": "error", "times": 2}
        assert (await cb.post("/__mock/rules", json=rule)).status_code == 201
        assert [await scenario() for _ in range(3)] == ["error", "error", "success"]
        default: dict[str, str | None] = {"provider": "modelslab", "scenario": "error"}
        assert (await cb.post("/__mock/defaults", json=default)).status_code == 200
        assert await scenario() == "error"
        default["scenario"] = None
        assert (await cb.post("/__mock/defaults", json=default)).status_code == 200
        assert await scenario() == "success"
        assert (await cb.post("/__mock/clock", json={"advance": 3600})).status_code == 200
        made = await ca.post(FLUX, json=FLUX_BODY)
        [job] = [j for j in await stores[0].jobs("modelslab") if j["id"] == str(made.json()["id"])]
        assert job["created_at"] > time.time() + 3000, "a's call saw b's clock advance"
        entries = (await cb.get("/__mock/journal")).json()["entries"]
        assert [e["scenario_source"] for e in entries].count("rule") == 2


@pytest.mark.redis
async def test_ids_count_1_2_3_per_worker_and_restart_after_a_reset_anywhere(redis_session: Any) -> None:
    """Ids come from blocks a worker draws: on one worker they still count up in call order (and
    again from 1 after a reset through it); a reset through another worker also starts them again
    (a block drawn before the reset is never used after it)."""
    async with _two_workers(redis_session.url, "ids") as (stores, ca, cb):

        async def ids(client: httpx.AsyncClient, n: int) -> list[int]:
            return [
                int((await client.post(FLUX, json=FLUX_BODY)).json()["id"]) - 12_200_000 for _ in range(n)
            ]

        assert await ids(ca, 3) == [1, 2, 3]
        rule = {"provider": "modelslab", "scenario": "success", "times": 1}
        assert (await ca.post("/__mock/rules", json=rule)).status_code == 201
        assert await ids(ca, 2) == [4, 5], "an admin write does not skip ids"
        assert (await ca.post("/__mock/reset")).status_code == 204
        assert await ids(ca, 2) == [1, 2]
        assert len(set(await ids(cb, 2)) | {1, 2}) == 4, "each worker has its own block: unique ids"
        assert (await cb.post("/__mock/reset")).status_code == 204
        assert await ids(ca, 2) == [1, 2], "a's block from before b's reset is not used"
        assert len({j["id"] for j in await stores[0].jobs()}) == 2


@pytest.mark.redis
async def test_a_refused_assumption_writes_nothing_and_the_request_runs_again(redis_session: Any) -> None:
    """The store level: an opening assumed within ``deferring`` is checked by the first write;
    refused, that call raises Stale and none of the held writes landed."""
    from headshot_mock.mockserver.stores import Stale

    prefix = f"stale-{uuid.uuid4().hex[:8]}"
    mine, theirs = (RedisStore(redis_session.url, prefix=prefix) for _ in range(2))
    try:
        async with mine.deferring():
            assert (await mine.opening("p", "op")).rule is None  # read in Redis: remembered
        await theirs.rule_add({"provider": "p", "operation": None, "scenario": "a", "remaining": 1})

        async def request() -> None:
            async with mine.deferring():
                assert (await mine.opening("p", "op")).rule is None, "assumed from memory"
                await mine.file_put("t1", {"name": "a.png"})
                await mine.journal_append({"n": 1})

        with pytest.raises(Stale, match="opening"):
            await request()
        assert await mine.file_get("t1") is None
        assert await mine.journal_entries() == []
        async with mine.deferring():  # run again: read in Redis, the rule taken
            assert (await mine.opening("p", "op")).rule is not None
            await mine.journal_append({"n": 1})
        assert await theirs.rules() == []
    finally:
        await mine.reset()
        await mine.close()
        await theirs.close()
