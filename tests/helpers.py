"""Helpers several test modules share: sample photos, decoding and downloading images, an
agent.ai request body, running an SDK call under a deadline, pointing the official
ModelsLab SDK at a mock, and an ASGI scope for calling an app without a server."""

from __future__ import annotations

import base64
import io
import json
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest
from PIL import Image

with warnings.catch_warnings():  # modelslab_py's schemas use pydantic's deprecated class config
    warnings.simplefilter("ignore", DeprecationWarning)
    from modelslab_py.core.apis.image_editing import Image_editing
    from modelslab_py.core.client import Client as ModelsLabClient
    from modelslab_py.schemas.image_editing import FluxHeadshotSchema, HeadshotSchema

T = TypeVar("T")
FACE_URL = "https://example.com/face.jpg"


def http_scope(
    method: str, path: str, headers: list[tuple[bytes, bytes]], *, server: Any, client: tuple[str, int]
) -> dict[str, Any]:
    """An ASGI ``http`` scope as a server sends it, for calling an app directly."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": server,
        "client": client,
    }


def jpeg_bytes(color: tuple[int, int, int] = (201, 152, 121), size: tuple[int, int] = (64, 64)) -> bytes:
    """A plain JPEG 'photo' to hand to clients."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def decode(content: bytes) -> tuple[str | None, tuple[int, int]]:
    """(format, size) of an image, after decoding every pixel."""
    with Image.open(io.BytesIO(content)) as image:
        image.load()
        return image.format, image.size


def download(url: str) -> bytes:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, f"GET {url} -> {response.status_code}"
    return response.content


def hs1_body(*, count: str = "2", quality: str = "standard", aspect_ratio: str = "3:4") -> dict[str, str]:
    """A valid agent.ai HS1 request body, photo included."""
    photo = {"base64": base64.b64encode(jpeg_bytes()).decode("ascii"), "mimeType": "image/jpeg"}
    return {
        "photos_json": json.dumps([photo]),
        "style": "professional",
        "background": "studio_white",
        "attire": "business_formal",
        "output_variable_name": "headshot_result",
        "count": count,
        "quality": quality,
        "aspect_ratio": aspect_ratio,
    }


def within(seconds: float, call: Callable[[], T], *, on_timeout: Callable[[], None] | None = None) -> T:
    """Run ``call`` in a thread; fail the test instead of hanging if it takes longer.

    SDK polling loops have no limit of their own; ``on_timeout`` can end one (close its client).
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="bounded-sdk-call", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        if on_timeout is not None:
            on_timeout()
        pytest.fail(f"still running after {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def image_editing(base_url: str, key: str = "k", *, enterprise: bool = False) -> Image_editing:
    """modelslab_py pointed at a mock's root (``base_url``), with fast fetch retries."""
    client = ModelsLabClient(api_key=key, fetch_retry=5)
    client.fetch_timeout = 0.01  # seconds slept between fetch attempts (default 60)
    client.base_url = f"{base_url}/modelslab/api/"  # before Image_editing copies it
    return Image_editing(client=client, enterprise=enterprise)


def run_headshot(api: Image_editing, flux: bool, **fields: Any) -> dict[str, Any]:
    if flux:
        return api.flux_headshot(FluxHeadshotSchema(prompt="pretty woman", face_image=FACE_URL, **fields))  # type: ignore[no-any-return]
    return api.headshot(HeadshotSchema(prompt="pretty woman", face_image=FACE_URL, **fields))  # type: ignore[no-any-return]
