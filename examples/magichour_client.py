"""A small Magic Hour AI-headshot client on plain httpx, and a signed-webhook handler.

What it shows: the whole flow — ask for a presigned upload URL, PUT the photo to it (no API key
on the storage host), create the headshot project, poll the image project until ``complete``,
``error`` or ``canceled`` (bounded: a project that never finishes raises :class:`TimeoutError`),
then download. Error answers (``{"message": ...}``) and failed or canceled projects become
:class:`MagicHourError`; 429 and 5xx are retried a couple of times. :class:`WebhookHandler`
answers 200 only to ``image.*`` deliveries whose HMAC-SHA256 signature and timestamp check out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

DEFAULT_BASE_URL = "https://api.magichour.ai"
RETRYABLE = frozenset({429, 500, 502, 503, 504})
FINAL = ("complete", "error", "canceled")


class MagicHourError(Exception):
    """Magic Hour refused the request, or the project ended in ``error``/``canceled``."""


class WebhookSignatureError(ValueError):
    """A delivery's signature or timestamp does not check out."""


class MagicHourHeadshots:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        retries: int = 2,
        retry_wait: float = 1.0,
        poll_interval: float = 2.0,
        max_polls: int = 60,
    ) -> None:
        self.retries, self.retry_wait = retries, retry_wait
        self.poll_interval, self.max_polls = poll_interval, max_polls
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self._base = base_url.rstrip("/")
        self._http = httpx.Client(timeout=timeout)  # no default auth: presigned URLs must not see the key

    def __enter__(self) -> MagicHourHeadshots:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def generate(self, photo: bytes, *, name: str = "Headshot") -> list[bytes]:
        """Headshots of the face in ``photo`` (JPEG bytes), as image bytes."""
        [item] = self._api(
            "POST", "/v1/files/upload-urls", {"items": [{"type": "image", "extension": "jpg"}]}
        )["items"]
        self._http.put(item["upload_url"], content=photo).raise_for_status()
        created = self._api(
            "POST",
            "/v1/ai-headshot-generator",
            {"name": name, "assets": {"image_file_path": item["file_path"]}},
        )
        project = self._api("GET", f"/v1/image-projects/{created['id']}")
        for _ in range(self.max_polls):
            if project["status"] in FINAL:
                break
            time.sleep(self.poll_interval)
            project = self._api("GET", f"/v1/image-projects/{created['id']}")
        if project["status"] not in FINAL:
            raise TimeoutError(f"Magic Hour project {created['id']} still {project['status']!r}")
        if project["status"] != "complete":
            error = project.get("error") or {}
            raise MagicHourError(f"project {project['status']}: {error.get('code')} {error.get('message')}")
        return [self._download(d["url"]) for d in project["downloads"]]

    def _api(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            try:
                response = self._http.request(method, self._base + path, json=body, headers=self._auth)
            except httpx.TimeoutException as exc:
                raise TimeoutError(f"Magic Hour did not answer {method} {path} in time") from exc
            if response.status_code not in RETRYABLE or attempt == self.retries:
                break
            time.sleep(self.retry_wait * 2**attempt)
        if response.status_code != 200:
            raise MagicHourError(f"{method} {path} answered {response.status_code}: {response.text[:200]}")
        data: dict[str, Any] = response.json()
        return data

    def _download(self, url: str) -> bytes:
        response = self._http.get(url)
        response.raise_for_status()
        return response.content


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> dict[str, Any]:
    """The delivery's event, if ``body`` was signed with ``secret`` within ``tolerance`` seconds."""
    lowered = {k.lower(): v for k, v in headers.items()}
    signature = lowered.get("magic-hour-event-signature", "")
    stamp = lowered.get("magic-hour-event-timestamp", "")
    if not signature or not stamp.isdigit():
        raise WebhookSignatureError("missing signature or timestamp header")
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        raise WebhookSignatureError("timestamp too far from now (replayed?)")
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise WebhookSignatureError("signature does not match the body")
    event: dict[str, Any] = json.loads(body)
    return event


class WebhookHandler:
    """Answers a delivery: 200 (and ``on_event(event)``) when verified, 400 when not."""

    def __init__(self, secret: str, on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.secret, self.on_event = secret, on_event

    def __call__(self, headers: Mapping[str, str], body: bytes) -> int:
        try:
            event = self.verify(headers, body)
        except WebhookSignatureError:
            return 400
        if self.on_event is not None:
            self.on_event(event)
        return 200

    def verify(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        return verify_webhook(self.secret, headers, body)
