"""All mutable state of a mock server, behind one interface.

Jobs, the journal, scenario rules, generated files and uploads live in a :class:`Store`. The
engine and the plug-ins never keep state of their own, so a store shared between processes
(the Redis store that follows :class:`MemoryStore`) gives several workers one consistent mock.
Values are plain JSON-able dicts (uploads are bytes), so any store can serialise them.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any, Protocol

Record = dict[str, Any]


class Store(Protocol):
    """The state of one mock: every method is atomic with respect to the others."""

    # journal ------------------------------------------------------------------------------
    async def journal_append(self, entry: Record) -> int:
        """Store ``entry`` (its ``seq`` is assigned here and returned); drops the oldest past the cap."""
        ...

    async def journal_entries(self) -> list[Record]:
        """Oldest first."""
        ...

    async def journal_clear(self) -> None: ...

    # scenario rules -----------------------------------------------------------------------
    async def rule_add(self, rule: Record) -> Record:
        """Queue a rule (assigns ``id``); rules are consumed first in, first out."""
        ...

    async def rule_take(self, provider: str, operation: str) -> Record | None:
        """The first live rule matching the call, with one use consumed (atomic)."""
        ...

    async def rules(self) -> list[Record]: ...

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

    # jobs ---------------------------------------------------------------------------------
    async def job_put(self, provider: str, job_id: str, job: Record) -> None: ...

    async def job_get(self, provider: str, job_id: str) -> Record | None: ...

    async def jobs(self, provider: str | None = None) -> list[Record]: ...

    # generated files and uploads ----------------------------------------------------------
    async def file_put(self, token: str, descriptor: Record) -> None: ...

    async def file_get(self, token: str) -> Record | None: ...

    async def upload_put(self, key: str, data: bytes, meta: Record) -> None: ...

    async def upload_get(self, key: str) -> tuple[bytes, Record] | None: ...

    # webhooks ---------------------------------------------------------------------------------
    async def endpoint_add(self, endpoint: Record) -> Record:
        """Register a webhook endpoint (assigns ``id``)."""
        ...

    async def endpoints(self, provider: str | None = None) -> list[Record]: ...

    async def endpoints_clear(self) -> None: ...

    async def delivery_put(self, delivery: Record) -> Record:
        """Create (no ``id`` yet: one is assigned) or update a delivery record."""
        ...

    async def deliveries(self, provider: str | None = None) -> list[Record]:
        """Oldest first; bounded like the journal."""
        ...

    # ids ----------------------------------------------------------------------------------
    async def next_number(self, name: str) -> int:
        """1, 2, 3, … per ``name``: the basis of deterministic ids."""
        ...

    async def clock_offset(self) -> float:
        """Seconds the mock clock has been advanced past real time."""
        ...

    async def clock_advance(self, seconds: float) -> float:
        """Move the mock clock forward; returns the new offset."""
        ...

    async def reset(self) -> None:
        """Forget everything: journal, rules, default scenarios, jobs, webhooks, files, uploads,
        counters, clock offset."""
        ...


class MemoryStore:
    """The default store: one process, nothing to install. Bounded everywhere."""

    def __init__(
        self,
        *,
        journal_limit: int = 1000,
        max_uploads: int = 256,
        max_files: int = 10_000,
        max_jobs: int = 10_000,
    ) -> None:
        self._journal_limit = journal_limit
        self._max_uploads = max_uploads
        self._max_files = max_files
        self._max_jobs = max_jobs
        self.reset_sync()

    def reset_sync(self) -> None:
        self._journal: deque[Record] = deque(maxlen=self._journal_limit)
        self._seq = itertools.count(1)
        self._rules: list[Record] = []
        self._rule_ids = itertools.count(1)
        self._defaults: dict[str, str] = {}
        self._jobs: OrderedDict[tuple[str, str], Record] = OrderedDict()
        self._endpoints: list[Record] = []
        self._endpoint_ids = itertools.count(1)
        self._deliveries: OrderedDict[int, Record] = OrderedDict()
        self._delivery_ids = itertools.count(1)
        self._files: OrderedDict[str, Record] = OrderedDict()
        self._uploads: OrderedDict[str, tuple[bytes, Record]] = OrderedDict()
        self._counters: dict[str, int] = {}
        self._offset = 0.0

    async def journal_append(self, entry: Record) -> int:
        seq = next(self._seq)
        entry["seq"] = seq
        self._journal.append(entry)
        return seq

    async def journal_entries(self) -> list[Record]:
        return list(self._journal)

    async def journal_clear(self) -> None:
        self._journal.clear()

    async def rule_add(self, rule: Record) -> Record:
        rule = {**rule, "id": next(self._rule_ids)}
        self._rules.append(rule)
        return dict(rule)

    async def rule_take(self, provider: str, operation: str) -> Record | None:
        for rule in self._rules:
            if rule["provider"] != provider or rule.get("operation") not in (None, operation):
                continue
            remaining = rule.get("remaining")
            if remaining is not None:
                rule["remaining"] = remaining - 1
                if rule["remaining"] <= 0:
                    self._rules.remove(rule)
            return dict(rule)
        return None

    async def rules(self) -> list[Record]:
        return [dict(r) for r in self._rules]

    async def rules_clear(self) -> None:
        self._rules.clear()

    async def default_get(self, provider: str) -> str | None:
        return self._defaults.get(provider)

    async def defaults(self) -> dict[str, str]:
        return dict(self._defaults)

    async def default_set(self, provider: str, scenario: str | None) -> None:
        if scenario is None:
            self._defaults.pop(provider, None)
        else:
            self._defaults[provider] = scenario

    async def job_put(self, provider: str, job_id: str, job: Record) -> None:
        self._jobs[(provider, job_id)] = job
        _trim(self._jobs, self._max_jobs)

    async def job_get(self, provider: str, job_id: str) -> Record | None:
        return self._jobs.get((provider, job_id))

    async def jobs(self, provider: str | None = None) -> list[Record]:
        return [job for (p, _), job in self._jobs.items() if provider in (None, p)]

    async def file_put(self, token: str, descriptor: Record) -> None:
        self._files[token] = descriptor
        _trim(self._files, self._max_files)

    async def file_get(self, token: str) -> Record | None:
        return self._files.get(token)

    async def upload_put(self, key: str, data: bytes, meta: Record) -> None:
        self._uploads[key] = (data, meta)
        _trim(self._uploads, self._max_uploads)

    async def upload_get(self, key: str) -> tuple[bytes, Record] | None:
        return self._uploads.get(key)

    async def endpoint_add(self, endpoint: Record) -> Record:
        endpoint = {**endpoint, "id": next(self._endpoint_ids)}
        self._endpoints.append(endpoint)
        return dict(endpoint)

    async def endpoints(self, provider: str | None = None) -> list[Record]:
        return [dict(e) for e in self._endpoints if provider in (None, e["provider"])]

    async def endpoints_clear(self) -> None:
        self._endpoints.clear()

    async def delivery_put(self, delivery: Record) -> Record:
        if "id" not in delivery:
            delivery["id"] = next(self._delivery_ids)
        self._deliveries[delivery["id"]] = delivery
        _trim(self._deliveries, self._journal_limit)
        return delivery

    async def deliveries(self, provider: str | None = None) -> list[Record]:
        return [d for d in self._deliveries.values() if provider in (None, d["provider"])]

    async def next_number(self, name: str) -> int:
        self._counters[name] = self._counters.get(name, 0) + 1
        return self._counters[name]

    async def clock_offset(self) -> float:
        return self._offset

    async def clock_advance(self, seconds: float) -> float:
        self._offset += seconds
        return self._offset

    async def reset(self) -> None:
        self.reset_sync()


def _trim(items: OrderedDict[Any, Any], limit: int) -> None:
    while len(items) > limit:
        items.popitem(last=False)


def matching(entries: Iterable[Record], **filters: str | None) -> list[Record]:
    """Entries whose fields equal every non-None filter."""
    wanted = {k: v for k, v in filters.items() if v is not None}
    return [e for e in entries if all(e.get(k) == v for k, v in wanted.items())]
