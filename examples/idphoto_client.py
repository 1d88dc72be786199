"""A small idphoto.ai "Generate Portrait" client on plain httpx.

What it shows: the key travels in the JSON body (``apiKey``), the reference photo goes up as a
base64 data URI in a one-item ``inputImages`` array, numbers are sent as JSON numbers (the page
writes them as quoted placeholders) and the portraits come back inline as data URIs, decoded
here to bytes. ``{"error": ...}`` answers become :class:`IdPhotoError`; 429 and 5xx are retried a
couple of times; a request that outlasts the client's timeout raises :class:`TimeoutError`.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx

DEFAULT_BASE_URL = "https://idphoto.ai"
RETRYABLE = frozenset({429, 500, 502, 503, 504})


class IdPhotoError(Exception):
    """idphoto.ai refused or failed the request (``status`` is the HTTP status)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"idphoto.ai ({status}): {message}")
        self.status = status


class IdPhotoPortraits:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 120.0,
        retries: int = 2,
        retry_wait: float = 1.0,
    ) -> None:
        self.api_key = api_key
        self.retries, self.retry_wait = retries, retry_wait
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def __enter__(self) -> IdPhotoPortraits:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def generate(
        self,
        photo: bytes,
        prompt: str = "professional corporate headshot, navy suit, grey backdrop",
        *,
        samples: int = 1,
        seed: int = -1,
        size: tuple[int, int] = (768, 1024),
    ) -> list[bytes]:
        """``samples`` (1-8) portraits of the face in ``photo`` (JPEG bytes); a fixed ``seed`` > 0
        with the same prompt reproduces a style for different people, -1 is random."""
        body = {
            "apiKey": self.api_key,
            "prompt": prompt,
            "seed": seed,
            "sampleNumber": samples,
            "identityScale": 0.8,
            "inputImages": ["data:image/jpeg;base64," + base64.b64encode(photo).decode("ascii")],
            "outputImageWidth": size[0],
            "outputImageHeight": size[1],
        }
        answer = self._post("/api/generate-portrait", body)
        return [_decode_data_uri(uri) for uri in answer["outputImages"]]

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            try:
                response = self._http.post(path, json=body)
            except httpx.TimeoutException as exc:
                raise TimeoutError(f"idphoto.ai did not answer {path} in time") from exc
            if response.status_code not in RETRYABLE or attempt == self.retries:
                break
            time.sleep(self.retry_wait * 2**attempt)  # no rate-limit headers are documented
        try:
            data: dict[str, Any] = response.json()
        except ValueError:
            raise IdPhotoError(response.status_code, response.text[:200]) from None
        if response.status_code != 200:
            raise IdPhotoError(response.status_code, str(data.get("error", data)))
        return data


def _decode_data_uri(uri: str) -> bytes:
    header, _, payload = uri.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64"):
        raise IdPhotoError(200, f"unexpected image encoding {header[:40]!r}")
    return base64.b64decode(payload, validate=True)
