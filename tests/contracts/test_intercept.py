"""headshot_mock.contracts.intercept: code with hard-coded production URLs, tested unchanged and offline.

Every request below names a provider's real host; the respx router serves it from the mock
in-process. Nothing here opens a socket except the webhook receiver on loopback, and
``no_network`` makes sure of it where it matters.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from magic_hour import Client as MagicHourClient
from PIL import Image

from headshot_mock.contracts.intercept import Intercept, UnmockedRequest, intercept, provider_hosts
from headshot_mock.contracts.receiver import WebhookReceiver
from headshot_mock.mockserver import MockConfig
from tests.helpers import hs1_body, jpeg_bytes, within

T = TypeVar("T")

HEAD_SHOT = "https://modelslab.com/api/v6/image_editing/head_shot"
MH = "https://api.magichour.ai"
IDPHOTO = "https://idphoto.ai/api/generate-portrait"
AGENTAI = "https://api-lr.agent.ai/v1/action/instant_headshot_run_headshot_generation"
BEARER = {"authorization": "Bearer k"}
FACE_URL = "https://example.com/face.jpg"
DEADLINE = 30.0
"""Seconds a polling flow may take before it counts as a hang."""


# -- helpers -------------------------------------------------------------------------------------


def image_format(content: bytes) -> str | None:
    with Image.open(io.BytesIO(content)) as image:
        image.load()
        return image.format


def headshot_body(key: str) -> dict[str, Any]:
    return {"key": key, "prompt": "professional headshot", "face_image": FACE_URL}


@pytest.fixture
def mock() -> Iterator[Intercept]:
    with intercept() as active:
        yield active


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Any attempt to resolve a name or open a connection is recorded and refused."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network access during an intercepted test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


# -- hosts ---------------------------------------------------------------------------------------


def test_hosts_come_from_the_specs() -> None:
    assert provider_hosts() == {
        "https://api-lr.agent.ai": "agentai",
        "https://modelslab.com": "modelslab",
        "https://idphoto.ai": "idphoto",
        "https://api.magichour.ai": "magichour",
        "https://videos.magichour.ai": "magichour",
    }


def test_only_the_chosen_providers_are_intercepted() -> None:
    with intercept(providers=["idphoto"]) as mock:
        assert set(mock.apps) == {"idphoto"}
        assert mock.hosts == {"https://idphoto.ai": "idphoto"}
        with pytest.raises(UnmockedRequest, match=r"modelslab\.com"):
            httpx.post(HEAD_SHOT, json=headshot_body("k"))


# -- ModelsLab -----------------------------------------------------------------------------------


def test_modelslab_sync_headshot_poll_and_download(mock: Intercept, no_network: list[Any]) -> None:
    done = httpx.post(HEAD_SHOT, json=headshot_body("k")).json()
    assert done["status"] == "success"
    assert done["output"][0].startswith("https://modelslab.com/")

    created = httpx.post(HEAD_SHOT, json=headshot_body("mock-processing")).json()
    assert created["status"] == "processing"
    assert created["fetch_result"].startswith("https://modelslab.com/api/v6/image_editing/fetch/")
    statuses = []
    with httpx.Client(timeout=10) as client:
        for _ in range(10):
            fetched = client.post(created["fetch_result"], json={"key": "k"}).json()
            statuses.append(fetched["status"])
            if fetched["status"] == "success":
                break
        image = client.get(fetched["output"][0])

    assert statuses == ["processing", "success"]
    assert image.status_code == 200
    assert image_format(image.content) == "PNG"
    assert no_network == []


async def test_modelslab_async_headshot_poll_and_download(mock: Intercept, no_network: list[Any]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        done = (await client.post(HEAD_SHOT, json=headshot_body("k"))).json()
        assert done["status"] == "success"
        created = (await client.post(HEAD_SHOT, json=headshot_body("mock-processing"))).json()
        for _ in range(10):
            fetched = (await client.post(created["fetch_result"], json={"key": "k"})).json()
            if fetched["status"] == "success":
                break
            await asyncio.sleep(0.01)
        image = await client.get(fetched["output"][0])

    assert fetched["status"] == "success"
    assert image_format(image.content) == "PNG"
    assert [e["operation"] for e in mock.journal(provider="modelslab")][:2] == ["headShot", "headShot"]
    assert no_network == []


async def test_sync_and_async_clients_share_one_mock(mock: Intercept) -> None:
    created = httpx.post(HEAD_SHOT, json=headshot_body("mock-processing")).json()
    async with httpx.AsyncClient() as client:
        fetched = (await client.post(created["fetch_result"], json={"key": "k"})).json()
    assert fetched["status"] in ("processing", "success")
    assert [e["operation"] for e in mock.journal(provider="modelslab")] == ["headShot", "fetchResult"]


# -- Magic Hour ----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [pytest.param("k", id="success"), pytest.param("mock-processing")])
def test_magichour_full_flow_on_production_urls(mock: Intercept, no_network: list[Any], token: str) -> None:
    auth = {"authorization": f"Bearer {token}"}
    with httpx.Client(timeout=10) as client:
        slots = client.post(
            f"{MH}/v1/files/upload-urls",
            json={"items": [{"type": "image", "extension": "jpg"}]},
            headers=auth,
        )
        assert slots.status_code == 200, slots.text
        [slot] = slots.json()["items"]
        assert client.put(slot["upload_url"], content=jpeg_bytes()).status_code == 200
        created = client.post(
            f"{MH}/v1/ai-headshot-generator",
            json={"assets": {"image_file_path": slot["file_path"]}},
            headers=auth,
        )
        assert created.status_code == 200, created.text
        project_id = created.json()["id"]
        for _ in range(10):
            project = client.get(f"{MH}/v1/image-projects/{project_id}", headers=auth).json()
            if project["status"] == "complete":
                break
        download = client.get(project["downloads"][0]["url"])

    assert project["status"] == "complete"
    assert project["downloads"][0]["url"].startswith(f"{MH}/")
    assert image_format(download.content) == "PNG"
    assert [e["operation"] for e in mock.journal(provider="magichour")][:3] == [
        "createUploadUrls",
        "uploadAsset",
        "createAiHeadshot",
    ]
    assert no_network == []


def test_magichour_storage_host_accepts_the_upload(mock: Intercept) -> None:
    """The spec puts uploads on videos.magichour.ai: a URL on that host is served as well."""
    slot = httpx.post(
        f"{MH}/v1/files/upload-urls", json={"items": [{"type": "image", "extension": "png"}]}, headers=BEARER
    ).json()["items"][0]
    on_storage_host = httpx.URL(slot["upload_url"]).copy_with(host="videos.magichour.ai")
    assert httpx.put(on_storage_host, content=b"\x89PNG...").status_code == 200
    assert mock.journal(operation="uploadAsset")[0]["status"] == 200


@pytest.mark.parametrize("token", [pytest.param("k", id="success"), pytest.param("mock-processing")])
def test_magichour_official_sdk_with_its_production_default(
    mock: Intercept, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setenv("MAGIC_HOUR_POLL_INTERVAL", "0.01")
    face = tmp_path / "face.jpg"
    face.write_bytes(jpeg_bytes())
    out = tmp_path / "out"
    out.mkdir()
    client = MagicHourClient(token=token)  # no base_url: https://api.magichour.ai
    try:
        result = within(
            DEADLINE,
            lambda: client.v1.ai_headshot_generator.generate(
                assets={"image_file_path": str(face)},
                wait_for_completion=True,
                download_outputs=True,
                download_directory=str(out),
            ),
            on_timeout=client._base_client.httpx_client.close,  # the next poll raises
        )
    finally:
        client._base_client.httpx_client.close()

    assert result.status == "complete", result
    assert result.downloaded_paths is not None
    assert len(result.downloaded_paths) == 1
    assert image_format(Path(result.downloaded_paths[0]).read_bytes()) == "PNG"
    operations = [e["operation"] for e in mock.journal(provider="magichour")]
    assert operations[:3] == ["createUploadUrls", "uploadAsset", "createAiHeadshot"]
    assert set(operations[3:]) == {"getImageProject"}
    assert all(e["findings"] == [] for e in mock.journal(provider="magichour")), "the SDK conforms"


def test_magichour_webhooks_still_reach_a_loopback_receiver() -> None:
    """The mock's own deliveries to an allowed (loopback) receiver go out; the job runs on the
    intercept's loop between the client's calls."""
    with WebhookReceiver(secret="whsec_intercept") as hooks:
        config = MockConfig(webhooks=(f"{hooks.url}#whsec_intercept",))
        with intercept(config=config) as mock:
            created = httpx.post(
                f"{MH}/v1/ai-headshot-generator",
                json={"assets": {"image_file_path": FACE_URL}},
                headers=BEARER,
            ).json()
            got = hooks.wait_for(2, timeout=10)
            # The mock journals an attempt once the receiver's answer is in: wait for both.
            deadline = time.monotonic() + 10
            while len(deliveries := mock.journal(kind="webhook")) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)

    assert [json.loads(d.body)["type"] for d in got] == ["image.started", "image.completed"]
    assert [d.verified for d in got] == [True, True]
    assert {json.loads(d.body)["payload"]["id"] for d in got} == {created["id"]}
    assert [e["state"] for e in deliveries] == ["delivered", "delivered"]


# -- agent.ai and idphoto.ai ---------------------------------------------------------------------


def test_agentai_on_its_real_url(mock: Intercept, no_network: list[Any]) -> None:
    answer = httpx.post(
        AGENTAI,
        json=hs1_body(),
        headers=BEARER,
        timeout=10,
    )

    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["status"] == 200
    images = result["response"]["images"]
    assert len(images) == 2
    assert all(image["url"].startswith("https://api-lr.agent.ai/") for image in images)
    assert image_format(httpx.get(images[0]["url"]).content) in ("PNG", "JPEG", "WEBP")
    assert no_network == []


def idphoto_body() -> dict[str, Any]:
    return {
        "apiKey": "k",
        "prompt": "professional corporate headshot",
        "seed": 421337,
        "sampleNumber": 1,
        "identityScale": 0.8,
        "inputImages": ["data:image/jpeg;base64," + base64.b64encode(jpeg_bytes()).decode("ascii")],
        "outputImageWidth": 768,
        "outputImageHeight": 1024,
    }


async def test_idphoto_on_its_real_url(mock: Intercept, no_network: list[Any]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(IDPHOTO, json=idphoto_body())

    assert answer.status_code == 200, answer.text
    [uri] = answer.json()["outputImages"]
    header, _, payload = uri.partition(",")
    assert header == "data:image/jpeg;base64"
    assert image_format(base64.b64decode(payload)) == "JPEG"
    assert no_network == []


# -- strictness ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://example.com/", id="other-host"),
        pytest.param("http://modelslab.com/api/v6/image_editing/head_shot", id="provider-host-over-http"),
        pytest.param("https://api.modelslab.com/v6/image_editing/head_shot", id="lookalike-host"),
    ],
)
def test_unmatched_host_raises_naming_the_url_and_sends_nothing(
    mock: Intercept, no_network: list[Any], url: str
) -> None:
    with pytest.raises(UnmockedRequest) as caught:
        httpx.post(url, json=headshot_body("k"))

    message = str(caught.value)
    assert url in message
    assert "is not a provider host" in message
    assert "https://modelslab.com" in message  # what is intercepted
    assert no_network == []
    assert mock.journal() == []


async def test_unmatched_host_raises_for_async_clients(mock: Intercept, no_network: list[Any]) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(UnmockedRequest, match=r"GET https://example\.com/ was not sent"):
            await client.get("https://example.com/")
    assert no_network == []


def test_routes_added_on_the_router_serve_other_hosts(mock: Intercept) -> None:
    mock.router.get("https://example.com/face.jpg").respond(200, content=b"face")
    assert httpx.get("https://example.com/face.jpg").content == b"face"
    assert httpx.post(HEAD_SHOT, json=headshot_body("k")).json()["status"] == "success"


def test_slow_answers_honour_the_client_read_timeout() -> None:
    with intercept(config=MockConfig(slow_seconds=5.0)) as mock, pytest.raises(httpx.ReadTimeout):
        httpx.post(HEAD_SHOT, json=headshot_body("mock-slow"), timeout=0.2)
    assert mock.started is False


# -- the shared journal, lifecycle ---------------------------------------------------------------


def test_shared_journal_shows_every_provider(mock: Intercept) -> None:
    httpx.post(HEAD_SHOT, json=headshot_body("k"))
    httpx.post(
        f"{MH}/v1/ai-headshot-generator", json={"assets": {"image_file_path": FACE_URL}}, headers=BEARER
    )
    httpx.post(IDPHOTO, json=idphoto_body())
    httpx.post(AGENTAI, json=hs1_body(), headers=BEARER)

    entries = mock.journal()
    assert [e["provider"] for e in entries] == ["modelslab", "magichour", "idphoto", "agentai"]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    assert [e["status"] for e in entries] == [200] * 4
    # The admin API answers on every provider host, and shows the same journal.
    listed = httpx.get("https://idphoto.ai/__mock/journal").json()["entries"]
    assert {e["provider"] for e in listed} == {"modelslab", "magichour", "idphoto", "agentai"}


def test_decorator_runs_each_call_from_an_empty_store() -> None:
    mock = intercept(providers=["modelslab"])
    seen: list[int] = []

    @mock
    def call() -> None:
        httpx.post(HEAD_SHOT, json=headshot_body("k"))
        seen.append(len(mock.journal()))

    call()
    call()
    assert seen == [1, 1]
    assert mock.started is False


def test_start_stop_and_the_background_work_ends() -> None:
    mock = intercept(providers=["modelslab"]).start()
    try:
        created = httpx.post(HEAD_SHOT, json=headshot_body("mock-stuck")).json()
        assert created["status"] == "processing"
        [loop_thread] = [t for t in threading.enumerate() if t.name == "headshot-mock-intercept"]
    finally:
        mock.stop()
    assert not loop_thread.is_alive()
    # The store outlives the loop.
    assert mock.journal(operation="headShot")[0]["requested_scenario"] == "stuck"


async def test_decorator_on_a_coroutine_function() -> None:
    mock = intercept(providers=["idphoto"])

    @mock
    async def call() -> int:
        async with httpx.AsyncClient(timeout=10) as client:
            return (await client.post(IDPHOTO, json=idphoto_body())).status_code

    assert await call() == 200
    assert mock.started is False
    assert [e["operation"] for e in mock.journal()] == ["generatePortrait"]
