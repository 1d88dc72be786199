"""The store seam: every piece of mutable state of a mock, behind one :class:`Store` protocol.

State is **data**: plain JSON-able records (uploads are bytes), never a live object, so a store
shared between processes (Redis) gives several workers one consistent mock. Every method is one
atomic operation; a transition that depends on what is stored is a compare-and-set
(``job_update(..., expect=...)``), never get-mutate-put.

Due work — a job entering its next phase, a webhook attempt falling due — sits in the store's
**due index**: :class:`Due` items scored by the mock time they fall due, claimed atomically by
whichever worker is alive (a claim is a lease: a worker that dies holding one loses it after
``lease`` seconds, and another worker takes the item over).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from headshot_mock.mockserver.journal import Draft

Record = dict[str, Any]
"""A stored value: a JSON object."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What a store keeps before it drops the oldest (entries, and bytes where values vary)."""

    journal_entries: int = 1000
    journal_bytes: int = 64 * 1024 * 1024
    deliveries: int = 1000
    rules: int = 1000
    endpoints: int = 100
    jobs: int = 10_000
    files: int = 10_000
    uploads: int = 256
    upload_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Due:
    """One piece of due work: ``kind`` ``job`` (``ref`` a job id entering phase ``step``;
    ``step == len(phases)`` is its final state) or ``delivery`` (``ref`` a delivery id, ``step``
    its attempt number). ``at`` is the mock time it falls due."""

    kind: str
    provider: str
    ref: str
    step: int
    at: float = 0.0

    @property
    def member(self) -> str:
        """Its identity in the index (``at`` excluded: scheduling it twice keeps one)."""
        return json.dumps([self.kind, self.provider, self.ref, self.step], separators=(",", ":"))

    @classmethod
    def from_member(cls, member: str, at: float) -> Due:
        kind, provider, ref, step = json.loads(member)
        return cls(str(kind), str(provider), str(ref), int(step), float(at))


@dataclass(frozen=True, slots=True)
class Opening:
    """What a provider call starts from, read in one step (:meth:`Store.opening`)."""

    rule: Record | None
    """The first live rule matching the call, one use consumed (None: none, or none was asked for)."""
    default: str | None
    """The provider's default scenario (None: the server's default applies)."""
    clock_offset: float
    """As :meth:`Store.clock_offset`."""


class Stale(Exception):
    """What a request assumed without asking a shared store (an opening this worker remembered,
    ids from a block it drew) no longer holds: raised inside :meth:`Store.deferring` by the call
    that would have written first, with nothing of the request written. Run the request again:
    the second run reads what it needs (see ``stores/redis_held.py``)."""


