"""Outgoing webhooks: the allow-list, delivery with retries and backoff, chaos, and the log.

A plug-in decides *what* to send (ModelsLab's payload to the request's ``webhook``; Magic Hour's
signed events to registered endpoints) and hands an :class:`Outgoing` to :meth:`Dispatcher.send`.
Every delivery becomes a record in the store — refused, held, pending, delivered or failed, with
each attempt's status, error and latency — and each attempt a journal entry. Deliveries run as
background work: a slow or dead receiver never blocks request handling.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from headshot_mock.mockserver.config import parse_allow
from headshot_mock.mockserver.runtime import Runtime, iso
from headshot_mock.mockserver.store import Record


@dataclass(frozen=True, slots=True)
class Outgoing:
    provider: str
    event: str
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    attempts: int = 1
    """The provider's own policy; ``webhook_attempts`` overrides it."""
    group: str = ""
    """The job the event belongs to (reordering works within a group)."""
    last: bool = True
    """Whether this is the group's final event."""


class Dispatcher:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._allow = parse_allow(runtime.config.webhook_allow)
        self._tails: dict[str, asyncio.Event] = {}

    def allowed(self, url: str) -> bool:
        return self._allow.refusal(url) is None

    async def send(self, outgoing: Outgoing) -> None:
        config = self.runtime.config
        record: Record = {
            "provider": outgoing.provider,
            "event": outgoing.event,
            "url": outgoing.url,
            "group": outgoing.group,
            "last": outgoing.last,
            "headers": outgoing.headers,
            "body": outgoing.body.decode("utf-8", "replace"),
            "created": iso(await self.runtime.now()),
            "attempts": [],
            "max_attempts": config.webhook_attempts or outgoing.attempts,
            "state": "pending",
            "copy": 0,
        }
        refusal = self._allow.refusal(outgoing.url)  # host and port; malformed URLs too
        if refusal is not None:
            record["state"] = "refused"
            record["error"] = refusal
            await self.runtime.store.delivery_put(record)
            await self._journal(record, None)
            return
        if config.webhook_reorder and not outgoing.last:
            record["state"] = "held"
            await self.runtime.store.delivery_put(record)
            return
        await self._start(record)
        if config.webhook_reorder and outgoing.last:
            for held in await self.runtime.store.deliveries(outgoing.provider):
                if held["state"] == "held" and held["group"] == outgoing.group:
                    await self._start({**held, "state": "pending"})

    async def _start(self, record: Record) -> None:
        """Deliver ``record`` and, under the duplicates chaos option, its extra copies."""
        for copy in range(self.runtime.config.webhook_duplicates + 1):
            each = {**record, "attempts": [], "copy": copy}
            if copy and "id" in each:
                del each["id"]
            stored = await self.runtime.store.delivery_put(each)
            # Within a job, each delivery waits for the first attempt of the one before it:
            # events arrive in the order they happened (unless reordering is asked for).
            before = self._tails.get(stored["group"])
            tail = asyncio.Event()
            self._tails[stored["group"]] = tail
            self.runtime.spawn(self._deliver(stored, before, tail))

    async def _deliver(self, record: Record, before: asyncio.Event | None, tail: asyncio.Event) -> None:
        try:
            if before is not None:
                await before.wait()
            await self._attempts(record, tail)
        finally:
            tail.set()
            if self._tails.get(record["group"]) is tail:
                del self._tails[record["group"]]

    async def _attempts(self, record: Record, tail: asyncio.Event) -> None:
        config = self.runtime.config
        if config.webhook_delay:
            await asyncio.sleep(config.webhook_delay)
        body = record["body"].encode()
        for attempt in range(record["max_attempts"]):
            if attempt:
                await self.runtime.sleep(config.webhook_backoff * 2 ** (attempt - 1))
            started = time.perf_counter()
            status: int | None = None
            error: str | None = None
            import httpx  # here, not at import time: serving starts faster without it

            try:
                # A client per attempt: webhooks are rare, and nothing is left open between them.
                async with httpx.AsyncClient(
                    timeout=config.webhook_timeout, follow_redirects=False, trust_env=False
                ) as client:
                    response = await client.post(record["url"], content=body, headers=record["headers"])
                status = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            outcome = {
                "at": iso(await self.runtime.now()),
                "status": status,
                "error": error,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            }
            record["attempts"].append(outcome)
            ok = status is not None and 200 <= status < 300
            record["state"] = (
                "delivered" if ok else ("failed" if attempt + 1 == record["max_attempts"] else "retrying")
            )
            await self.runtime.store.delivery_put(record)
            await self._journal(record, outcome)
            tail.set()
            if ok:
                return

    async def _journal(self, record: Record, outcome: dict[str, Any] | None) -> None:
        await self.runtime.store.journal_append(
            {
                "kind": "webhook",
                "time": iso(await self.runtime.now()),
                "provider": record["provider"],
                "operation": record["event"],
                "method": "POST",
                "path": record["url"],
                "delivery": record["id"],
                "attempt": len(record["attempts"]),
                "state": record["state"],
                "status": None if outcome is None else outcome["status"],
                "error": record.get("error") if outcome is None else outcome["error"],
                "latency_ms": None if outcome is None else outcome["latency_ms"],
            }
        )
