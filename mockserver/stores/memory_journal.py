"""The memory store's journal: two rings (request entries, webhook attempts), each bounded by
entries and by bytes, the oldest dropped first.

An entry is kept as its compact JSON bytes, except a small request's
:class:`~headshot_mock.mockserver.journal.Draft`: it is kept as it is (its parts, never changed
after the answer) and written out when it is first read, then kept as its bytes. Every read hands
out a fresh value.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable

from headshot_mock.mockserver.codec import dumps as _dumps
from headshot_mock.mockserver.codec import loads as _loads
from headshot_mock.mockserver.journal import Draft, written
from headshot_mock.mockserver.stores.base import Limits, Record

RINGS = ("request", "webhook")


class Kept:
    """One entry as a ring holds it: its JSON bytes, or a small request's draft until read."""

    __slots__ = ("data", "seq")

    def __init__(self, seq: int, data: bytes | Draft) -> None:
        self.seq = seq
        self.data = data

    @property
    def size(self) -> int:
        return self.data.size if isinstance(self.data, Draft) else len(self.data)


class Journal:
    """The rings of one memory store, numbered by one ``seq`` for both."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._rings: dict[str, deque[Kept]] = {ring: deque() for ring in RINGS}
        self._bytes = dict.fromkeys(RINGS, 0)
        self._seq = itertools.count(1)

    def append(self, entry: Record | Draft) -> int:
        seq = next(self._seq)
        if isinstance(entry, Draft) and entry.small:  # written out when first read
            kept, ring, size = Kept(seq, entry), "request", entry.size
        else:
            record = written(entry)
            data = _dumps({**record, "seq": seq})
            kept, size = Kept(seq, data), len(data)
            ring = "webhook" if record.get("kind") == "webhook" else "request"
        items = self._rings[ring]
        items.append(kept)
        held = self._bytes[ring] = self._bytes[ring] + size
        limits = self.limits
        limit = limits.deliveries if ring == "webhook" else limits.journal_entries
        if len(items) > limit or held > limits.journal_bytes:
            while len(items) > 1 and (len(items) > limit or held > limits.journal_bytes):
                held -= items.popleft().size
            self._bytes[ring] = held
        return seq

    def entries(
        self, *, where: Callable[[Record], bool] | None, newest: int | None, after: int
    ) -> list[Record]:
        """As :meth:`Store.journal_entries`: decoded one by one, newest first, so the newest few
        cost only a few decodes and nothing at or below ``after`` is read."""
        found: list[Record] = []
        if newest is not None and newest <= 0:
            return found
        rings = (reversed(self._rings["request"]), reversed(self._rings["webhook"]))
        for kept in heapq.merge(*rings, key=lambda kept: -kept.seq):
            if kept.seq <= after:
                break
            entry = self._read(kept)
            if where is None or where(entry):
                found.append(entry)
                if newest is not None and len(found) >= newest:
                    break
        found.reverse()
        return found

    def _read(self, kept: Kept) -> Record:
        """A fresh copy of a kept entry; a draft is written out first, and kept as its bytes."""
        if isinstance(kept.data, Draft):
            data = _dumps({**kept.data.record(), "seq": kept.seq})
            self._bytes["request"] += len(data) - kept.data.size
            kept.data = data
        entry: Record = _loads(kept.data)
        return entry

    def count(self) -> int:
        return sum(len(ring) for ring in self._rings.values())

    def clear(self) -> None:
        for ring in self._rings.values():
            ring.clear()
        self._bytes = dict.fromkeys(RINGS, 0)

    def kept(self, ring: str) -> deque[Kept]:
        """What a ring holds, oldest first (for tests and diagnostics: do not change it)."""
        return self._rings[ring]

    def bytes_held(self, ring: str) -> int:
        """The bytes a ring's entries count against ``journal_bytes``."""
        return self._bytes[ring]
