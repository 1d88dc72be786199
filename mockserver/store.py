"""Kept for imports written before the stores package: the store seam lives in
:mod:`headshot_mock.mockserver.stores`."""

from headshot_mock.mockserver.stores import MemoryStore, Record, Store

__all__ = ["MemoryStore", "Record", "Store"]
