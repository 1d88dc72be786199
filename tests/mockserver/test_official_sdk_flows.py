"""End-to-end flows of the official SDKs, unmodified, against the live mock.

Only the base URL and the key change. Where ``test_official_sdks`` checks single calls, these
follow a whole integration: the async Magic Hour client's upload → create → poll → download, the
same flow through the npm ``magic-hour`` package in Node, Magic Hour's signed webhooks arriving
while the SDK polls, and ModelsLab's result webhook carrying the caller's ``track_id``. Every SDK
call, subprocess and webhook wait has a deadline: the SDKs' own polling loops have none.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from magic_hour import AsyncClient as MagicHourAsyncClient
from magic_hour import Client as MagicHourClient

from headshot_mock.contracts.receiver import Delivery, WebhookReceiver
from headshot_mock.mockserver import BackgroundServer, MockConfig, create_app
from tests.helpers import decode, download, image_editing, jpeg_bytes, run_headshot, within

with warnings.catch_warnings():
    # modelslab_py 0.2.3 declares its schemas with pydantic-v1 idioms (class Config, json_encoders).
    warnings.simplefilter("ignore", DeprecationWarning)

T = TypeVar("T")

PYDANTIC_V1_CALLS = pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")
"""modelslab_py builds every body with the deprecated ``schema.dict(exclude_none=True)``."""

SDK_DEADLINE = 30.0
"""Seconds one SDK flow may take (Magic Hour's ``check_result`` polls without a limit)."""
WEBHOOK_DEADLINE = 10.0
"""Seconds a webhook may take to arrive once the mock has produced it."""
NODE_DEADLINE = 60.0
NPM_CI_DEADLINE = 300.0
POLL_INTERVAL = "0.01"
"""MAGIC_HOUR_POLL_INTERVAL (seconds) for both SDKs: the mock answers at once."""

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"
NODE_FLOW = NODE_DIR / "headshot_flow.mjs"
SECRET = "whsec_sdk_flow_secret"
FACE_URL = "https://example.com/face.jpg"
TRACK_ID = "track-1"


# -- helpers -------------------------------------------------------------------------------------


def face_file(tmp_path: Path) -> Path:
    path = tmp_path / "face.jpg"
    path.write_bytes(jpeg_bytes(size=(96, 128)))
    return path


def out_dir(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


def journal(server: BackgroundServer, provider: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = httpx.get(f"{server.url}/__mock/journal", timeout=10).json()["entries"]
    return [e for e in entries if e["provider"] == provider and e.get("kind") != "webhook"]


def deliveries(server: BackgroundServer) -> list[dict[str, Any]]:
    """The mock's own record of its webhook deliveries, once its background work is done."""
    httpx.post(f"{server.url}/__mock/idle", timeout=WEBHOOK_DEADLINE).raise_for_status()
    records: list[dict[str, Any]] = httpx.get(f"{server.url}/__mock/webhooks/deliveries", timeout=10).json()[
        "deliveries"
    ]
    return records


def assert_downloads_decode(paths: list[str], directory: Path) -> None:
    assert paths, "the SDK downloaded nothing"
    for path in paths:
        assert Path(path).parent == directory
        image_format, size = decode(Path(path).read_bytes())
        assert image_format in ("PNG", "JPEG")
        assert max(size) <= 1344  # Magic Hour's long-side cap


# -- Magic Hour, async (PyPI magic-hour AsyncClient) ---------------------------------------------


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAGIC_HOUR_POLL_INTERVAL", POLL_INTERVAL)


@asynccontextmanager
async def async_magichour(server: BackgroundServer, token: str) -> AsyncIterator[MagicHourAsyncClient]:
    client = MagicHourAsyncClient(token=token, base_url=f"{server.url}/magichour")
    try:
        yield client
    finally:
        await client._base_client.httpx_client.aclose()


@pytest.mark.usefixtures("fast_polls")
@pytest.mark.parametrize("token", [pytest.param("k", id="success"), pytest.param("mock-processing")])
async def test_magichour_async_generate_waits_and_downloads(
    live: BackgroundServer, tmp_path: Path, token: str
) -> None:
    out = out_dir(tmp_path)
    async with async_magichour(live, token) as client:
        result = await asyncio.wait_for(
            client.v1.ai_headshot_generator.generate(
                assets={"image_file_path": str(face_file(tmp_path))},
                wait_for_completion=True,
                download_outputs=True,
                download_directory=str(out),
            ),
            SDK_DEADLINE,
        )

    assert result.status == "complete", result
    assert result.error is None
    assert result.image_count == len(result.downloads) == 1
    assert result.downloaded_paths is not None
    assert len(result.downloaded_paths) == result.image_count
    assert_downloads_decode(result.downloaded_paths, out)
    operations = [e["operation"] for e in journal(live, "magichour")]
    assert operations[:3] == ["createUploadUrls", "uploadAsset", "createAiHeadshot"]
    assert set(operations[3:]) == {"getImageProject"}


@pytest.mark.usefixtures("fast_polls")
@pytest.mark.parametrize(
    ("token", "code"),
    [
        pytest.param("mock-error", "unknown_error", id="error"),
        pytest.param("mock-no_face", "no_source_face", id="no_face"),
    ],
)
async def test_magichour_async_generate_ends_in_error(
    live: BackgroundServer, tmp_path: Path, token: str, code: str
) -> None:
    out = out_dir(tmp_path)
    async with async_magichour(live, token) as client:
        result = await asyncio.wait_for(
            client.v1.ai_headshot_generator.generate(
                assets={"image_file_path": str(face_file(tmp_path))},
                wait_for_completion=True,
                download_outputs=True,
                download_directory=str(out),
            ),
            SDK_DEADLINE,
        )

    assert result.status == "error", result
    assert result.error is not None
    assert result.error.code == code
    assert result.error.message
    assert result.credits_charged == 0, "credits are refunded on error"
    assert result.downloads == []
    assert not result.downloaded_paths
    assert list(out.iterdir()) == []


@pytest.mark.usefixtures("fast_polls")
async def test_magichour_async_delete_image_project(live: BackgroundServer, tmp_path: Path) -> None:
    async with async_magichour(live, "k") as client:
        done = await asyncio.wait_for(
            client.v1.ai_headshot_generator.generate(
                assets={"image_file_path": str(face_file(tmp_path))},
                wait_for_completion=True,
                download_outputs=False,
            ),
            SDK_DEADLINE,
        )
        assert done.status == "complete"
        assert done.downloads

        deleted = await asyncio.wait_for(client.v1.image_projects.delete(id=done.id), SDK_DEADLINE)
        after = await asyncio.wait_for(client.v1.image_projects.get(id=done.id), SDK_DEADLINE)

    assert deleted is None
    assert after.enabled is False
    assert after.downloads == []
    [entry] = [e for e in journal(live, "magichour") if e["operation"] == "deleteImageProject"]
    assert entry["status"] == 204


# -- Magic Hour webhooks while the sync SDK polls ------------------------------------------------


@pytest.fixture
def hooked() -> Iterator[tuple[BackgroundServer, WebhookReceiver]]:
    """A mock with a Magic Hour webhook endpoint registered at start, and its receiver."""
    with WebhookReceiver(secret=SECRET) as hooks:
        app = create_app(config=MockConfig(webhooks=(f"{hooks.url}#{SECRET}",)))
        with BackgroundServer(app) as server:
            yield server, hooks


@pytest.mark.usefixtures("fast_polls")
@pytest.mark.parametrize(
    ("token", "status", "events"),
    [
        pytest.param("k", "complete", ["image.started", "image.completed"], id="success"),
        pytest.param("mock-processing", "complete", ["image.started", "image.completed"], id="processing"),
        pytest.param("mock-no_face", "error", ["image.started", "image.errored"], id="no_face"),
    ],
)
def test_magichour_sdk_flow_fires_signed_webhooks(
    hooked: tuple[BackgroundServer, WebhookReceiver],
    tmp_path: Path,
    token: str,
    status: str,
    events: list[str],
) -> None:
    server, hooks = hooked
    out = out_dir(tmp_path)
    client = MagicHourClient(token=token, base_url=f"{server.url}/magichour")
    try:
        result = within(
            SDK_DEADLINE,
            lambda: client.v1.ai_headshot_generator.generate(
                assets={"image_file_path": str(face_file(tmp_path))},
                wait_for_completion=True,
                download_outputs=True,
                download_directory=str(out),
            ),
            on_timeout=client._base_client.httpx_client.close,  # the next poll raises
        )
    finally:
        client._base_client.httpx_client.close()

    assert result.status == status, result
    got: list[Delivery] = hooks.wait_for(len(events), timeout=WEBHOOK_DEADLINE)
    assert [d.json["type"] for d in got] == events
    assert [d.verified for d in got] == [True] * len(events), [d.problem for d in got]
    assert [d.answered for d in got] == [200] * len(events)
    assert {d.json["payload"]["id"] for d in got} == {result.id}
    final = got[-1].json["payload"]
    assert final["status"] == status
    if status == "complete":
        assert [d["url"] for d in final["downloads"]] == [d.url for d in result.downloads]
        assert result.downloaded_paths is not None
        assert_downloads_decode(result.downloaded_paths, out)
    else:
        assert final["error"]["code"] == result.error.code == "no_source_face"
    records = deliveries(server)
    assert [(r["event"], r["state"], len(r["attempts"])) for r in records] == [
        (event, "delivered", 1) for event in events
    ]
    assert len(hooks.deliveries) == len(events), "no delivery beyond the job's events"


# -- Magic Hour in Node (npm magic-hour) ---------------------------------------------------------


@pytest.fixture(scope="session")
def node_sdk() -> str:
    """The ``node`` executable, with tests/node's locked dependencies installed."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the npm magic-hour flow needs Node.js (>= 20)")
    if not (NODE_DIR / "node_modules" / "magic-hour" / "package.json").is_file():
        npm = shutil.which("npm")
        assert npm is not None, "node is on PATH but npm is not: cannot install tests/node"
        try:
            installed = subprocess.run(
                [npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund"],
                capture_output=True,
                text=True,
                timeout=NPM_CI_DEADLINE,
                cwd=ROOT,
                check=False,
            )
            failure = "" if installed.returncode == 0 else f"{installed.stdout}\n{installed.stderr}"
        except subprocess.TimeoutExpired:
            failure = f"npm ci did not finish within {NPM_CI_DEADLINE} s (ETIMEDOUT)"
        if failure and not os.environ.get("CI") and _unreachable_registry(failure):
            said = next(line for line in failure.splitlines() if _unreachable_registry(line)).strip()
            pytest.skip(f"npm ci cannot reach the npm registry ({said}); CI, which can, runs this")
        assert not failure, f"npm ci failed:\n{failure}"
    return node


def _unreachable_registry(output: str) -> bool:
    """npm's own words for a registry it cannot reach (no network, no proxy, no DNS)."""
    signs = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH", "network")
    return any(sign in output for sign in signs)


def run_node_flow(node: str, server: BackgroundServer, token: str, image: Path, out: Path) -> dict[str, Any]:
    env = {**os.environ, "MAGIC_HOUR_POLL_INTERVAL": POLL_INTERVAL, "MAGIC_HOUR_FLOW_TIMEOUT_MS": "45000"}
    done = subprocess.run(
        [node, str(NODE_FLOW), f"{server.url}/magichour", token, str(image), str(out)],
        capture_output=True,
        text=True,
        timeout=NODE_DEADLINE,
        cwd=NODE_DIR,
        env=env,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    # The SDK logs to stdout too (console.info): the result is the script's last line.
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines, f"no output; stderr:\n{done.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@pytest.mark.slow
@pytest.mark.parametrize("token", [pytest.param("k", id="success"), pytest.param("mock-processing")])
def test_magichour_node_sdk_generate_waits_and_downloads(
    live: BackgroundServer, node_sdk: str, tmp_path: Path, token: str
) -> None:
    out = tmp_path / "out"

    result = run_node_flow(node_sdk, live, token, face_file(tmp_path), out)

    assert result["status"] == "complete", result
    assert result["error"] is None
    assert result["imageCount"] == len(result["downloads"]) == 1
    assert len(result["downloadedPaths"]) == 1
    assert_downloads_decode(result["downloadedPaths"], out)
    operations = [e["operation"] for e in journal(live, "magichour")]
    assert operations[:3] == ["createUploadUrls", "uploadAsset", "createAiHeadshot"]
    assert set(operations[3:]) == {"getImageProject"}
    assert all(e["findings"] == [] for e in journal(live, "magichour")), "the Node SDK's requests conform"


@pytest.mark.slow
def test_magichour_node_sdk_no_face_ends_in_error(
    live: BackgroundServer, node_sdk: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"

    result = run_node_flow(node_sdk, live, "mock-no_face", face_file(tmp_path), out)

    assert result["status"] == "error", result
    assert result["error"]["code"] == "no_source_face"
    assert "downloadedPaths" not in result
    assert list(out.iterdir()) == []


# -- ModelsLab result webhook (PyPI modelslab_py) ------------------------------------------------


MODELSLAB_CALLS = [
    pytest.param(False, False, id="v6-head_shot"),
    pytest.param(False, True, id="v6-flux_headshot"),
    pytest.param(True, False, id="enterprise-head_shot"),
    pytest.param(True, True, id="enterprise-flux_headshot"),
]


@PYDANTIC_V1_CALLS
@pytest.mark.parametrize(("enterprise", "flux"), MODELSLAB_CALLS)
def test_modelslab_sdk_webhook_carries_the_track_id_and_result(
    live: BackgroundServer, enterprise: bool, flux: bool
) -> None:
    api = image_editing(live.url, "mock-processing", enterprise=enterprise)
    with WebhookReceiver() as hooks:
        queued = within(
            SDK_DEADLINE,
            lambda: run_headshot(api, flux, width=512, height=768, webhook=hooks.url, track_id=TRACK_ID),
        )
        assert queued["status"] == "processing", queued
        [delivery] = hooks.wait_for(1, timeout=WEBHOOK_DEADLINE)
        final = within(SDK_DEADLINE, lambda: api.fetch(str(queued["id"])))
        records = deliveries(live)

    payload = delivery.json
    assert (payload["status"], payload["track_id"], payload["id"]) == ("success", TRACK_ID, queued["id"])
    assert delivery.verified is None
    assert "magic-hour-event-signature" not in delivery.headers, "ModelsLab does not sign"
    assert final["status"] == "success", final
    assert final["id"] == queued["id"]
    assert payload["output"] == final["output"]
    assert payload["output"]
    for url in payload["output"]:
        assert decode(download(url)) == ("PNG", (512, 768))
    assert [(r["state"], len(r["attempts"])) for r in records] == [("delivered", 1)]
    assert len(hooks.deliveries) == 1


@PYDANTIC_V1_CALLS
@pytest.mark.parametrize(("enterprise", "flux"), MODELSLAB_CALLS)
def test_modelslab_sdk_failed_generation_webhook(
    live: BackgroundServer, enterprise: bool, flux: bool
) -> None:
    api = image_editing(live.url, "mock-failed", enterprise=enterprise)
    with WebhookReceiver() as hooks:
        queued = within(SDK_DEADLINE, lambda: run_headshot(api, flux, webhook=hooks.url, track_id=TRACK_ID))
        assert queued["status"] == "processing", queued
        [delivery] = hooks.wait_for(1, timeout=WEBHOOK_DEADLINE)
        final = within(SDK_DEADLINE, lambda: api.fetch(str(queued["id"])))

    payload = delivery.json
    assert (payload["status"], payload["track_id"], payload["id"]) == ("failed", TRACK_ID, queued["id"])
    assert final["status"] == "failed", final
