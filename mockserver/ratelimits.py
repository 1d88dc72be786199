"""The rate limits a provider documents, read from its spec (``x-provider.rate-limits``).

Two kinds, both data:

    x-provider:
      rate-limits:
        - {limit: 20, seconds: 60, headers: ratelimit, x-source: [A2]}   # a window per API key
        - {limit: 1000, seconds: 86400, x-source: [A2]}
        - {queued: 5, x-source: [M8]}                                    # jobs still running

A window counts the requests of one API key in fixed windows of the mock clock; ``headers:
ratelimit`` reports it on every answer as ``ratelimit-limit``, ``-remaining``, ``-reset`` (unix
time) and ``-reset-date``, plus ``retry-after`` on a 429. A queue limit counts the provider's
jobs still running. The limits apply to the operations whose spec has a ``rate_limited``
example, and they always count; with ``enforce_rate_limits`` a request past one gets that 429.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from headshot_mock import specs
from headshot_mock.mockserver import jobs
from headshot_mock.mockserver.runtime import Runtime, iso

ANSWER = "rate_limited"


@dataclass(frozen=True, slots=True)
class Window:
    limit: int
    seconds: int
    headers: bool = False


@dataclass(slots=True)
class Usage:
    """What one request found: whether it is past a limit, and the headers reporting the window."""

    exceeded: bool
    retry_after: int = 0
    reported: dict[str, str] = field(default_factory=dict)

    def apply(self, headers: dict[str, str], status: int) -> None:
        """Put the rate-limit headers on an answer with ``status``."""
        if not self.reported:
            return
        headers.update(self.reported)
        if status == 429:
            headers["ratelimit-remaining"] = "0"
            headers["retry-after"] = str(max(1, self.retry_after))
        else:
            headers.pop("retry-after", None)  # only a 429 says when to come back


class Limits:
    """The limits of one provider (an empty one when its spec declares none)."""

    def __init__(self, spec: specs.ProviderSpec) -> None:
        self.provider = spec.id
        self.windows: list[Window] = []
        self.queued: int | None = None
        for i, item in enumerate(spec.document.get("x-provider", {}).get("rate-limits") or ()):
            self._add(spec, i, item)

    def _add(self, spec: specs.ProviderSpec, i: int, item: Any) -> None:
        where = f"{spec.path.name}: x-provider.rate-limits[{i}]"
        if not isinstance(item, dict):
            raise specs.InvalidSpec(f"{where} must be a mapping, got {item!r}")
        if "queued" in item:
            self.queued = _positive(item["queued"], where, "queued")
            return
        headers = item.get("headers")
        if headers not in (None, "ratelimit"):
            raise specs.InvalidSpec(
                f"{where}: headers must be `ratelimit` (the ratelimit-* family) or absent"
            )
        self.windows.append(
            Window(
                _positive(item.get("limit"), where, "limit"),
                _positive(item.get("seconds"), where, "seconds"),
                bool(headers),
            )
        )

    def __bool__(self) -> bool:
        return bool(self.windows) or self.queued is not None

    async def take(self, runtime: Runtime, credential: str | None, *, enforce: bool) -> Usage:
        """Count one request of ``credential`` in every window; report where it stands. The queue
        (a scan of the provider's jobs) is looked at only when limits are ``enforce``d. The clock
        is read only when a window or the queue needs it (with a shared store it is a round trip)."""
        usage = Usage(exceeded=False)
        if not self.windows and not (self.queued is not None and enforce):
            return usage
        now = await runtime.now()
        account = runtime.token("rate-account", credential or "", length=12) if self.windows else ""
        for window in self.windows:
            start = int(now // window.seconds) * window.seconds
            used = await runtime.number(
                self.provider, f"rate-{window.seconds}-{account}-{start}", ttl=2.0 * window.seconds
            )
            reset = start + window.seconds
            if used > window.limit:
                usage.exceeded = True
                usage.retry_after = max(usage.retry_after, reset - int(now))
            if window.headers and not usage.reported:
                usage.reported = {
                    "ratelimit-limit": str(window.limit),
                    "ratelimit-remaining": str(max(0, window.limit - used)),
                    "ratelimit-reset": str(reset),
                    "ratelimit-reset-date": iso(reset),
                }
                usage.retry_after = max(usage.retry_after, reset - int(now))
        if self.queued is not None and enforce:
            scale = runtime.config.time_scale
            running = [
                job
                for job in await runtime.store.jobs(self.provider)
                if not job.get("deleted") and not jobs.is_done(job, now, scale)
            ]
            if len(running) >= self.queued:
                usage.exceeded = True
        return usage


def _positive(value: Any, where: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise specs.InvalidSpec(f"{where}: {name} must be a whole number >= 1, got {value!r}")
    return value
