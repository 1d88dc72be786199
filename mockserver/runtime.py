"""The services plug-ins use: the clock, deterministic ids, and files the mock serves.

Nothing here keeps state of its own; it all goes through the :class:`~mockserver.store.Store`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from headshot_mock.mockserver.config import MockConfig
from headshot_mock.mockserver.images import Recipe
from headshot_mock.mockserver.store import Store

if TYPE_CHECKING:
    from headshot_mock.mockserver.webhooks import Dispatcher

FILES_PATH = "/__mock/files"
log = logging.getLogger("headshot_mock")


TICK = 0.02
"""How often (real seconds) background work re-reads the mock clock."""


class Runtime:
    def __init__(self, config: MockConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self._tasks: set[asyncio.Task[None]] = set()
        self.webhooks: Dispatcher  # set by create_app (the dispatcher needs the runtime first)

    # background work ----------------------------------------------------------------------
    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside request handling (job drivers, webhook deliveries)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("headshot-mock background work failed", exc_info=task.exception())

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the background work now running (and what it starts) to end."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._tasks:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"{len(self._tasks)} background tasks still running after {timeout} s")
            await asyncio.wait(set(self._tasks), timeout=left)

    async def close(self) -> None:
        """Cancel background work (server shutdown)."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def tick(self) -> None:
        await asyncio.sleep(TICK)

    # clock ----------------------------------------------------------------------------------
    async def now(self) -> float:
        """Unix time on the mock clock: real time plus however far tests advanced it."""
        return time.time() + await self.store.clock_offset()

    async def sleep(self, realistic_seconds: float) -> None:
        """Wait a provider-realistic duration, scaled by ``time_scale`` (0 = not at all)."""
        delay = realistic_seconds * self.config.time_scale
        if delay > 0:
            await asyncio.sleep(delay)

    # ids ------------------------------------------------------------------------------------
    async def number(self, provider: str, name: str) -> int:
        """1, 2, 3, … per provider and name."""
        return await self.store.next_number(f"{provider}:{name}")

    def token(self, *parts: object, length: int = 24) -> str:
        """A stable hex token from the server seed and ``parts`` (same seed, same tokens)."""
        data = repr((self.config.seed, *parts)).encode()
        return hashlib.blake2b(data, digest_size=16).hexdigest()[:length]

    # files ----------------------------------------------------------------------------------
    async def publish(
        self,
        recipe: Recipe,
        *,
        name: str,
        provider: str,
        expires_in: float | None,
        job: str | None = None,
        when: str | None = None,
    ) -> str:
        """Register a generated image; returns the path (under the server root) that serves it.

        ``expires_in`` seconds on the mock clock (None = never); ``job`` makes the file answer
        404 until that job of ``provider`` has ended in state ``when`` (a failed job has no images).
        """
        token = self.token("file", provider, recipe.seed, recipe.index, recipe.width, recipe.height, name)
        now = await self.now()
        descriptor: dict[str, Any] = {
            "recipe": recipe.as_dict(),
            "provider": provider,
            "name": name,
            "expires_at": None if expires_in is None else now + expires_in,
            "job": job,
            "when": when,
        }
        await self.store.file_put(token, descriptor)
        return f"{FILES_PATH}/{token}/{name}"


def iso(ts: float) -> str:
    """RFC 3339 UTC with milliseconds, as the providers print times."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
