"""The services plug-ins use: the clock, deterministic ids, files the mock serves, webhooks, and
the background work that moves jobs and webhook retries on.

Nothing here keeps state of its own; it all goes through the :class:`~mockserver.stores.Store`.
Background work is one **ticker** task per worker: it sleeps until the store's due index says
something falls due (or until woken because this worker scheduled something), claims what is due
and runs each item's handler (:meth:`Runtime.on_due`). With a shared store it also looks every
:data:`SHARED_POLL` seconds for work other workers scheduled (and for claims a dead worker held).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from headshot_mock.mockserver import images
from headshot_mock.mockserver.config import MockConfig
from headshot_mock.mockserver.errors import StoreUnavailable
from headshot_mock.mockserver.images import Recipe
from headshot_mock.mockserver.stores import Due, Opening, Store

FILES_PATH = "/__mock/files"
log = logging.getLogger("headshot_mock")

SHARED_POLL = 0.2
"""Real seconds between looks at a shared due index for work other workers scheduled."""
IDLE_SLEEP = 60.0
"""Longest sleep of a ticker with nothing due (it is woken when something is scheduled here)."""
BATCH = 64
"""Due items claimed at once, and handled concurrently at most."""
CLOCK_MEMO = 0.05
"""With a shared store, one request reads the shared clock once (within this many real seconds)."""
CANCEL_AGAIN = 0.05
"""Seconds between cancellations of a task that has not ended (:func:`cancel_all`)."""

CLOSE_WITHIN = 1.0
"""Seconds :meth:`Runtime.close` (and ``BackgroundServer``, for what is left) waits for
background tasks to end."""

DueHandler = Callable[[Due], Awaitable[list[Due]]]
"""Handles one claimed item; returns the items that follow it (scheduled atomically with its end)."""


async def cancel_all(tasks: Iterable[asyncio.Task[Any]], *, within: float) -> set[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait until they have ended, at most ``within`` seconds; returns those
    still running. A task not ended is cancelled again every :data:`CANCEL_AGAIN` seconds, since
    one cancellation can be lost: on Python 3.11, ``asyncio.wait_for`` returns its inner result
    and drops a cancellation that arrives as the inner awaitable finishes (CPython gh-86296,
    fixed in 3.12), and redis-py's client wraps every command's write in it. A ticker that lost
    its cancellation in a Redis read went on polling, and a worker's shutdown waited for it
    until the supervisor killed the worker."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    pending = set(tasks)
    while pending:
        left = deadline - loop.time()
        if left <= 0:
            break
        for task in pending:
            task.cancel()
        done, pending = await asyncio.wait(pending, timeout=min(CANCEL_AGAIN, left))
        for task in done:
            if not task.cancelled():
                task.exception()  # seen: what a task ended with is not logged as never retrieved
    return pending


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One webhook a plug-in wants sent."""

    provider: str
    event: str
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    attempts: int = 1
    """The provider's own policy; ``webhook_attempts`` overrides it."""
    group: str = ""
    """The job the event belongs to (ordering and reordering work within a group)."""
    last: bool = True
    """Whether this is the group's final event."""
    key: str = ""
    """What tells this webhook apart from the group's others (the endpoint); with the group and
    event it makes sending idempotent: a due event handled twice sends once."""


class Sender(Protocol):
    """The webhook service (``mockserver.webhooks.Dispatcher``)."""

    def allowed(self, url: str) -> bool: ...

    async def send(self, outgoing: Outgoing) -> None: ...

    async def on_due(self, item: Due) -> list[Due]: ...

    async def abandon(self) -> None: ...

    async def aclose(self) -> None: ...


class ShuttingDown(Exception):
    """The runtime is closing: waiting for idleness ends."""


