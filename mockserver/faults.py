"""Faults and latency: the network misbehaving, for clients to test against (as WireMock offers).

A fault is a scenario like any other (``X-Mock-Scenario: connection_reset``, the key
``mock-dribble``, an admin rule, the server default) that every operation of every provider has.
The request is handled as usual (validated, answered, journaled); then, instead of the answer,
the client gets:

- ``connection_reset``: the connection aborted with a TCP RST, nothing answered;
- ``empty_response``: the connection closed without a byte of answer;
- ``truncated_body``: the answer's status and headers (``content-length`` of the whole body),
  half of the body, then the connection closed;
- ``dribble``: the whole answer, its body in :data:`DRIBBLE_CHUNKS` pieces over
  ``dribble_seconds``;
- ``malformed_json``: the answer's status and headers with a body that is not JSON (cut short).

The first three need the connection: served by ``headshot-mock serve`` or ``BackgroundServer``
(the scope extension :data:`WIRE`). In-process (an ASGI transport) there is none; the app then
raises what httpx raises on the wire (``httpx.ReadError``, ``httpx.RemoteProtocolError``: both
:class:`InProcessFault`) to the transport for the first two,
and sends half the declared body for ``truncated_body``.

Latency (``latency`` in the config) delays every answer by a seeded draw from a distribution:
``fixed:S``, ``uniform:LOW,HIGH`` or ``lognormal:MEDIAN,SIGMA`` (seconds), server-wide or for one
provider (``agentai=...``) or operation (``modelslab.fetchQueued=...``), the most specific first.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from starlette.responses import Response

from headshot_mock.mockserver.config import LatencyRule, MockConfig, parse_latency
from headshot_mock.mockserver.scenarios import FAULTS

if TYPE_CHECKING:
    from headshot_mock.mockserver.stores import Store

WIRE = "headshot_mock.wire"
"""The ASGI scope extension through which faults reach the connection (set by the server)."""
DRIBBLE_CHUNKS = 10


class Wire(Protocol):
    async def reset(self) -> None: ...

    async def drop(self) -> None: ...


def apply(scenario: str, response: Response, config: MockConfig) -> Response:
    """``response`` as the fault ``scenario`` delivers it (unchanged if it is no fault)."""
    if scenario not in FAULTS:
        return response
    if scenario == "malformed_json":
        body = bytes(response.body)
        broken = body[: len(body) // 2] or b"{"
        if _parses(broken):
            broken += b"{"
        response.body = broken
        response.headers["content-length"] = str(len(broken))
        return response
    return _Faulty(scenario, response, config.dribble_seconds)


class _Faulty(Response):
    def __init__(self, fault: str, answer: Response, dribble_seconds: float) -> None:
        self.fault = fault
        self.answer = answer
        self.dribble_seconds = dribble_seconds
        self.status_code = answer.status_code
        self.body = bytes(answer.body)
        self.raw_headers = answer.raw_headers
        self.background = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        wire: Wire | None = (scope.get("extensions") or {}).get(WIRE)
        start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        if self.fault == "connection_reset":
            if wire is None:
                raise _in_process("connection_reset", "[Errno 104] Connection reset by peer")
            await wire.reset()
        elif self.fault == "empty_response":
            if wire is None:
                raise _in_process("empty_response", "Server disconnected without sending a response.")
            await wire.drop()
        elif self.fault == "truncated_body":
            await send(start)
            await send(
                {"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True}
            )
            if wire is not None:
                await wire.drop()
            else:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:  # dribble
            await send(start)
            size = max(1, math.ceil(len(self.body) / DRIBBLE_CHUNKS))
            pieces = [self.body[i : i + size] for i in range(0, len(self.body), size)] or [b""]
            pause = self.dribble_seconds / len(pieces)
            for piece in pieces:
                await asyncio.sleep(pause)
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})


class InProcessFault(Exception):
    """A connection fault in-process (no connection to break): the middleware lets it through."""


@functools.cache
def _fault_type(fault: str) -> type[Exception]:
    import httpx  # only when a fault is served in-process (the server does not import httpx)

    base = httpx.ReadError if fault == "connection_reset" else httpx.RemoteProtocolError
    return type(base.__name__, (base, InProcessFault), {"__module__": __name__})


def _in_process(fault: str, message: str) -> Exception:
    return _fault_type(fault)(f"{message} (headshot-mock fault {fault}, in-process)")


def _parses(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


class Latency:
    """Seeded delays per provider and operation, drawn from the config's latency rules, or from
    those set through the admin API (``PUT /__mock/latency``) when ``store`` holds some.

    A shared store is read at most every :data:`LATENCY_REFRESH` seconds (a change made through
    another worker applies within that); the process that made the change applies it at once."""

    def __init__(self, config: MockConfig, store: Store | None = None) -> None:
        self.seed = config.seed
        self.configured = config.latency_rules
        self.rules = self.configured
        self._store = store
        self._entries: list[str] | None = None
        self._read_at = -math.inf
        self._streams: dict[tuple[str, str], random.Random] = {}

    async def refresh(self, *, now: bool = False) -> None:
        """The rules in force: the store's entries, else the config's."""
        if self._store is None:
            return
        if now:
            await self._read()
            return
        if not self._store.shared:
            return  # only this process writes it, and refreshes when it does (Control)
        at = time.monotonic()
        if at - self._read_at < LATENCY_REFRESH:
            return
        self._read_at = at
        # In a context of its own: a shared store sends a request's held-back writes before any
        # read made in it, and this read is the server's, not the request's (one in 0.25 s).
        await asyncio.get_running_loop().create_task(self._read(), context=contextvars.Context())

    async def _read(self) -> None:
        assert self._store is not None
        entries = await self._store.latency_get()
        self._read_at = time.monotonic()
        if entries != self._entries:
            self._entries = entries
            self.rules = self.configured if entries is None else tuple(parse_latency(e) for e in entries)

    def rule(self, provider: str, operation: str) -> LatencyRule | None:
        best: LatencyRule | None = None
        for rule in self.rules:
            if rule.provider not in (None, provider) or rule.operation not in (None, operation):
                continue
            if best is None or rule.specificity > best.specificity:
                best = rule
        return best

    def draw(self, provider: str, operation: str) -> float:
        """The next delay in seconds for this operation (0 without a rule): the same seed, the same
        sequence of delays."""
        rule = self.rule(provider, operation)
        if rule is None:
            return 0.0
        stream = self._streams.get((provider, operation))
        if stream is None:
            stream = self._streams[(provider, operation)] = random.Random(
                f"{self.seed}:{provider}:{operation}"
            )
        if rule.kind == "fixed":
            return rule.a
        if rule.kind == "uniform":
            return stream.uniform(rule.a, rule.b)
        return rule.a * math.exp(stream.gauss(0.0, rule.b))  # lognormal: median a, sigma b

    @property
    def idle(self) -> bool:
        """No rule to draw from and none to read: :meth:`wait` would do nothing (most servers)."""
        return not self.rules and (self._store is None or not self._store.shared)

    async def wait(self, provider: str, operation: str) -> None:
        await self.refresh()
        if self.rules:
            delay = self.draw(provider, operation)
            if delay > 0:
                await asyncio.sleep(delay)


HELD = {"slow": "slow_seconds", "timeout": "timeout_seconds"}
"""The scenarios :func:`hold` holds a request for, and the config field saying how long."""


async def hold(scenario: str, config: MockConfig, now: Callable[[], Awaitable[float]]) -> None:
    """The added wait of the ``slow`` and ``timeout`` scenarios, on the mock clock (``now``). Real
    time moves that clock, so a server holds this long for real; advancing it (a test, the admin
    API, ``ClientSuite`` once the client gave up) ends the hold within :data:`HOLD_TICK`."""
    field = HELD.get(scenario)
    if field is None:
        return
    seconds: float = getattr(config, field)
    until = await now() + seconds
    while (left := until - await now()) > 0:
        await asyncio.sleep(min(left, HOLD_TICK))


LATENCY_REFRESH = 0.25
"""How often (seconds) a shared store's latency entries are read again."""
HOLD_TICK = 0.05
"""How often (real seconds) a held ``slow``/``timeout`` request re-reads the mock clock."""
