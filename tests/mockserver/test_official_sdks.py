"""The official provider SDKs, unmodified, against the live mock.

Only the base URL and the key change (``/work/shared/providers.md`` §7); every call goes over a
real socket to ``live`` (a uvicorn ``BackgroundServer``). idphoto.ai has no SDK, so it is driven
with plain ``requests`` exactly as its page documents.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from agentai import AgentAiClient
from magic_hour import Client as MagicHourClient
from make_api_request import ApiError

from headshot_mock.mockserver import BackgroundServer
from tests.helpers import decode, download, hs1_body, image_editing, jpeg_bytes, run_headshot, within

with warnings.catch_warnings():
    # modelslab_py 0.2.3 declares its schemas with pydantic-v1 idioms (class Config, json_encoders).
    warnings.simplefilter("ignore", DeprecationWarning)
    from modelslab_py.schemas.image_editing import HeadshotSchema

PYDANTIC_V1_CALLS = pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")
"""modelslab_py builds every body with the deprecated ``schema.dict(exclude_none=True)``."""

SDK_DEADLINE = 30.0
"""Seconds an SDK call that polls without its own limit (Magic Hour ``check_result``) may take."""

AGENTAI_HS1 = "/action/instant_headshot_run_headshot_generation"
FACE_URL = "https://example.com/face.jpg"


# -- helpers -------------------------------------------------------------------------------------


def journal(live: BackgroundServer, provider: str | None = None) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = httpx.get(f"{live.url}/__mock/journal", timeout=10).json()["entries"]
    return [e for e in entries if provider is None or e["provider"] == provider]


def finding_text(entry: dict[str, Any]) -> str:
    return " | ".join(f"{f['field']}: {f['message']}" for f in entry["findings"])


# -- agent.ai (PyPI agentai) ---------------------------------------------------------------------


def agentai_client(live: BackgroundServer, token: str = "k") -> AgentAiClient:
    client = AgentAiClient(bearer_token=token)
    client.BASE_URL = f"{live.url}/agentai/v1"  # instance override, read through self.BASE_URL
    return client


@pytest.mark.parametrize(
    ("count", "quality", "aspect_ratio", "size"),
    [
        pytest.param("2", "standard", "3:4", (768, 1024), id="two-standard-3x4"),
        pytest.param("1", "standard", "1:1", (1024, 1024), id="one-standard-1x1"),
        pytest.param("1", "standard", "9:16", (576, 1024), id="one-standard-9x16"),
        pytest.param("3", "high", "16:9", (2048, 1152), id="three-high-16x9"),
        pytest.param("1", "high", "3:4", (1536, 2048), id="one-high-3x4"),
    ],
)
def test_agentai_sdk_generates_headshots(
    live: BackgroundServer, count: str, quality: str, aspect_ratio: str, size: tuple[int, int]
) -> None:
    client = agentai_client(live)
    body = hs1_body(count=count, quality=quality, aspect_ratio=aspect_ratio)

    result = client._post(AGENTAI_HS1, body)

    assert result["status"] == 200, result
    assert result["error"] is None
    images = result["results"]["images"]
    assert len(images) == int(count)
    assert isinstance(result["results"]["run_id"], str)
    assert result["results"]["run_id"]
    for image in images:
        assert decode(download(image["url"]))[1] == size
    [entry] = journal(live, "agentai")
    assert (entry["status"], entry["scenario"], entry["findings"]) == (200, "success", [])


def test_agentai_sdk_unauthorized_takes_the_error_path(live: BackgroundServer) -> None:
    result = agentai_client(live, "mock-unauthorized")._post(AGENTAI_HS1, hs1_body())

    assert result["status"] == 403
    assert isinstance(result["error"], str)
    assert result["error"]
    assert result["results"] is None
    [entry] = journal(live, "agentai")
    assert (entry["status"], entry["scenario"]) == (403, "unauthorized")


def test_agentai_sdk_rate_limited_with_ratelimit_headers(live: BackgroundServer) -> None:
    result = agentai_client(live, "mock-rate_limited")._post(AGENTAI_HS1, hs1_body())

    assert result["status"] == 429
    assert isinstance(result["error"], str)
    assert result["error"]
    assert result["results"] is None

    # The SDK drops the headers: replay the same request to read them.
    raw = httpx.post(
        f"{live.url}/agentai/v1{AGENTAI_HS1}",
        json=hs1_body(),
        headers={"Authorization": "Bearer mock-rate_limited"},
        timeout=10,
    )
    assert raw.status_code == 429
    assert raw.headers["ratelimit-limit"] == "20"
    assert raw.headers["ratelimit-remaining"] == "0"
    assert int(raw.headers["ratelimit-reset"]) > 0
    assert raw.headers["ratelimit-reset-date"].endswith("Z")
    assert int(raw.headers["retry-after"]) >= 0
    assert [(e["status"], e["scenario"]) for e in journal(live, "agentai")] == [(429, "rate_limited")] * 2


# -- idphoto.ai (no SDK: plain requests) ---------------------------------------------------------


def data_uri(content: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(content).decode("ascii")


def generate_portrait(live: BackgroundServer, **overrides: Any) -> requests.Response:
    body: dict[str, Any] = {
        "apiKey": "k",
        "prompt": "professional corporate headshot, navy suit, grey backdrop",
        "seed": 421337,
        "sampleNumber": 2,
        "identityScale": 0.8,
        "inputImages": [data_uri(jpeg_bytes())],
        "outputImageWidth": 768,
        "outputImageHeight": 1024,
        **overrides,
    }
    return requests.post(f"{live.url}/idphoto/api/generate-portrait", json=body, timeout=30)


def portraits(response: requests.Response) -> list[bytes]:
    assert response.status_code == 200, response.text
    out = []
    for uri in response.json()["outputImages"]:
        header, _, payload = uri.partition(",")
        assert header == "data:image/jpeg;base64"
        out.append(base64.b64decode(payload, validate=True))
    return out


@pytest.mark.parametrize(
    ("samples", "width", "height"),
    [
        pytest.param(2, 768, 1024, id="two-768x1024"),
        pytest.param(4, 768, 768, id="four-768x768"),
        pytest.param(1, 512, 640, id="one-512x640"),
    ],
)
def test_idphoto_returns_jpeg_data_uris_of_the_requested_size(
    live: BackgroundServer, samples: int, width: int, height: int
) -> None:
    images = portraits(
        generate_portrait(live, sampleNumber=samples, outputImageWidth=width, outputImageHeight=height)
    )

    assert len(images) == samples
    assert [decode(image) for image in images] == [("JPEG", (width, height))] * samples
    [entry] = journal(live, "idphoto")
    assert (entry["status"], entry["findings"]) == (200, [])


@pytest.mark.parametrize(
    ("change", "same"),
    [
        pytest.param({}, True, id="same-prompt-and-seed"),
        pytest.param({"inputImages": [data_uri(jpeg_bytes((20, 40, 60), (80, 96)))]}, True, id="other-photo"),
        pytest.param({"seed": 421338}, False, id="other-seed"),
        pytest.param({"prompt": "casual outdoor portrait"}, False, id="other-prompt"),
    ],
)
def test_idphoto_prompt_and_seed_are_a_style_template(
    live: BackgroundServer, change: dict[str, Any], same: bool
) -> None:
    first = portraits(generate_portrait(live))
    second = portraits(generate_portrait(live, **change))

    assert len(first) == len(second) == 2
    assert (first == second) is same
    if not same:
        assert not set(first) & set(second)


# -- ModelsLab (PyPI modelslab_py) ---------------------------------------------------------------


MODELSLAB_CALLS = [
    pytest.param(False, False, "headShot", "num_inference_steps", id="v6-head_shot"),
    pytest.param(False, True, "fluxHeadshot", "seed", id="v6-flux_headshot"),
    pytest.param(True, False, "enterpriseHeadShot", "num_inference_steps", id="enterprise-head_shot"),
    pytest.param(True, True, "enterpriseFluxHeadshot", "seed", id="enterprise-flux_headshot"),
]


@PYDANTIC_V1_CALLS
@pytest.mark.parametrize(("enterprise", "flux", "operation", "violated"), MODELSLAB_CALLS)
def test_modelslab_sdk_defaults_succeed_leniently_and_are_reported(
    live: BackgroundServer, enterprise: bool, flux: bool, operation: str, violated: str
) -> None:
    answer = run_headshot(image_editing(live.url, enterprise=enterprise), flux)

    assert answer["status"] == "success", answer
    assert len(answer["output"]) == 1  # the SDK default samples=1
    for url in answer["output"]:
        assert decode(download(url)) == ("PNG", (512, 512))  # the SDK default width/height
    [entry] = journal(live, "modelslab")
    assert (entry["operation"], entry["status"], entry["level"]) == (operation, 200, "lenient")
    assert entry["findings"], "the SDK defaults break the documented ranges"
    assert violated in finding_text(entry)


@PYDANTIC_V1_CALLS
def test_modelslab_sdk_default_violations_are_in_the_response_header(live: BackgroundServer) -> None:
    # The SDK returns only the parsed body: replay its exact request to read the headers.
    body = {"key": "k", **HeadshotSchema(prompt="pretty woman", face_image=FACE_URL).dict(exclude_none=True)}

    raw = httpx.post(
        f"{live.url}/modelslab/api/v6/image_editing/head_shot",
        json=body,
        headers={"X-Requested-With": "modelslab-py"},
        timeout=10,
    )

    assert raw.status_code == 200
    assert raw.json()["status"] == "success"
    violations = raw.headers["x-mock-violations"]
    for field in ("num_inference_steps", "guidance_scale", "s_scale"):
        assert field in violations


@PYDANTIC_V1_CALLS
@pytest.mark.parametrize(("enterprise", "flux", "operation", "violated"), MODELSLAB_CALLS)
def test_modelslab_sdk_fetch_reaches_success_after_processing(
    live: BackgroundServer, enterprise: bool, flux: bool, operation: str, violated: str
) -> None:
    api = image_editing(live.url, "mock-processing", enterprise=enterprise)

    queued = run_headshot(api, flux, width=512, height=768)

    assert queued["status"] == "processing", queued
    assert queued["output"] == []
    final = api.fetch(str(queued["id"]))

    assert final["status"] == "success", final
    assert final["output"]
    for url in final["output"]:
        assert decode(download(url)) == ("PNG", (512, 768))
    entries = journal(live, "modelslab")
    assert entries[0]["operation"] == operation
    polls = [e["response"]["body"]["status"] for e in entries[1:]]
    assert polls[0] == "processing", "at least one poll sees the job in progress"
    assert polls[-1] == "success"
    assert len(polls) <= api.client.fetch_retry


def test_modelslab_sdk_enterprise_system_details(live: BackgroundServer) -> None:
    details = image_editing(live.url, enterprise=True).system_details()

    assert details["status"] in ("ok", "success"), details
    assert isinstance(details["model_count"], int)
    assert isinstance(details["queue_time"], int)


@PYDANTIC_V1_CALLS
def test_modelslab_sdk_unauthorized_raises(live: BackgroundServer) -> None:
    with pytest.raises(Exception, match="status code 401"):
        run_headshot(image_editing(live.url, "mock-unauthorized"), flux=False)


# -- Magic Hour (PyPI magic-hour) ----------------------------------------------------------------


@pytest.fixture
def magichour(live: BackgroundServer) -> Iterator[Callable[[str], MagicHourClient]]:
    """Magic Hour SDK clients on the mock, closed (their httpx pools) at teardown."""
    made: list[MagicHourClient] = []

    def make(token: str = "k") -> MagicHourClient:
        client = MagicHourClient(token=token, base_url=f"{live.url}/magichour")
        made.append(client)
        return client

    yield make
    for client in made:
        client._base_client.httpx_client.close()


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAGIC_HOUR_POLL_INTERVAL", "0.01")


def bounded(client: MagicHourClient, call: Callable[[], Any]) -> Any:
    """Run an SDK call whose polling loop has no limit, failing after SDK_DEADLINE seconds."""
    # Closing the SDK's connection pool makes its next poll raise, which ends the thread.
    return within(SDK_DEADLINE, call, on_timeout=client._base_client.httpx_client.close)


def face_file(tmp_path: Path) -> Path:
    path = tmp_path / "face.jpg"
    path.write_bytes(jpeg_bytes(size=(96, 128)))
    return path


def test_magichour_sdk_upload_urls_and_create_parse(
    live: BackgroundServer, magichour: Callable[[str], MagicHourClient]
) -> None:
    client = magichour("k")

    uploads = client.v1.files.upload_urls.create(items=[{"type_": "image", "extension": "jpg"}])

    [item] = uploads.items
    assert item.file_path.startswith("api-assets/")
    assert item.file_path.endswith(".jpg")
    assert item.expires_at
    put = httpx.put(item.upload_url, content=jpeg_bytes(), timeout=10)  # as FilesClient.upload_file does
    assert put.status_code == 200

    created = client.v1.ai_headshot_generator.create(
        assets={"image_file_path": item.file_path}, name="My Ai Headshot image"
    )

    assert created.id
    assert created.credits_charged == 50
    assert isinstance(created.frame_cost, int)
    project = client.v1.image_projects.get(id=created.id)
    assert (project.id, project.name, project.type_) == (created.id, "My Ai Headshot image", "AI_HEADSHOT")
    assert [e["operation"] for e in journal(live, "magichour")] == [
        "createUploadUrls",
        "uploadAsset",
        "createAiHeadshot",
        "getImageProject",
    ]


@pytest.mark.usefixtures("fast_polls")
@pytest.mark.parametrize(
    "token",
    [pytest.param("k", id="success"), pytest.param("mock-processing", id="processing")],
)
def test_magichour_sdk_generate_waits_and_downloads(
    live: BackgroundServer, magichour: Callable[[str], MagicHourClient], tmp_path: Path, token: str
) -> None:
    client = magichour(token)
    out = tmp_path / "out"
    out.mkdir()

    result = bounded(
        client,
        lambda: client.v1.ai_headshot_generator.generate(
            assets={"image_file_path": str(face_file(tmp_path))},
            wait_for_completion=True,
            download_outputs=True,
            download_directory=str(out),
        ),
    )

    assert result.status == "complete", result
    assert result.error is None
    assert result.image_count >= 1
    assert len(result.downloaded_paths) == len(result.downloads) == result.image_count
    for path in result.downloaded_paths:
        assert Path(path).parent == out
        image_format, size = decode(Path(path).read_bytes())
        assert image_format in ("PNG", "JPEG")
        assert max(size) <= 1344
    entries = journal(live, "magichour")
    assert [e["operation"] for e in entries[:3]] == ["createUploadUrls", "uploadAsset", "createAiHeadshot"]
    polls = [e["response"]["body"]["status"] for e in entries[3:] if e["operation"] == "getImageProject"]
    assert len(polls) == len(entries) - 3
    assert polls[-1] == "complete"
    assert (set(polls[:-1]) & {"queued", "rendering"} != set()) is (token == "mock-processing")


@pytest.mark.usefixtures("fast_polls")
def test_magichour_sdk_generate_no_face_ends_in_error(
    magichour: Callable[[str], MagicHourClient], tmp_path: Path
) -> None:
    client = magichour("mock-no_face")
    out = tmp_path / "out"
    out.mkdir()

    result = bounded(
        client,
        lambda: client.v1.ai_headshot_generator.generate(
            assets={"image_file_path": str(face_file(tmp_path))},
            wait_for_completion=True,
            download_outputs=True,
            download_directory=str(out),
        ),
    )

    assert result.status == "error"
    assert result.error is not None
    assert result.error.code == "no_source_face"
    assert result.error.message
    assert not result.downloaded_paths
    assert list(out.iterdir()) == []


@pytest.mark.usefixtures("fast_polls")
def test_magichour_sdk_delete_image_project(
    live: BackgroundServer, magichour: Callable[[str], MagicHourClient], tmp_path: Path
) -> None:
    client = magichour("k")
    done = bounded(
        client,
        lambda: client.v1.ai_headshot_generator.generate(
            assets={"image_file_path": str(face_file(tmp_path))},
            wait_for_completion=True,
            download_outputs=False,
        ),
    )
    assert done.status == "complete"

    assert client.v1.image_projects.delete(id=done.id) is None

    [deleted] = [e for e in journal(live, "magichour") if e["operation"] == "deleteImageProject"]
    assert deleted["status"] == 204
    after = client.v1.image_projects.get(id=done.id)
    assert after.enabled is False
    assert after.downloads == []


def test_magichour_sdk_unauthorized_raises_api_error(magichour: Callable[[str], MagicHourClient]) -> None:
    with pytest.raises(ApiError) as raised:
        magichour("mock-unauthorized").v1.ai_headshot_generator.create(assets={"image_file_path": FACE_URL})

    assert raised.value.status_code == 401
    assert raised.value.body == {"message": "Unauthorized"}