class Runtime:
    def __init__(
        self, config: MockConfig, store: Store, *, sender: Callable[[Runtime], Sender] | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.providers: tuple[str, ...] = config.served
        """Providers whose due work this runtime claims."""
        self._handlers: dict[str, DueHandler] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self._progress: asyncio.Event | None = None
        self._running: dict[asyncio.Task[None], Due] = {}
        self._closing = False
        self._unavailable_logged = False
        self._clock: weakref.WeakKeyDictionary[asyncio.Task[Any], tuple[float, float]] = (
            weakref.WeakKeyDictionary()
        )
        self.webhooks: Sender = sender(self) if sender is not None else _NoWebhooks()
        self.on_due("delivery", self.webhooks.on_due)

    # background work ----------------------------------------------------------------------
    def on_due(self, kind: str, handler: DueHandler) -> None:
        """Let ``handler`` run the due items of ``kind``."""
        self._handlers[kind] = handler

    def wake(self) -> None:
        """Something was scheduled or the clock moved: look at the due index now."""
        loop = asyncio.get_running_loop()
        if self._ticker is None or self._ticker.done() or self._ticker.get_loop() is not loop:
            self._closing = False
            self._wakeup, self._progress = asyncio.Event(), asyncio.Event()
            self._running = {}
            self._ticker = loop.create_task(self._tick(), name="headshot-mock ticker")
        assert self._wakeup is not None
        self._wakeup.set()

    async def start(self) -> None:
        """Start the ticker (server start-up); it also starts on first use."""
        self.wake()

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(BATCH)
        wakeup = self._wakeup
        assert wakeup is not None
        lease = self.config.claim_lease
        renewed = loop.time()
        while True:
            wakeup.clear()
            try:
                if self._running and loop.time() - renewed >= lease / 3:
                    # Still working on them: keep the claims, so no other worker takes them over.
                    await self.store.due_extend(list(self._running.values()), lease)
                    renewed = loop.time()
                now = await self.now()
                items = await self.store.due_claim(
                    self.providers, now, limit=BATCH, lease=self.config.claim_lease
                )
                following = None if len(items) >= BATCH else await self.store.due_next(self.providers)
                self._unavailable_logged = False
            except StoreUnavailable as exc:
                if not self._unavailable_logged:
                    log.error("headshot-mock background work paused: %s", exc)
                    self._unavailable_logged = True
                await asyncio.sleep(1.0)
                continue
            for item in items:
                await slots.acquire()
                task = loop.create_task(self._run(item))
                self._running[task] = item
                task.add_done_callback(functools.partial(self._ran, slots))
            if len(items) >= BATCH:
                continue
            delay = SHARED_POLL if self.store.shared else IDLE_SLEEP
            if self._running:
                delay = min(delay, lease / 3)
            if following is not None:
                delay = min(delay, max(0.0, following - now))
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await wakeup.wait()

    def _ran(self, slots: asyncio.Semaphore, task: asyncio.Task[None]) -> None:
        slots.release()
        self._running.pop(task, None)

    async def _run(self, item: Due) -> None:
        handler = self._handlers.get(item.kind)
        then: list[Due] = []
        try:
            if handler is not None:
                then = await handler(item)
        except StoreUnavailable as exc:
            log.error("headshot-mock could not finish %s %s: %s", item.kind, item.ref, exc)
            return  # still claimed: retried once its lease runs out
        except Exception:
            log.exception("headshot-mock background work failed on %s %s", item.kind, item.ref)
        try:
            await self.store.due_done(item, then)
        except StoreUnavailable as exc:
            log.error("headshot-mock could not finish %s %s: %s", item.kind, item.ref, exc)
            return
        if then:
            self.wake()
        if self._progress is not None:
            self._progress.set()

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until no due work is left (jobs still to move on, webhook attempts still to make)."""
        self.wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            pending = await self.store.due_pending(self.providers)
            if pending == 0:
                return
            if self._closing:
                raise ShuttingDown(f"the mock is shutting down with {pending} due events left")
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(
                    f"{pending} due events (job phases, webhook attempts) still running after {timeout} s"
                )
            progress = self._progress
            assert progress is not None
            progress.clear()
            wait = min(left, SHARED_POLL) if self.store.shared else left
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await progress.wait()

    async def close(self) -> None:
        """Stop background work (server shutdown): claimed items go back to the due index; with
        state only this process holds, pending webhooks are recorded as ``abandoned``."""
        self._closing = True
        if self._progress is not None:
            self._progress.set()  # idle waiters answer at once
        tasks = [t for t in (self._ticker, *self._running) if t is not None and not t.done()]
        held = list(self._running.values())
        current = asyncio.get_running_loop()
        left = await cancel_all([t for t in tasks if t.get_loop() is current], within=CLOSE_WITHIN)
        if left:
            log.error("headshot-mock: %d background tasks still running at shutdown", len(left))
        self._ticker = None
        with contextlib.suppress(StoreUnavailable):
            await self.store.due_release(held)
            if not self.store.shared:
                await self.webhooks.abandon()
        await self.webhooks.aclose()

    # clock ----------------------------------------------------------------------------------
    async def now(self) -> float:
        """Unix time on the mock clock: real time plus however far tests advanced it.

        With a shared store the offset is a round trip, so one request (one task) reads it once:
        its clock cannot move under it, and the hot path saves the round trips."""
        if not self.store.shared:
            return time.time() + await self.store.clock_offset()
        task = asyncio.current_task()
        real = time.time()
        if task is not None and task is not self._ticker:
            memo = self._clock.get(task)
            if memo is not None and 0 <= real - memo[0] < CLOCK_MEMO:
                return real + memo[1]
        offset = await self.store.clock_offset()
        if task is not None and task is not self._ticker:
            self._clock[task] = (real, offset)
        return real + offset

    async def opening(self, provider: str, operation: str, *, take_rule: bool) -> Opening:
        """What a provider call starts from (its rule, its provider's default scenario) in one
        store step; the clock offset read with them is this request's read of the shared clock."""
        opening = await self.store.opening(provider, operation, take_rule=take_rule)
        if self.store.shared:
            task = asyncio.current_task()
            if task is not None and task is not self._ticker:
                self._clock[task] = (time.time(), opening.clock_offset)
        return opening

    async def advance(self, seconds: float) -> float:
        """Move the shared mock clock forward (jobs and retries due earlier run now)."""
        offset = await self.store.clock_advance(seconds)
        self._clock.clear()
        self.wake()
        return offset

    async def reset(self) -> None:
        """Forget all state (the clock offset included)."""
        await self.store.reset()
        self._clock.clear()

    async def sleep(self, realistic_seconds: float) -> None:
        """Wait a provider-realistic duration, scaled by ``time_scale`` (0 = not at all)."""
        delay = realistic_seconds * self.config.time_scale
        if delay > 0:
            await asyncio.sleep(delay)

    # ids ------------------------------------------------------------------------------------
    async def number(self, provider: str, name: str, *, ttl: float | None = None) -> int:
        """1, 2, 3, … per provider and name (``ttl``: forgotten that many real seconds on)."""
        return await self.store.next_number(f"{provider}:{name}", ttl=ttl)

    def token(self, *parts: object, length: int = 24) -> str:
        """A stable hex token from the server seed and ``parts`` (same seed, same tokens): the
        hash of ``repr((seed, *parts))``, its seed's part hashed once (:func:`_seeded`)."""
        if not parts:
            return hashlib.blake2b(repr((self.config.seed,)).encode(), digest_size=16).hexdigest()[:length]
        digest = _seeded(self.config.seed).copy()
        digest.update(f"{images.reprs(parts)})".encode())  # as images.parts_text joins them
        return digest.hexdigest()[:length]

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


class _NoWebhooks:
    """A runtime built without a webhook service sends nothing."""

    def allowed(self, url: str) -> bool:
        return False

    async def send(self, outgoing: Outgoing) -> None:
        log.warning("headshot-mock: no webhook service; %s to %s not sent", outgoing.event, outgoing.url)

    async def on_due(self, item: Due) -> list[Due]:
        return []

    async def abandon(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


@functools.lru_cache(maxsize=8)
def _seeded(seed: object) -> hashlib.blake2b:
    """A blake2b that has hashed ``repr((seed, `` already: each token copies it."""
    return hashlib.blake2b(f"({seed!r}, ".encode(), digest_size=16)


def iso(ts: float) -> str:
    """RFC 3339 UTC with milliseconds, as the providers print times."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
