"""A small ModelsLab head-shot client on plain httpx.

What it shows: ModelsLab reports failures two ways, as 4xx/5xx answers *and* as HTTP 200 bodies
whose ``status`` is ``error`` or ``failed``; both become :class:`ModelsLabError`. A ``processing``
answer is polled through the fetch endpoint with a bounded number of tries (its answers carry
``output: ""`` and no ``id`` while processing, so the id of the first answer is kept); a job that
never finishes raises :class:`TimeoutError`. 429 and 5xx answers are retried a couple of times.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx

DEFAULT_BASE_URL = "https://modelslab.com/api"
RETRYABLE = frozenset({429, 500, 502, 503, 504})


class ModelsLabError(Exception):
    """ModelsLab refused or failed the generation (``status`` is the HTTP status)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"ModelsLab ({status}): {message}")
        self.status = status


class ModelsLabHeadshots:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 60.0,
        retries: int = 2,
        retry_wait: float = 1.0,
        max_retry_wait: float = 30.0,
        poll_interval: float = 5.0,
        max_polls: int = 24,
    ) -> None:
        self.api_key = api_key
        self.retries, self.retry_wait, self.max_retry_wait = retries, retry_wait, max_retry_wait
        self.poll_interval, self.max_polls = poll_interval, max_polls
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def __enter__(self) -> ModelsLabHeadshots:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def generate(self, photo: bytes, prompt: str = "professional headshot, studio lighting") -> list[bytes]:
        """Head shots of the face in ``photo`` (JPEG bytes), as PNG bytes."""
        face = "data:image/jpeg;base64," + base64.b64encode(photo).decode("ascii")
        body = {
            "key": self.api_key,
            "prompt": prompt,
            "face_image": face,
            "width": 512,
            "height": 768,
            "num_inference_steps": 31,  # one of the documented 21/31/41
            "guidance_scale": 5,  # documented as an integer 1-5
            "samples": 1,
        }
        answer = self._wait(self._post("/v6/image_editing/head_shot", body))
        return [self._download(url) for url in answer.get("output") or []]

    def _wait(self, answer: dict[str, Any]) -> dict[str, Any]:
        """Poll fetch until the job leaves ``processing`` (bounded by ``max_polls``)."""
        job_id = answer.get("id")
        for _ in range(self.max_polls):
            if answer.get("status") != "processing":
                return answer
            time.sleep(self.poll_interval)
            answer = self._post(f"/v6/image_editing/fetch/{job_id}", {"key": self.api_key})
        if answer.get("status") == "processing":
            raise TimeoutError(f"ModelsLab job {job_id} still processing after {self.max_polls} polls")
        return answer

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            try:
                response = self._http.post(path, json=body)
            except httpx.TimeoutException as exc:
                raise TimeoutError(f"ModelsLab did not answer {path} in time") from exc
            if response.status_code not in RETRYABLE or attempt == self.retries:
                break
            time.sleep(self._delay(response, attempt))
        try:
            data: dict[str, Any] = response.json()
        except ValueError:
            raise ModelsLabError(response.status_code, response.text[:200]) from None
        self._raise_for_error(response.status_code, data)
        return data

    def _delay(self, response: httpx.Response, attempt: int) -> float:
        """The body's ``retry_after`` (429) or an exponential backoff, capped."""
        try:
            hint = float(response.json().get("retry_after"))
        except (ValueError, TypeError, AttributeError):
            hint = self.retry_wait * 2**attempt
        return min(hint, self.max_retry_wait)

    def _raise_for_error(self, status: int, data: dict[str, Any]) -> None:
        """Error statuses, and the error envelopes ModelsLab sends with HTTP 200."""
        if status != 200 or data.get("status") in ("error", "failed"):
            message = data.get("message", data)
            raise ModelsLabError(status, message if isinstance(message, str) else repr(message))

    def _download(self, url: str) -> bytes:
        response = self._http.get(url)
        response.raise_for_status()
        return response.content
