"""What a request holds on the Redis store: its writes held back, and what it assumed.

On the hot path a provider call needs three things from Redis before it can answer — its
*opening* (a queued rule for it, its provider's default scenario, the clock offset), an *id*, and
then its *writes* (file descriptors, the job, the journal entry). Asked one by one, that is three
round trips. Instead, within :meth:`RedisStore.deferring <.redis_store.RedisStore.deferring>`:

- **writes** that answer nothing are held back and sent with the request's next store call, as
  one script (:func:`.redis_scripts.batch`);
- **the opening** is taken from what this worker last read for the same provider and operation,
  when that read found no rule (:class:`Openings`);
- **ids** come from a block this worker drew with one ``INCRBY`` (:class:`Blocks`).

The invariant, checked in Redis
-------------------------------
*A request's writes land only if everything it assumed without asking still holds when they
land.* The first batch a request sends begins with :data:`.redis_scripts.CHECK`, which compares,
atomically with the writes after it:

- the opening it assumed: still no rule queued matching its provider and operation, the same
  default scenario, the same clock offset;
- the epoch its ids were drawn in: :meth:`RedisStore.reset <.redis_store.RedisStore.reset>`
  moves the epoch on (counters restart at 1), so a number from a block drawn before a reset could
  be handed out again and is refused.

When a check fails nothing of the batch is written: the worker forgets what it remembered
(:meth:`Held.refused`), and the call raises :class:`~.base.Stale`; the engine runs the request
again, and the second run reads its opening in Redis (the opening script, which consumes a rule
use) and draws a fresh block. A rule is consumed **only** by that script, so each use of it
answers exactly one call across all workers; a request that assumed "no rule" and raced a rule
added meanwhile is refused and takes the rule on its second run. Once a check has passed, the
request's assumptions are confirmed (the check happened atomically with its first write: it is as
if the whole request ran at that instant); an id drawn later is checked by the next batch.

Reads run unchecked (a read changes nothing, and whatever the request then writes is checked).
A write that cannot go in a batch is preceded by a check of its own (one more round trip, never
on the hot path).

With one worker, ids stay 1, 2, 3, … in call order (the block is handed out in order and a reset
on this worker drops it). With several workers each hands out its own block: ids are unique, but
not in call order across workers, and a worker that stops leaves a gap.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from headshot_mock.mockserver.stores.base import Opening

BLOCK = 64
"""Ids a worker draws at once (per counter): one round trip every 64 generations."""

Write = tuple[str, list[str], list[Any]]
"""A write to send: a Lua script, its keys, its arguments."""

_NOTHING = "-"


@dataclass(frozen=True, slots=True)
class Remembered:
    """An opening as read in Redis (the raw default and clock, as :data:`CHECK` compares them)."""

    opening: Opening
    default: bytes
    """``b""`` (no default) or ``b"="`` and the scenario."""
    clock: bytes
    """``b""`` (never advanced) or ``b"="`` and the offset as Redis keeps it."""

    @classmethod
    def read(cls, default: bytes | None, clock: bytes | None) -> Remembered:
        return cls(
            Opening(
                None, None if default is None else default.decode(), 0.0 if clock is None else float(clock)
            ),
            b"" if default is None else b"=" + default,
            b"" if clock is None else b"=" + clock,
        )


class Openings:
    """This worker's openings that found no rule, by provider, operation and whether a rule was
    asked for: what a request may assume (checked when it writes)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str, bool], Remembered] = {}

    def get(self, provider: str, operation: str, take_rule: bool) -> Remembered | None:
        return self._known.get((provider, operation, take_rule))

    def put(self, provider: str, operation: str, take_rule: bool, remembered: Remembered) -> None:
        if len(self._known) >= 4096:  # bounded: operations are few, but provider ids come from users
            self._known.clear()
        self._known[(provider, operation, take_rule)] = remembered

    def drop(self, provider: str, operation: str, take_rule: bool) -> None:
        self._known.pop((provider, operation, take_rule), None)

    def clear(self) -> None:
        self._known.clear()


class Blocks:
    """Numbers this worker drew and has not handed out yet, per counter, all of one epoch."""

    def __init__(self) -> None:
        self.epoch: bytes | None = None
        self._left: dict[str, tuple[int, int]] = {}

    def take(self, name: str) -> int | None:
        """The next number of ``name``'s block (None: none left, draw a block)."""
        block = self._left.get(name)
        if block is None:
            return None
        number, last = block
        if number >= last:
            del self._left[name]
        else:
            self._left[name] = (number + 1, last)
        return number

    def drawn(self, name: str, last: int, epoch: bytes) -> int:
        """Keep the block ending at ``last`` (of ``epoch``); returns its first number."""
        if epoch != self.epoch:  # a reset: the other blocks are of the epoch before it
            self._left.clear()
            self.epoch = epoch
        first = last - BLOCK + 1
        if first < last:
            self._left[name] = (first + 1, last)
        return first

    def clear(self) -> None:
        self._left.clear()
        self.epoch = None


@dataclass(slots=True)
class Held:
    """One task's writes not sent yet, and what it assumed that no batch has checked yet."""

    owner: object
    """The store the writes are for."""
    task: asyncio.Task[Any] | None
    writes: list[Write] = field(default_factory=list)
    opening: tuple[str, str, bool, Remembered] | None = None
    """The opening assumed: provider, operation, whether a rule was asked for, what was remembered."""
    epoch: bytes | None = None
    """The epoch of the ids assumed (None: no id assumed)."""

    @property
    def assumes(self) -> bool:
        return self.opening is not None or self.epoch is not None

    def check_args(self) -> list[Any]:
        """:data:`CHECK`'s arguments for what this task assumes."""
        if self.opening is None:
            head: list[Any] = ["", "", _NOTHING, b"", b""]
        else:
            provider, operation, take_rule, known = self.opening
            head = [provider, operation, "1" if take_rule else "0", known.default, known.clock]
        return [*head, b"" if self.epoch is None else self.epoch]

    def confirmed(self) -> None:
        """A check passed: nothing is assumed any more."""
        self.opening = None
        self.epoch = None

    def refused(self, reason: str, openings: Openings, blocks: Blocks) -> None:
        """A check failed: forget what failed it, and the writes that assumed it."""
        if "opening" in reason and self.opening is not None:
            openings.drop(*self.opening[:3])
        if "ids" in reason:
            blocks.clear()
        self.writes = []
        self.confirmed()
