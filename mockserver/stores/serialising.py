"""A store for tests: :class:`MemoryStore` behind a JSON round trip of every value in and out,
as a store in another process would give them. Aliasing bugs (a caller relying on a record it
handed over changing, or on mutating one it got back) surface here, not in production."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from headshot_mock.mockserver.journal import Draft, written
from headshot_mock.mockserver.stores.base import Due, Record
from headshot_mock.mockserver.stores.memory import MemoryStore

T = TypeVar("T")


def _trip(value: T) -> T:
    result: T = json.loads(json.dumps(value))
    return result


class SerialisingStore(MemoryStore):
    async def journal_append(self, entry: Record | Draft) -> int:
        return await super().journal_append(_trip(written(entry)))  # as a shared store: at once

    async def journal_entries(
        self,
        *,
        where: Callable[[Record], bool] | None = None,
        newest: int | None = None,
        after: int = 0,
    ) -> list[Record]:
        return _trip(await super().journal_entries(where=where, newest=newest, after=after))

    async def rule_add(self, rule: Record) -> Record:
        return _trip(await super().rule_add(_trip(rule)))

    async def rule_take(
        self, provider: str, operation: str, *, scenarios: Collection[str] | None = None
    ) -> Record | None:
        return _trip(await super().rule_take(provider, operation, scenarios=scenarios))

    async def rules(self) -> list[Record]:
        return _trip(await super().rules())

    async def job_create(self, job: Record, due: Sequence[Due] = ()) -> None:
        await super().job_create(_trip(job), due)

    async def job_get(self, provider: str, job_id: str) -> Record | None:
        return _trip(await super().job_get(provider, job_id))

    async def job_poll(self, provider: str, job_id: str) -> Record | None:
        return _trip(await super().job_poll(provider, job_id))

    async def job_update(
        self,
        provider: str,
        job_id: str,
        changes: Mapping[str, Any],
        *,
        expect: Mapping[str, Any] | None = None,
    ) -> tuple[Record | None, bool]:
        job, done = await super().job_update(provider, job_id, _trip(dict(changes)), expect=expect)
        return _trip(job), done

    async def jobs(self, provider: str | None = None) -> list[Record]:
        return _trip(await super().jobs(provider))

    async def file_put(self, token: str, descriptor: Record) -> None:
        await super().file_put(token, _trip(descriptor))

    async def file_get(self, token: str) -> Record | None:
        return _trip(await super().file_get(token))

    async def upload_put(self, key: str, data: bytes, meta: Record, *, ttl: float | None = None) -> None:
        await super().upload_put(key, data, _trip(meta), ttl=ttl)

    async def upload_get(self, key: str) -> tuple[bytes, Record] | None:
        found = await super().upload_get(key)
        return None if found is None else (found[0], _trip(found[1]))

    async def endpoint_add(self, endpoint: Record) -> Record:
        return _trip(await super().endpoint_add(_trip(endpoint)))

    async def endpoints(self, provider: str | None = None) -> list[Record]:
        return _trip(await super().endpoints(provider))

    async def delivery_create(self, key: str, delivery: Record) -> tuple[Record, bool]:
        record, new = await super().delivery_create(key, _trip(delivery))
        return _trip(record), new

    async def delivery_get(self, delivery_id: int) -> Record | None:
        return _trip(await super().delivery_get(delivery_id))

    async def delivery_update(
        self, delivery_id: int, changes: Mapping[str, Any], *, expect: Mapping[str, Any] | None = None
    ) -> tuple[Record | None, bool]:
        record, done = await super().delivery_update(delivery_id, _trip(dict(changes)), expect=expect)
        return _trip(record), done

    async def deliveries(self, provider: str | None = None) -> list[Record]:
        return _trip(await super().deliveries(provider))
