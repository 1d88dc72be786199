"""Where a mock's state lives: the :class:`Store` protocol and its implementations.

- :class:`MemoryStore` — the default: this process, nothing to install;
- :class:`SerialisingStore` — the memory store behind a JSON round trip (tests: aliasing bugs surface);
- :class:`RedisStore` — Redis through redis-py's asyncio client, shared by workers and hosts.

:func:`open_store` picks one from a :class:`~mockserver.config.MockConfig` (``state``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headshot_mock.mockserver.config import MockConfig
from headshot_mock.mockserver.stores.base import Due, Limits, Opening, Record, Stale, Store
from headshot_mock.mockserver.stores.memory import MemoryStore
from headshot_mock.mockserver.stores.serialising import SerialisingStore

if TYPE_CHECKING:
    from headshot_mock.mockserver.stores.redis_store import RedisStore

__all__ = [
    "Due",
    "Limits",
    "MemoryStore",
    "Opening",
    "Record",
    "RedisStore",
    "SerialisingStore",
    "Stale",
    "Store",
    "limits_of",
    "open_store",
]


def limits_of(config: MockConfig) -> Limits:
    return Limits(
        journal_entries=config.journal_limit,
        journal_bytes=config.journal_max_bytes,
        deliveries=config.deliveries_limit,
        rules=config.rules_limit,
        endpoints=config.endpoints_limit,
        uploads=config.uploads_limit,
        upload_bytes=config.uploads_max_bytes,
    )


def open_store(config: MockConfig) -> Store:
    """The store ``config.state`` names (a Redis store connects on first use)."""
    if config.state == "memory":
        return MemoryStore(limits=limits_of(config))
    from headshot_mock.mockserver.stores.redis_store import RedisStore

    return RedisStore(config.state, prefix=config.state_prefix, limits=limits_of(config))


def __getattr__(name: str) -> Any:
    if name == "RedisStore":  # redis-py is imported only by those who use it
        from headshot_mock.mockserver.stores.redis_store import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