class Store(Protocol):
    """The state of one mock: every method is atomic with respect to the others."""

    shared: bool
    """Whether other processes may use the same state (then background work polls for theirs)."""

    # journal ------------------------------------------------------------------------------
    async def journal_append(self, entry: Record | Draft) -> int:
        """Store a copy of ``entry`` with its ``seq`` (assigned here, returned). Request entries
        and webhook attempts (``kind: webhook``) are bounded separately, in entries and bytes.
        A :class:`~headshot_mock.mockserver.journal.Draft` is stored as its record; a store that
        keeps it in this process may write it out when it is first read instead."""
        ...

    async def journal_entries(
        self,
        *,
        where: Callable[[Record], bool] | None = None,
        newest: int | None = None,
        after: int = 0,
    ) -> list[Record]:
        """Oldest first (by ``seq``); only those ``where`` accepts (it reads an entry, never
        changes it), and of those only the ``newest`` last ones; only those numbered above
        ``after``. A store copies what it returns, not what it skips: reading the last five of a
        full journal costs five copies, and what is not above ``after`` is not read at all."""
        ...

    async def journal_count(self) -> int:
        """The entries the journal holds (request entries and webhook attempts)."""
        ...

    async def journal_clear(self) -> None: ...

    # scenario rules -----------------------------------------------------------------------
    async def rule_add(self, rule: Record) -> Record:
        """Queue a rule (assigns ``id``); rules are consumed first in, first out.

        Raises :class:`~mockserver.errors.StateFull` past the rules limit."""
        ...

    async def rule_take(
        self, provider: str, operation: str, *, scenarios: Collection[str] | None = None
    ) -> Record | None:
        """The first live rule matching the call, with one use consumed (atomic). With
        ``scenarios``, only if that first rule's scenario is one of them (else None, nothing used):
        a call the mock refuses spends only a rule whose scenario still decides its answer."""
        ...

    async def rules(self) -> list[Record]: ...

    async def opening(self, provider: str, operation: str, *, take_rule: bool = True) -> Opening:
        """:meth:`rule_take` (when ``take_rule``), :meth:`default_get` and :meth:`clock_offset`
        for one call, in one atomic step (one round trip to a shared store)."""
        ...

    async def rules_clear(self) -> None: ...

    # per-provider default scenarios -------------------------------------------------------
    async def default_get(self, provider: str) -> str | None:
        """The scenario set as ``provider``'s default (None: the server's default applies)."""
        ...

    async def defaults(self) -> dict[str, str]:
        """Provider id to the default scenario set for it."""
        ...

    async def default_set(self, provider: str, scenario: str | None) -> None:
        """Set ``provider``'s default scenario; None goes back to the server's default."""
        ...

    # latency set through the admin API -------------------------------------------------------
    async def latency_get(self) -> list[str] | None:
        """The ``latency`` entries set through the admin API (None: the server's config applies)."""
        ...

    async def latency_set(self, entries: Sequence[str] | None) -> None:
        """Replace those entries, all at once; None goes back to the server's config."""
        ...

    # jobs ---------------------------------------------------------------------------------
    async def job_create(self, job: Record, due: Sequence[Due] = ()) -> None:
        """Store a new job (keyed by its ``provider`` and ``id``) and schedule ``due``, in one step."""
        ...

    async def job_get(self, provider: str, job_id: str) -> Record | None: ...

    async def job_poll(self, provider: str, job_id: str) -> Record | None:
        """Count one poll (``polls`` + 1) and return the job as it is after it."""
        ...

    async def job_update(
        self,
        provider: str,
        job_id: str,
        changes: Mapping[str, Any],
        *,
        expect: Mapping[str, Any] | None = None,
    ) -> tuple[Record | None, bool]:
        """Set top-level fields if every field in ``expect`` holds its value (compare-and-set).

        Returns the job (updated or not; None when there is none) and whether it was updated."""
        ...

    async def jobs(self, provider: str | None = None) -> list[Record]: ...

    # the due index ----------------------------------------------------------------------------
    async def due_add(self, items: Sequence[Due]) -> None: ...

    async def due_claim(self, providers: Sequence[str], now: float, *, limit: int, lease: float) -> list[Due]:
        """Take up to ``limit`` items due at mock time ``now`` (and items whose claim lease ran
        out): nobody else gets them for ``lease`` real seconds."""
        ...

    async def due_done(self, item: Due, then: Sequence[Due] = ()) -> None:
        """Finish a claimed item and schedule what follows it, in one step."""
        ...

    async def due_extend(self, items: Sequence[Due], lease: float) -> None:
        """Renew the claims on ``items`` still held (a worker still working on them)."""
        ...

    async def due_release(self, items: Sequence[Due]) -> None:
        """Give claimed items back, due at once (a worker shutting down)."""
        ...

    async def due_next(self, providers: Sequence[str]) -> float | None:
        """The mock time the earliest unclaimed item falls due (None: nothing is scheduled)."""
        ...

    async def due_pending(self, providers: Sequence[str]) -> int:
        """Items scheduled or claimed (0: no background work is left)."""
        ...

    # generated files and uploads ----------------------------------------------------------
    async def file_put(self, token: str, descriptor: Record) -> None: ...

    async def file_get(self, token: str) -> Record | None: ...

    async def upload_put(self, key: str, data: bytes, meta: Record, *, ttl: float | None = None) -> None:
        """Keep an upload (``ttl`` real seconds; None: until evicted). The oldest are evicted
        past the upload count or total-bytes limit, and remembered as evicted."""
        ...

    async def upload_get(self, key: str) -> tuple[bytes, Record] | None: ...

    async def upload_exists(self, key: str) -> bool:
        """Whether ``key`` is stored (and not expired), without reading its bytes."""
        ...

    async def upload_evicted(self, key: str) -> bool:
        """Whether ``key`` was stored and then evicted to keep the uploads within their limits."""
        ...

    # webhooks ---------------------------------------------------------------------------------
    async def endpoint_add(self, endpoint: Record) -> Record:
        """Register a webhook endpoint (assigns ``id``); StateFull past the endpoints limit."""
        ...

    async def endpoints(self, provider: str | None = None) -> list[Record]: ...

    async def endpoints_clear(self) -> None: ...

    async def delivery_create(self, key: str, delivery: Record) -> tuple[Record, bool]:
        """Store a new delivery under ``key`` (assigns ``id``), unless ``key`` was stored
        before: then the stored one. Returns it and whether it is new."""
        ...

    async def delivery_get(self, delivery_id: int) -> Record | None: ...

    async def delivery_update(
        self, delivery_id: int, changes: Mapping[str, Any], *, expect: Mapping[str, Any] | None = None
    ) -> tuple[Record | None, bool]:
        """Compare-and-set, as :meth:`job_update`."""
        ...

    async def deliveries(self, provider: str | None = None) -> list[Record]:
        """Oldest first; bounded on their own (attempts never evict journal entries)."""
        ...

    # counters and the clock -------------------------------------------------------------------
    async def next_number(self, name: str, *, ttl: float | None = None) -> int:
        """1, 2, 3, … per ``name``: the basis of deterministic ids. With ``ttl`` the counter
        is forgotten ``ttl`` real seconds after it was created (per-window counters)."""
        ...

    async def clock_offset(self) -> float:
        """Seconds the mock clock has been advanced past real time (shared by every worker)."""
        ...

    async def clock_advance(self, seconds: float) -> float:
        """Move the mock clock forward; returns the new offset."""
        ...

    def deferring(self) -> AbstractAsyncContextManager[None]:
        """Within it, the current task's :meth:`file_put` and :meth:`job_create` without due
        items may be held back and sent with that task's next store call (or at the exit, at
        the latest), so a request's writes and its journal entry share one round trip. Every
        other call of the task sees them (they go out first); other tasks see them once the
        next call or the exit has sent them.

        A shared store may also let the task assume what it read before (its opening, ids
        drawn in blocks), checked atomically with the task's first write: when that no longer
        holds, that call raises :class:`Stale` and nothing of the task was written."""
        ...

    async def reset(self) -> None:
        """Forget everything: journal, rules, default scenarios, jobs, due work, webhooks, files,
        uploads, counters, clock."""
        ...

    async def close(self) -> None:
        """Let go of connections (the state itself stays)."""
        ...
