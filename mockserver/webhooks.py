"""Outgoing webhooks: the allow-list, delivery with retries and backoff, chaos, and the log.

A plug-in decides *what* to send (ModelsLab's payload to the request's ``webhook``; Magic Hour's
signed events to registered endpoints) and hands an :class:`Outgoing` to :meth:`Dispatcher.send`
while it handles a job's due event. Every delivery becomes a record in the store — refused, held,
pending, retrying, delivered, failed or abandoned, with each attempt's status, error and latency
— and each attempt a journal entry. The first attempt is made right away, so a job's events
arrive in the order they happened; retries are items in the store's due index, made by
whichever worker claims them. Creating a delivery is idempotent (its key: the group, event,
endpoint and copy), so an event handled twice after a worker died sends once.

One HTTP client (per event loop) sends every delivery; it is closed with the runtime.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from headshot_mock.mockserver import journal
from headshot_mock.mockserver.config import parse_allow
from headshot_mock.mockserver.runtime import Outgoing, Runtime, iso
from headshot_mock.mockserver.stores import Due, Record

if TYPE_CHECKING:
    import httpx

__all__ = ["Dispatcher", "Outgoing"]

OPEN = ("pending", "retrying", "held")
"""States of a delivery that still has attempts to come."""


class Dispatcher:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._allow = parse_allow(runtime.config.webhook_allow)
        self._client: httpx.AsyncClient | None = None

    def allowed(self, url: str) -> bool:
        return self._allow.refusal(url) is None

    async def send(self, outgoing: Outgoing) -> None:
        config = self.runtime.config
        store = self.runtime.store
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
        key = f"{outgoing.provider}|{outgoing.group}|{outgoing.event}|{outgoing.key or outgoing.url}"
        refusal = self._allow.refusal(outgoing.url)  # host and port; malformed URLs too
        if refusal is not None:
            record["state"] = "refused"
            record["error"] = refusal
            stored, new = await store.delivery_create(key, record)
            if new:
                await self._journal(stored, None)
            return
        held = config.webhook_reorder and not outgoing.last
        copies = []
        for copy in range(config.webhook_duplicates + 1):
            each = {**record, "copy": copy, "state": "held" if held else "pending"}
            stored, _ = await store.delivery_create(f"{key}|{copy}", each)
            copies.append(stored)
        if held:
            return
        for stored in copies:
            await self._first(stored)
        if config.webhook_reorder:
            for other in await store.deliveries(outgoing.provider):
                if other["state"] == "held" and other["group"] == outgoing.group:
                    claimed, mine = await store.delivery_update(
                        other["id"], {"state": "pending"}, expect={"state": "held"}
                    )
                    if mine and claimed is not None:
                        await self._first(claimed)

    async def _first(self, record: Record) -> None:
        """The first attempt, unless an earlier handling of the same event made it."""
        if record["state"] == "pending" and not record["attempts"]:
            then = await self._attempt(record)
            if then:
                await self.runtime.store.due_add(then)
                self.runtime.wake()

    async def on_due(self, item: Due) -> list[Due]:
        """A retry fell due."""
        record = await self.runtime.store.delivery_get(int(item.ref))
        if record is None or record["state"] != "retrying" or len(record["attempts"]) != item.step - 1:
            return []  # evicted, abandoned, reset, or this attempt was made already
        return await self._attempt(record)

    async def _attempt(self, record: Record) -> list[Due]:
        """Make the next attempt, record it, and say when the one after it is due (if any)."""
        import httpx

        config = self.runtime.config
        if config.webhook_delay:
            await asyncio.sleep(config.webhook_delay)
        attempt = len(record["attempts"]) + 1
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            response = await self._http().post(
                record["url"], content=record["body"].encode(), headers=record["headers"]
            )
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        outcome = {
            "at": iso(await self.runtime.now()),
            "status": status,
            "error": error,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        ok = status is not None and 200 <= status < 300
        last = attempt >= record["max_attempts"]
        state = "delivered" if ok else ("failed" if last else "retrying")
        changes = {"attempts": [*record["attempts"], outcome], "state": state}
        stored, _ = await self.runtime.store.delivery_update(record["id"], changes)
        await self._journal(stored or {**record, **changes}, outcome)
        if state != "retrying":
            return []
        delay = config.webhook_backoff * 2 ** (attempt - 1) * config.time_scale
        return [
            Due(
                "delivery",
                record["provider"],
                str(record["id"]),
                attempt + 1,
                await self.runtime.now() + delay,
            )
        ]

    def _http(self) -> httpx.AsyncClient:
        import httpx  # here, not at import time: serving starts faster without it

        loop = asyncio.get_running_loop()
        if self._client is None or getattr(self._client, "_headshot_loop", None) is not loop:
            self._client = httpx.AsyncClient(
                timeout=self.runtime.config.webhook_timeout,
                follow_redirects=False,
                trust_env=False,
                # No idle connection is kept: nothing is left open between deliveries, even for
                # an app whose lifespan never runs (an in-process test client) to close it.
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=0),
            )
            self._client._headshot_loop = loop  # type: ignore[attr-defined]
        return self._client

    async def abandon(self) -> None:
        """Shutdown with state only this process holds: what was still to be sent never will be."""
        for record in await self.runtime.store.deliveries():
            if record["state"] in OPEN:
                changes = {"state": "abandoned", "error": "the mock shut down before this delivery was made"}
                stored, mine = await self.runtime.store.delivery_update(
                    record["id"], changes, expect={"state": record["state"]}
                )
                if mine and stored is not None:
                    await self._journal(stored, None)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and getattr(client, "_headshot_loop", None) is asyncio.get_running_loop():
            await client.aclose()

    async def _journal(self, record: Record, outcome: dict[str, Any] | None) -> None:
        await self.runtime.store.journal_append(
            {
                "kind": "webhook",
                "time": iso(await self.runtime.now()),
                "provider": record["provider"],
                "operation": record["event"],
                "method": "POST",
                "path": journal.redact_url(record["url"]),
                "delivery": record["id"],
                "attempt": len(record["attempts"]),
                "state": record["state"],
                "status": None if outcome is None else outcome["status"],
                "error": record.get("error") if outcome is None else outcome["error"],
                "latency_ms": None if outcome is None else outcome["latency_ms"],
            }
        )
