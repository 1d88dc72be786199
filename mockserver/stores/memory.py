"""The default store: one process, nothing to install, bounded everywhere.

No caller ever holds a live record: journal entries, jobs and file records are kept as their
compact JSON bytes (as a shared store keeps them: encoding is the copy, and bytes take a fraction
of the memory of the dicts; a small request's journal entry waits as its draft until it is read,
see ``memory_journal``), everything else as copies, and every read hands out a fresh value.
What works here works against a store that serialises (see ``SerialisingStore``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import itertools
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from headshot_mock.mockserver.codec import copy as _copy
from headshot_mock.mockserver.codec import dumps as _dumps
from headshot_mock.mockserver.codec import loads as _loads
from headshot_mock.mockserver.errors import StateFull
from headshot_mock.mockserver.journal import Draft
from headshot_mock.mockserver.stores.base import Due, Limits, Opening, Record
from headshot_mock.mockserver.stores.memory_journal import Journal


def size_of(value: Any) -> int:
    """Bytes a record takes, as compact JSON (what a byte limit counts): msgspec's encoder on the
    hot path (~1 µs a journal entry against ~13 for ``json.dumps``), the standard library for the
    rest."""
    try:
        return len(_dumps(value))
    except (TypeError, ValueError):
        text = json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
        return len(text.encode("utf-8", "replace"))


def _thaw(data: bytes | None) -> Record | None:
    return None if data is None else _loads(data)


class MemoryStore:
    """State in this process's memory."""

    shared = False

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        journal_limit: int | None = None,
        max_uploads: int | None = None,
        max_files: int | None = None,
        max_jobs: int | None = None,
    ) -> None:
        limits = limits or Limits()
        changes = {
            "journal_entries": journal_limit,
            "uploads": max_uploads,
            "files": max_files,
            "jobs": max_jobs,
        }
        self.limits = dataclasses.replace(limits, **{k: v for k, v in changes.items() if v})
        self.reset_sync()

    def reset_sync(self) -> None:
        self._journal = Journal(self.limits)
        self._rules: list[Record] = []
        self._rule_ids = itertools.count(1)
        self._defaults: dict[str, str] = {}
        self._latency: list[str] | None = None
        self._jobs: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._due: dict[str, dict[str, float]] = {}
        self._heaps: dict[str, list[tuple[float, str]]] = {}
        """Per provider, (at, member) in due order; an entry no longer in ``_due`` is skipped."""
        self._claimed: dict[str, dict[str, tuple[float, float]]] = {}
        self._endpoints: list[Record] = []
        self._endpoint_ids = itertools.count(1)
        self._deliveries: OrderedDict[int, Record] = OrderedDict()
        self._delivery_keys: dict[str, int] = {}
        self._key_of: dict[int, str] = {}
        self._delivery_ids = itertools.count(1)
        self._files: OrderedDict[str, bytes] = OrderedDict()
        self._uploads: OrderedDict[str, tuple[bytes, Record, float | None]] = OrderedDict()
        self._upload_bytes = 0
        self._evicted: OrderedDict[str, None] = OrderedDict()
        self._counters: dict[str, tuple[int, float | None]] = {}
        self._swept = time.monotonic()
        self._offset = 0.0

    # journal ------------------------------------------------------------------------------
    async def journal_append(self, entry: Record | Draft) -> int:
        return self._journal.append(entry)

    async def journal_entries(
        self,
        *,
        where: Callable[[Record], bool] | None = None,
        newest: int | None = None,
        after: int = 0,
    ) -> list[Record]:
        return self._journal.entries(where=where, newest=newest, after=after)

    async def journal_count(self) -> int:
        return self._journal.count()

    async def journal_clear(self) -> None:
        self._journal.clear()

    # rules ----------------------------------------------------------------------------------
    async def rule_add(self, rule: Record) -> Record:
        if len(self._rules) >= self.limits.rules:
            raise StateFull("rules", self.limits.rules, "rules_limit")
        rule = {**_copy(rule), "id": next(self._rule_ids)}
        self._rules.append(rule)
        return _copy(rule)

    async def rule_take(
        self, provider: str, operation: str, *, scenarios: Collection[str] | None = None
    ) -> Record | None:
        for rule in self._rules:
            if rule["provider"] != provider or rule.get("operation") not in (None, operation):
                continue
            if scenarios is not None and rule.get("scenario") not in scenarios:
                return None  # the first rule applies or none does: a later one is not taken instead
            remaining = rule.get("remaining")
            if remaining is not None:
                rule["remaining"] = remaining - 1
                if rule["remaining"] <= 0:
                    self._rules.remove(rule)
            return _copy(rule)
        return None

    async def rules(self) -> list[Record]:
        return _copy(self._rules)

    async def opening(self, provider: str, operation: str, *, take_rule: bool = True) -> Opening:
        rule = await self.rule_take(provider, operation) if take_rule else None
        return Opening(rule, self._defaults.get(provider), self._offset)

    async def rules_clear(self) -> None:
        self._rules.clear()

    # per-provider default scenarios ---------------------------------------------------------
    async def default_get(self, provider: str) -> str | None:
        return self._defaults.get(provider)

    async def defaults(self) -> dict[str, str]:
        return dict(self._defaults)

    async def default_set(self, provider: str, scenario: str | None) -> None:
        if scenario is None:
            self._defaults.pop(provider, None)
        else:
            self._defaults[provider] = scenario

    async def latency_get(self) -> list[str] | None:
        return None if self._latency is None else list(self._latency)

    async def latency_set(self, entries: Sequence[str] | None) -> None:
        self._latency = None if entries is None else list(entries)

    # jobs -----------------------------------------------------------------------------------
    async def job_create(self, job: Record, due: Sequence[Due] = ()) -> None:
        self._jobs[(job["provider"], job["id"])] = _dumps(job)
        while len(self._jobs) > self.limits.jobs:
            self._jobs.popitem(last=False)
        if due:
            await self.due_add(due)

    async def job_get(self, provider: str, job_id: str) -> Record | None:
        return _thaw(self._jobs.get((provider, job_id)))

    async def job_poll(self, provider: str, job_id: str) -> Record | None:
        key = (provider, job_id)
        job = _thaw(self._jobs.get(key))
        if job is None:
            return None
        job["polls"] += 1
        self._jobs[key] = _dumps(job)
        return job

    async def job_update(
        self,
        provider: str,
        job_id: str,
        changes: Mapping[str, Any],
        *,
        expect: Mapping[str, Any] | None = None,
    ) -> tuple[Record | None, bool]:
        key = (provider, job_id)
        job, updated = _cas(_thaw(self._jobs.get(key)), changes, expect)
        if updated and key in self._jobs:
            self._jobs[key] = _dumps(job)
        return job, updated

    async def jobs(self, provider: str | None = None) -> list[Record]:
        return [_loads(job) for (p, _), job in self._jobs.items() if provider in (None, p)]

    # the due index ------------------------------------------------------------------------------
    async def due_add(self, items: Sequence[Due]) -> None:
        for item in items:
            self._schedule(item.provider, item.member, item.at)

    def _schedule(self, provider: str, member: str, at: float) -> None:
        self._due.setdefault(provider, {})[member] = at
        heapq.heappush(self._heaps.setdefault(provider, []), (at, member))

    def _first(self, provider: str) -> tuple[float, str] | None:
        """The earliest live entry of ``provider`` (stale heap entries are dropped on the way)."""
        heap, pending = self._heaps.get(provider, []), self._due.get(provider, {})
        while heap:
            at, member = heap[0]
            if pending.get(member) == at:
                return at, member
            heapq.heappop(heap)
        return None

    async def due_claim(self, providers: Sequence[str], now: float, *, limit: int, lease: float) -> list[Due]:
        real = time.time()
        out: list[Due] = []
        for provider in providers:
            claimed = self._claimed.setdefault(provider, {})
            pending = self._due.setdefault(provider, {})
            for member, (until, at) in list(claimed.items()):
                if until <= real:  # its worker died holding it
                    del claimed[member]
                    self._schedule(provider, member, min(at, now))
            while len(out) < limit:
                first = self._first(provider)
                if first is None or first[0] > now:
                    break
                at, member = heapq.heappop(self._heaps[provider])
                del pending[member]
                claimed[member] = (real + lease, at)
                out.append(Due.from_member(member, at))
        return out

    async def due_done(self, item: Due, then: Sequence[Due] = ()) -> None:
        self._claimed.get(item.provider, {}).pop(item.member, None)
        await self.due_add(then)

    async def due_extend(self, items: Sequence[Due], lease: float) -> None:
        until = time.time() + lease
        for item in items:
            claimed = self._claimed.get(item.provider, {})
            if item.member in claimed:
                claimed[item.member] = (until, claimed[item.member][1])

    async def due_release(self, items: Sequence[Due]) -> None:
        for item in items:
            if self._claimed.get(item.provider, {}).pop(item.member, None) is not None:
                self._schedule(item.provider, item.member, item.at)

    async def due_next(self, providers: Sequence[str]) -> float | None:
        firsts = [first[0] for p in providers if (first := self._first(p)) is not None]
        return min(firsts) if firsts else None

    async def due_pending(self, providers: Sequence[str]) -> int:
        return sum(len(self._due.get(p, {})) + len(self._claimed.get(p, {})) for p in providers)

    # files and uploads ----------------------------------------------------------------------------
    async def file_put(self, token: str, descriptor: Record) -> None:
        self._files[token] = _dumps(descriptor)
        while len(self._files) > self.limits.files:
            self._files.popitem(last=False)

    async def file_get(self, token: str) -> Record | None:
        return _thaw(self._files.get(token))

    async def upload_put(self, key: str, data: bytes, meta: Record, *, ttl: float | None = None) -> None:
        old = self._uploads.pop(key, None)
        if old is not None:
            self._upload_bytes -= len(old[0])
        self._uploads[key] = (bytes(data), _copy(meta), None if ttl is None else time.time() + ttl)
        self._upload_bytes += len(data)
        self._evicted.pop(key, None)
        while len(self._uploads) > 1 and (
            len(self._uploads) > self.limits.uploads or self._upload_bytes > self.limits.upload_bytes
        ):
            gone, (dropped, _, _) = self._uploads.popitem(last=False)
            self._upload_bytes -= len(dropped)
            self._evicted[gone] = None
            while len(self._evicted) > 10 * self.limits.uploads:
                self._evicted.popitem(last=False)

    async def upload_get(self, key: str) -> tuple[bytes, Record] | None:
        found = self._uploads.get(key)
        if found is None:
            return None
        data, meta, expires = found
        if expires is not None and expires <= time.time():
            del self._uploads[key]
            self._upload_bytes -= len(data)
            return None
        return data, _copy(meta)

    async def upload_exists(self, key: str) -> bool:
        return await self.upload_get(key) is not None  # a reference to the bytes, not a copy

    async def upload_evicted(self, key: str) -> bool:
        return key in self._evicted

    # webhooks -------------------------------------------------------------------------------------
    async def endpoint_add(self, endpoint: Record) -> Record:
        if len(self._endpoints) >= self.limits.endpoints:
            raise StateFull("webhook endpoints", self.limits.endpoints, "endpoints_limit")
        endpoint = {**_copy(endpoint), "id": next(self._endpoint_ids)}
        self._endpoints.append(endpoint)
        return _copy(endpoint)

    async def endpoints(self, provider: str | None = None) -> list[Record]:
        return [_copy(e) for e in self._endpoints if provider in (None, e["provider"])]

    async def endpoints_clear(self) -> None:
        self._endpoints.clear()

    async def delivery_create(self, key: str, delivery: Record) -> tuple[Record, bool]:
        known = self._delivery_keys.get(key)
        if known is not None and known in self._deliveries:
            return _copy(self._deliveries[known]), False
        record = {**_copy(delivery), "id": next(self._delivery_ids)}
        self._deliveries[record["id"]] = record
        self._delivery_keys[key] = record["id"]
        self._key_of[record["id"]] = key
        while len(self._deliveries) > self.limits.deliveries:
            gone, _ = self._deliveries.popitem(last=False)
            self._delivery_keys.pop(self._key_of.pop(gone, ""), None)
        return _copy(record), True

    async def delivery_get(self, delivery_id: int) -> Record | None:
        return _copy(self._deliveries.get(delivery_id))

    async def delivery_update(
        self, delivery_id: int, changes: Mapping[str, Any], *, expect: Mapping[str, Any] | None = None
    ) -> tuple[Record | None, bool]:
        return _cas(self._deliveries.get(delivery_id), changes, expect)

    async def deliveries(self, provider: str | None = None) -> list[Record]:
        return [_copy(d) for d in self._deliveries.values() if provider in (None, d["provider"])]

    # counters and the clock -------------------------------------------------------------------------
    async def next_number(self, name: str, *, ttl: float | None = None) -> int:
        now = time.monotonic()
        if now - self._swept > 60:
            self._swept = now
            self._counters = {k: v for k, v in self._counters.items() if v[1] is None or v[1] > now}
        value, expires = self._counters.get(name, (0, None))
        if expires is not None and expires <= now:
            value, expires = 0, None
        if expires is None and ttl is not None:
            expires = now + ttl
        self._counters[name] = (value + 1, expires)
        return value + 1

    async def clock_offset(self) -> float:
        return self._offset

    async def clock_advance(self, seconds: float) -> float:
        self._offset += seconds
        return self._offset

    def deferring(self) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()  # every write is already done when its call returns

    async def reset(self) -> None:
        self.reset_sync()

    async def close(self) -> None:
        return None


def _cas(
    record: Record | None, changes: Mapping[str, Any], expect: Mapping[str, Any] | None
) -> tuple[Record | None, bool]:
    if record is None:
        return None, False
    if expect and any(record.get(k, None) != v for k, v in expect.items()):
        return _copy(record), False
    record.update(_copy(dict(changes)))
    return _copy(record), True
