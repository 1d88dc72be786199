"""Job lifecycles, the scaled clock, determinism: what a polling client observes."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headshot_mock.mockserver import MockConfig, create_app, images

HEAD_SHOT = "/modelslab/api/v6/image_editing/head_shot"
FETCH = "/modelslab/api/v6/image_editing/fetch/{id}"
CREATE = "/magichour/v1/ai-headshot-generator"
PROJECT = "/magichour/v1/image-projects/{id}"
BEARER = {"authorization": "Bearer k"}
BODY = {"prompt": "p", "face_image": "https://example.com/f.jpg"}


@asynccontextmanager
async def _client(**options: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config=MockConfig(**options))
    transport = httpx.ASGITransport(app=app)
    # The lifespan stops the background work still waiting on the clock when the test ends.
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://mock") as c,
    ):
        yield c


async def _fetch_states(client: httpx.AsyncClient, job_id: int, polls: int) -> list[str]:
    return [
        (await client.post(FETCH.format(id=job_id), json={"key": "k"})).json()["status"] for _ in range(polls)
    ]


async def _project_states(client: httpx.AsyncClient, project_id: str, polls: int) -> list[str]:
    return [
        (await client.get(PROJECT.format(id=project_id), headers=BEARER)).json()["status"]
        for _ in range(polls)
    ]


@pytest.mark.parametrize(
    ("key", "states"),
    [
        pytest.param("k", ["success", "success"], id="success-is-done-at-once"),
        pytest.param("mock-processing", ["processing", "success", "success"], id="processing-then-success"),
        pytest.param("mock-failed", ["processing", "failed"], id="processing-then-failed"),
        pytest.param("mock-stuck", ["processing"] * 6, id="stuck-never-completes"),
    ],
)
async def test_modelslab_poll_sequence_at_time_scale_0(key: str, states: list[str]) -> None:
    async with _client() as client:
        created = (await client.post(HEAD_SHOT, json={**BODY, "key": key})).json()
        assert created["status"] == ("success" if key == "k" else "processing")
        assert await _fetch_states(client, created["id"], len(states)) == states


@pytest.mark.parametrize(
    ("key", "states"),
    [
        pytest.param("k", ["complete", "complete"], id="success"),
        pytest.param("mock-processing", ["queued", "rendering", "complete"], id="processing"),
        pytest.param("mock-no_face", ["queued", "rendering", "error"], id="no-face"),
        pytest.param("mock-error", ["queued", "rendering", "error"], id="error"),
        pytest.param("mock-canceled", ["queued", "rendering", "canceled"], id="canceled"),
        pytest.param("mock-stuck", ["queued", "rendering", "rendering", "rendering"], id="stuck"),
    ],
)
async def test_magichour_poll_sequence_at_time_scale_0(key: str, states: list[str]) -> None:
    async with _client() as client:
        answer = await client.post(
            CREATE,
            json={"assets": {"image_file_path": "https://e.com/f.jpg"}},
            headers={"authorization": f"Bearer {key}"},
        )
        project_id = answer.json()["id"]
        assert await _project_states(client, project_id, len(states)) == states


async def test_magichour_credits_are_refunded_on_error() -> None:
    async with _client() as client:
        answer = await client.post(
            CREATE,
            json={"assets": {"image_file_path": "https://e.com/f.jpg"}},
            headers={"authorization": "Bearer mock-no_face"},
        )
        assert answer.json()["credits_charged"] == 50
        await _project_states(client, answer.json()["id"], 2)
        final = (await client.get(PROJECT.format(id=answer.json()["id"]), headers=BEARER)).json()
        assert (final["status"], final["credits_charged"], final["error"]["code"]) == (
            "error",
            0,
            "no_source_face",
        )


async def test_realistic_durations_follow_the_mock_clock() -> None:
    """A project takes its provider-realistic 14 s times the time scale (here 100: 1,400 s, so
    real time passing during the test cannot move it); advancing the clock gets there now."""
    async with _client(time_scale=100.0) as client:
        project_id = (
            await client.post(
                CREATE, json={"assets": {"image_file_path": "https://e.com/f.jpg"}}, headers=BEARER
            )
        ).json()["id"]
        assert await _project_states(client, project_id, 2) == ["queued", "queued"]
        await client.post("/__mock/clock", json={"advance": 300})
        assert await _project_states(client, project_id, 1) == ["rendering"]
        await client.post("/__mock/clock", json={"advance": 1200})
        assert await _project_states(client, project_id, 1) == ["complete"]


async def test_future_links_answer_not_ready_until_the_job_is_done() -> None:
    async with _client(time_scale=100.0) as client:
        created = (await client.post(HEAD_SHOT, json={**BODY, "key": "mock-processing"})).json()
        link = created["future_links"][0]
        assert (await client.get(link)).status_code == 404
        await client.post(f"/__mock/jobs/modelslab/{created['id']}/finish")
        assert (await client.get(link)).status_code == 200
        fetched = (await client.post(FETCH.format(id=created["id"]), json={"key": "k"})).json()
        assert fetched["status"] == "success"
        assert fetched["output"] == [link]


async def test_downloads_expire_after_24_hours_on_the_mock_clock() -> None:
    async with _client() as client:
        created = (await client.post(HEAD_SHOT, json={**BODY, "key": "k"})).json()
        url = created["output"][0]
        assert (await client.get(url)).status_code == 200
        await client.post("/__mock/clock", json={"advance": 24 * 3600 + 1})
        expired = await client.get(url)
        assert (expired.status_code, b"AccessDenied" in expired.content) == (403, True)


async def test_deleted_project_is_disabled_and_its_images_are_gone() -> None:
    async with _client() as client:
        project_id = (
            await client.post(
                CREATE, json={"assets": {"image_file_path": "https://e.com/f.jpg"}}, headers=BEARER
            )
        ).json()["id"]
        project = (await client.get(PROJECT.format(id=project_id), headers=BEARER)).json()
        url = project["downloads"][0]["url"]
        assert (await client.delete(PROJECT.format(id=project_id), headers=BEARER)).status_code == 204
        after = (await client.get(PROJECT.format(id=project_id), headers=BEARER)).json()
        assert (after["enabled"], after["downloads"]) == (False, [])
        assert (await client.get(url)).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        pytest.param("POST", FETCH.format(id=999), {"key": "k"}, {}, id="modelslab-unknown-id"),
        pytest.param("GET", PROJECT.format(id="nope"), None, BEARER, id="magichour-unknown-id"),
        pytest.param("DELETE", PROJECT.format(id="nope"), None, BEARER, id="magichour-delete-unknown"),
        pytest.param(
            "POST",
            "/modelslab/api/v1/enterprise/image_editing/fetch/{id}",
            {"key": "k"},
            {},
            id="modelslab-foreign-family",
        ),
    ],
)
async def test_unknown_or_foreign_ids_get_the_providers_not_found(
    method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    async with _client() as client:
        v6 = (await client.post(HEAD_SHOT, json={**BODY, "key": "k"})).json()["id"]
        answer = await client.request(method, path.format(id=v6), json=body, headers=headers)
        assert answer.status_code == 404
        assert answer.headers["x-mock-scenario"] == "not_found"


async def test_magichour_rejects_a_file_path_that_was_never_uploaded() -> None:
    async with _client() as client:
        answer = await client.post(
            CREATE, json={"assets": {"image_file_path": "api-assets/nope/0.png"}}, headers=BEARER
        )
        assert answer.status_code == 400
        assert "api-assets/nope/0.png" in answer.json()["message"]


async def test_magichour_upload_then_create() -> None:
    async with _client() as client:
        slot = (
            await client.post(
                "/magichour/v1/files/upload-urls",
                json={"items": [{"type": "image", "extension": "jpg"}]},
                headers=BEARER,
            )
        ).json()["items"][0]
        assert (await client.put(slot["upload_url"], content=b"\xff\xd8 jpeg bytes")).status_code == 200
        wrong = slot["upload_url"].replace("auth-value=", "auth-value=x")
        assert (await client.put(wrong, content=b"x")).status_code == 403
        created = await client.post(
            CREATE, json={"assets": {"image_file_path": slot["file_path"]}}, headers=BEARER
        )
        assert created.status_code == 200


async def _run(seed: int) -> tuple[list[Any], list[bytes]]:
    ids: list[Any] = []
    files: list[bytes] = []
    async with _client(seed=seed) as client:
        for key in ("k", "mock-processing"):
            made = (await client.post(HEAD_SHOT, json={**BODY, "key": key})).json()
            ids.append(made["id"])
            link = (made.get("output") or made.get("future_links"))[0]
            ids.append(link)
            files.append((await client.get(link)).content)
        project = (
            await client.post(
                CREATE, json={"assets": {"image_file_path": "https://e.com/f.jpg"}}, headers=BEARER
            )
        ).json()
        ids.append(project["id"])
    return ids, files


async def test_same_seed_same_ids_and_images_other_seed_other_ones() -> None:
    (ids, files), (same_ids, same_files), (other_ids, other_files) = (
        await _run(1),
        await _run(1),
        await _run(2),
    )
    assert (ids, files) == (same_ids, same_files)
    # ModelsLab ids count up from the same start whatever the seed; tokens and images do not.
    assert ids[0] == other_ids[0]
    assert ids[1] != other_ids[1], "file URLs"
    assert ids[-1] != other_ids[-1], "Magic Hour project ids"
    assert files != other_files


async def _upload(client: httpx.AsyncClient, data: bytes) -> str:
    slot = (
        await client.post(
            "/magichour/v1/files/upload-urls",
            json={"items": [{"type": "image", "extension": "jpg"}]},
            headers=BEARER,
        )
    ).json()["items"][0]
    assert (await client.put(slot["upload_url"], content=data)).status_code == 200
    return str(slot["file_path"])


async def test_an_evicted_upload_says_so_when_a_later_call_names_it() -> None:
    async with _client(uploads_max_bytes=1500) as client:
        first = await _upload(client, b"\xff\xd8" + b"a" * 1000)
        second = await _upload(client, b"\xff\xd8" + b"b" * 1000)  # 2,004 bytes > 1,500: the first goes
        kept = await client.post(CREATE, json={"assets": {"image_file_path": second}}, headers=BEARER)
        assert kept.status_code == 200
        gone = await client.post(CREATE, json={"assets": {"image_file_path": first}}, headers=BEARER)
        assert gone.status_code == 400
        assert "evicted" in gone.json()["message"]
        assert "uploads_max_bytes" in gone.json()["message"]


async def test_rules_and_endpoints_have_caps_that_answer_409() -> None:
    async with _client(rules_limit=2, endpoints_limit=1) as client:
        rule = {"provider": "modelslab", "scenario": "rate_limited"}
        assert [(await client.post("/__mock/rules", json=rule)).status_code for _ in range(3)] == [
            201,
            201,
            409,
        ]
        full = (await client.post("/__mock/rules", json=rule)).json()
        assert "rules_limit" in full["detail"]
        hook = {"url": "http://127.0.0.1:9/hook"}
        assert (await client.post("/__mock/webhooks/endpoints", json=hook)).status_code == 201
        refused = await client.post("/__mock/webhooks/endpoints", json=hook)
        assert refused.status_code == 409
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "endpoints_limit" in refused.json()["detail"]


_PARTS = st.lists(
    st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()), max_size=6
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(seed=st.integers(), parts=_PARTS)
def test_tokens_and_seeds_hash_the_repr_of_their_parts(seed: int, parts: list[Any]) -> None:
    """The derivation every id, file URL and image seed comes from (docs show them): cheaper
    ways of making the same text must keep the same values."""
    runtime = create_app(config=MockConfig(seed=seed)).state.runtime
    text = repr((seed, *parts)).encode()
    assert runtime.token(*parts, length=32) == hashlib.blake2b(text, digest_size=16).hexdigest()
    digest = hashlib.blake2b(repr(tuple(parts)).encode(), digest_size=8).digest()
    assert images.seed_from(*parts) == int.from_bytes(digest, "big") >> 1
