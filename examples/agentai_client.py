"""A small agent.ai "[HS1] Generate Headshots" client on plain httpx.

What it shows: the action is synchronous (the images come back in the answer to one POST), its
body is a form of strings — ``photos_json`` is a JSON *string* and ``count`` the string "1".."4",
not a number — and refusals are ``{status, error}`` bodies with a non-200 status, which become
:class:`AgentAiError`. 429 and 5xx answers are retried a couple of times, honouring
``retry-after`` up to a cap; a request that outlasts the client's timeout raises
:class:`TimeoutError` (a generation is billed, so it is not blindly repeated).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

DEFAULT_BASE_URL = "https://api-lr.agent.ai/v1"
HS1 = "/action/instant_headshot_run_headshot_generation"
RETRYABLE = frozenset({429, 500, 502, 503, 504})


class AgentAiError(Exception):
    """agent.ai refused or failed the action (``status`` is the HTTP status)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"agent.ai ({status}): {message}")
        self.status = status


class AgentAiHeadshots:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 90.0,
        retries: int = 2,
        retry_wait: float = 1.0,
        max_retry_wait: float = 30.0,
    ) -> None:
        self.retries, self.retry_wait, self.max_retry_wait = retries, retry_wait, max_retry_wait
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, headers={"Authorization": f"Bearer {api_key}"}
        )

    def __enter__(self) -> AgentAiHeadshots:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def generate(self, photo: bytes, *, count: int = 1, style: str = "professional") -> list[bytes]:
        """``count`` (1-4) headshots of the person in ``photo`` (JPEG bytes), as image bytes."""
        photos = [{"base64": base64.b64encode(photo).decode("ascii"), "mimeType": "image/jpeg"}]
        body = {
            "photos_json": json.dumps(photos),
            "style": style,
            "background": "studio_white",
            "attire": "business_formal",
            "count": self._count(count),
            "quality": "standard",
            "aspect_ratio": "3:4",
            "output_variable_name": "headshot_result",
        }
        result = self._post(HS1, body)["response"]
        return [self._download(image["url"]) for image in result["images"]]

    def _count(self, count: int) -> Any:
        """The documented form of ``count``: a string enum, "1".."4"."""
        return str(count)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            try:
                response = self._http.post(path, json=body)
            except httpx.TimeoutException as exc:
                raise TimeoutError(f"agent.ai did not answer {path} in time") from exc
            if response.status_code not in RETRYABLE or attempt == self.retries:
                break
            time.sleep(self._delay(response, attempt))
        try:
            data: dict[str, Any] = response.json()
        except ValueError:
            raise AgentAiError(response.status_code, response.text[:200]) from None
        if response.status_code != 200:
            raise AgentAiError(response.status_code, str(data.get("error", data)))
        return data

    def _delay(self, response: httpx.Response, attempt: int) -> float:
        """``retry-after`` seconds when the answer says so, else an exponential backoff; capped."""
        try:
            hint = float(response.headers["retry-after"])
        except (KeyError, ValueError):
            hint = self.retry_wait * 2**attempt
        return min(hint, self.max_retry_wait)

    def _download(self, url: str) -> bytes:
        response = self._http.get(url)
        response.raise_for_status()
        return response.content
