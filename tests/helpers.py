"""Helpers several test modules share: running an SDK call under a deadline, and pointing
the official ModelsLab SDK at a mock."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

with warnings.catch_warnings():  # modelslab_py's schemas use pydantic's deprecated class config
    warnings.simplefilter("ignore", DeprecationWarning)
    from modelslab_py.core.apis.image_editing import Image_editing
    from modelslab_py.core.client import Client as ModelsLabClient
    from modelslab_py.schemas.image_editing import FluxHeadshotSchema, HeadshotSchema

T = TypeVar("T")
FACE_URL = "https://example.com/face.jpg"


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
