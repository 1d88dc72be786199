"""A webhook receiver for tests: records every delivery and checks Magic Hour signatures.

    with WebhookReceiver(secret="whsec_test") as hooks:
        ...  # point the mock's webhook at hooks.url
        [started, completed] = hooks.wait_for(2)
        assert completed.json["type"] == "image.completed" and completed.verified

It can also misbehave on purpose (fail the first N deliveries, answer slowly) to test a
sender's retries, or a mock's, against a receiver a real integration would have.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from headshot_mock.contracts.errors import ContractViolation
from headshot_mock.mockserver import BackgroundServer, InvalidSignature, verify_magichour


@dataclass(frozen=True, slots=True)
class Delivery:
    headers: dict[str, str]
    body: bytes
    answered: int
    """The status the receiver answered with."""
    verified: bool | None
    """Magic Hour signature check: True/False, or None when the receiver has no secret."""
    problem: str | None = None
    received_at: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    def __init__(
        self, *, secret: str | None = None, fail_first: int = 0, fail_status: int = 500, delay: float = 0.0
    ) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.delay = delay
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._server = BackgroundServer(Starlette(routes=[Route("/hook", self._receive, methods=["POST"])]))

    @property
    def url(self) -> str:
        return f"{self._server.url}/hook"

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified: bool | None = None
        problem: str | None = None
        if self.secret is not None:
            try:
                verify_magichour(self.secret, headers, body)
                verified = True
            except InvalidSignature as exc:
                verified, problem = False, str(exc)
        if self.delay:
            await asyncio.sleep(self.delay)
        with self._lock:
            failing = len(self.deliveries) < self.fail_first
            status = self.fail_status if failing else (400 if verified is False else 200)
            self.deliveries.append(Delivery(headers, body, status, verified, problem))
        return JSONResponse({"message": "received" if status == 200 else "rejected"}, status_code=status)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """The first ``count`` deliveries, waiting for them up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (found := self._first(count, deadline)) is None:
            time.sleep(0.01)
        return found

    async def wait(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """:meth:`wait_for` for async tests (an in-process mock keeps running meanwhile)."""
        deadline = time.monotonic() + timeout
        while (found := self._first(count, deadline)) is None:
            await asyncio.sleep(0.01)
        return found

    def _first(self, count: int, deadline: float) -> list[Delivery] | None:
        with self._lock:
            if len(self.deliveries) >= count:
                return list(self.deliveries[:count])
        if time.monotonic() > deadline:
            raise ContractViolation(
                f"expected {count} webhook deliveries, got {len(self.deliveries)} in time"
            )
        return None

    def __enter__(self) -> WebhookReceiver:
        self._server.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop()
