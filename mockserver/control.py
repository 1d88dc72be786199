"""The mock's controls from Python: the journal, scenario rules and defaults, latency, jobs, the
clock, webhook endpoints and deliveries. The admin API (``/__mock/``) is the HTTP face of this class, so both
check their input the same way and raise (or answer) the same :class:`AdminError`.

    control = app.state.control
    await control.add_rule("modelslab", "rate_limited", operation="headShot", times=2)
    await control.advance(15)                  # move the mock clock
    await control.finish("magichour", project_id)
    entries = await control.journal(provider="modelslab")
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from headshot_mock import specs
from headshot_mock.mockserver import jobs, journal
from headshot_mock.mockserver.config import parse_endpoint, parse_latency
from headshot_mock.mockserver.engine import Engine
from headshot_mock.mockserver.errors import AdminError, ConfigError, UnknownScenario
from headshot_mock.mockserver.runtime import ShuttingDown
from headshot_mock.mockserver.stores import Record
from headshot_mock.mockserver.validation import cut
from headshot_mock.specs.errors import did_you_mean

JOURNAL_KINDS = ("request", "webhook", "error")
MAX_LATENCY_ENTRIES = 100
MAX_CLOCK_OFFSET = 100 * 365.25 * 86400
"""How far the mock clock may run ahead of real time (past that, dates stop being printable)."""


class Control:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._runtime = engine.runtime
        self._store = engine.runtime.store

    # providers ------------------------------------------------------------------------------
    def provider(self, name: Any) -> str:
        """``name`` if it is served here, else a 404 naming the valid ones."""
        if not isinstance(name, str) or name not in self._engine.providers:
            raise AdminError(
                404,
                "Unknown provider",
                f"{name!r} is not served here.{did_you_mean(str(name), self._engine.providers)}",
            )
        return name

    def _optional_provider(self, name: str | None) -> str | None:
        return None if name is None else self.provider(name)

    def scenarios(self) -> dict[str, dict[str, str]]:
        return {pid: dict(p.scenarios.summaries) for pid, p in sorted(self._engine.providers.items())}

    # journal --------------------------------------------------------------------------------
    async def journal(
        self,
        *,
        provider: str | None = None,
        operation: str | None = None,
        scenario: str | None = None,
        status: int | str | None = None,
        kind: str | None = None,
        limit: int | None = None,
    ) -> list[Record]:
        """Entries oldest first, filtered; ``kind="webhook"`` selects webhook attempts,
        ``kind="request"`` provider calls."""
        self._optional_provider(provider)
        if limit is not None and limit < 0:
            raise AdminError(400, "Bad limit", f"limit must be >= 0, got {limit}.")
        if kind is not None and kind not in JOURNAL_KINDS:
            raise AdminError(400, "Unknown kind", f"{kind!r}.{did_you_mean(kind, JOURNAL_KINDS)}")
        filters = {"provider": provider, "operation": operation, "scenario": scenario}
        filters["status"] = None if status is None else str(status)

        def wanted(entry: Record) -> bool:
            return journal.matches(entry, filters) and kind in (None, entry.get("kind", "request"))

        narrowed = kind is not None or any(v is not None for v in filters.values())
        return await self._store.journal_entries(where=wanted if narrowed else None, newest=limit)

    async def clear_journal(self) -> None:
        await self._store.journal_clear()

    # rules ----------------------------------------------------------------------------------
    async def add_rule(
        self, provider: str, scenario: str, *, operation: str | None = None, times: int | None = 1
    ) -> Record:
        """The next ``times`` calls (None: every call) of ``operation`` (None: any) answer ``scenario``."""
        pid = self.provider(provider)
        plugin = self._engine.providers[pid]
        if operation is not None and (not isinstance(operation, str) or not operation):
            raise AdminError(
                400,
                "Bad rule",
                f"operation must be an operationId or null (any), got {cut(repr(operation))}.",
            )
        if not isinstance(scenario, str):
            raise AdminError(400, "Bad rule", f"scenario must be a scenario name, got {cut(repr(scenario))}.")
        if operation is not None:
            try:
                plugin.spec.operation(operation)
            except specs.UnknownOperation as exc:
                raise AdminError(404, "Unknown operation", str(exc)) from None
        try:
            plugin.scenarios.check(scenario, where=f"provider {pid!r}")
        except UnknownScenario as exc:
            raise AdminError(400, "Unknown scenario", str(exc)) from None
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            raise AdminError(
                400, "Bad rule", f"times must be a whole number >= 1 or null (forever), got {times!r}."
            )
        rule = {"provider": pid, "operation": operation, "scenario": scenario, "remaining": times}
        return await self._store.rule_add(rule)

    async def rules(self) -> list[Record]:
        return await self._store.rules()

    async def clear_rules(self) -> None:
        await self._store.rules_clear()

    # per-provider default scenarios ------------------------------------------------------------
    async def defaults(self) -> list[Record]:
        """Each served provider's default scenario: the one set for it, else the server's."""
        chosen = await self._store.defaults()
        out = []
        for pid, plugin in sorted(self._engine.providers.items()):
            server = self._runtime.config.scenario
            server = server if server in plugin.scenarios.summaries else "success"
            out.append({"provider": pid, "scenario": chosen.get(pid, server), "server_default": server})
        return out

    async def set_default(self, provider: str, scenario: str | None) -> Record:
        """Calls to ``provider`` that nothing else steers answer ``scenario`` (None: the server's)."""
        pid = self.provider(provider)
        if scenario is not None:
            try:
                self._engine.providers[pid].scenarios.check(scenario, where=f"provider {pid!r}")
            except UnknownScenario as exc:
                raise AdminError(400, "Unknown scenario", str(exc)) from None
        await self._store.default_set(pid, scenario)
        return next(d for d in await self.defaults() if d["provider"] == pid)

    # latency ---------------------------------------------------------------------------------
    async def latency(self) -> Record:
        """The latency entries in force: set here (``source: admin``) or the server's (``config``)."""
        configured = list(self._runtime.config.latency)
        entries = await self._store.latency_get()
        source = "config" if entries is None else "admin"
        return {"latency": configured if entries is None else entries, "source": source, "config": configured}

    async def set_latency(self, entries: Any) -> Record:
        """Replace every latency entry at once: ``[PROVIDER[.OPERATION]=]KIND:ARGS`` as ``--latency``
        takes them (``[]``: none at all)."""
        usage = "a list of entries such as 'fixed:0.2' or 'agentai=uniform:0.1,0.5'"
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise AdminError(400, "Bad latency", f"latency must be {usage}, got {cut(repr(entries))}.")
        if len(entries) > MAX_LATENCY_ENTRIES or any(len(e) > 200 for e in entries):
            detail = f"at most {MAX_LATENCY_ENTRIES} entries of at most 200 characters each."
            raise AdminError(400, "Too much latency", f"latency takes {detail}")
        for entry in entries:
            try:
                parse_latency(entry)
            except ConfigError as exc:
                raise AdminError(400, "Bad latency", cut(str(exc))) from None
        await self._store.latency_set(entries)
        await self._engine.latency.refresh(now=True)
        return await self.latency()

    async def clear_latency(self) -> None:
        """Back to the server's configured latency."""
        await self._store.latency_set(None)
        await self._engine.latency.refresh(now=True)

    # jobs and the clock -----------------------------------------------------------------------
    async def jobs(self, provider: str | None = None) -> list[Record]:
        return await jobs.listing(self._runtime, self._optional_provider(provider))

    async def finish(self, provider: str, job_id: str, state: str | None = None) -> Record:
        """End a job now, in its own final state or ``state``; webhooks fire as they would."""
        pid = self.provider(provider)
        plugin = self._engine.providers[pid]
        if state is not None and (not isinstance(state, str) or state not in plugin.final_states):
            hint = did_you_mean(str(state), plugin.final_states)
            raise AdminError(400, "Unknown final state", f"{pid} jobs end in one of them.{hint}")
        current = await jobs.get(self._runtime, pid, job_id)
        if current is None:
            raise AdminError(
                404,
                "Unknown job",
                f"{pid} has no job {job_id!r}; GET /__mock/jobs (or Control.jobs()) lists them.",
            )
        if current["done"] and state not in (None, current["final"]):
            raise AdminError(409, "Job already finished", f"it already finished with {current['final']!r}.")
        if current["final"] is None and state is None:
            raise AdminError(
                409,
                "No final state",
                f'this job never ends by itself; say how: {{"state": one of {list(plugin.final_states)}}}.',
            )
        job = await jobs.finish(self._runtime, pid, job_id, state)
        if job is None:
            raise AdminError(404, "Unknown job", f"{pid} job {job_id!r} was evicted or reset meanwhile.")
        return job

    async def clock(self) -> dict[str, float]:
        return {
            "now": await self._runtime.now(),
            "offset": await self._store.clock_offset(),
            "time_scale": self._runtime.config.time_scale,
        }

    async def advance(self, seconds: float) -> dict[str, float]:
        """Move the mock clock forward: jobs progress, downloads expire, as if time had passed."""
        if (
            not isinstance(seconds, int | float)
            or isinstance(seconds, bool)
            or not 0 <= seconds <= MAX_CLOCK_OFFSET
        ):
            raise AdminError(
                400,
                "Bad clock call",
                f"advance must be a number of seconds from 0 to {MAX_CLOCK_OFFSET:.0f} (100 years), "
                f"got {cut(repr(seconds))}.",
            )
        offset = await self._store.clock_offset()
        if offset + seconds > MAX_CLOCK_OFFSET:
            raise AdminError(
                400,
                "Bad clock call",
                f"the clock is already {offset:.0f} s ahead; it goes at most {MAX_CLOCK_OFFSET:.0f} s "
                "(100 years) ahead of real time. POST /__mock/reset sets it back.",
            )
        await self._runtime.advance(float(seconds))
        return await self.clock()

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until no background work is due (jobs still to move on, webhook attempts still to make),
        whichever worker it falls to."""
        if not isinstance(timeout, int | float) or not (math.isfinite(timeout) and timeout >= 0):
            raise AdminError(400, "Bad timeout", "timeout must be a finite number of seconds >= 0.")
        try:
            await self._runtime.idle(timeout=timeout)
        except TimeoutError as exc:
            raise AdminError(409, "Still running", str(exc)) from None
        except ShuttingDown as exc:
            raise AdminError(503, "Shutting down", str(exc)) from None

    # webhooks ---------------------------------------------------------------------------------
    async def add_endpoint(
        self,
        url: str,
        *,
        provider: str | None = None,
        events: Sequence[str] | None = None,
        secret: str | None = None,
    ) -> Record:
        """Register a webhook endpoint: ``events`` None means all of the provider's events.

        ``provider`` may be left out when one served provider takes registered endpoints.
        """
        if provider is None:
            takers = [pid for pid, p in self._engine.providers.items() if p.webhook_events]
            if len(takers) != 1:
                raise AdminError(
                    400, "Bad endpoint", f"say which provider: one of {takers or 'none served'}."
                )
            provider = takers[0]
        if not isinstance(provider, str) or not provider:
            raise AdminError(400, "Bad endpoint", f"provider must be a provider id, got {provider!r}.")
        pid = self.provider(provider)
        known = self._engine.providers[pid].webhook_events
        if not known:
            raise AdminError(
                400,
                "Nothing to register",
                f"{pid} takes no registered webhook endpoints "
                "(its webhooks, if any, go where each request says).",
            )
        if not isinstance(url, str) or not url:
            raise AdminError(400, "Missing url", "The endpoint needs a string 'url'.")
        try:
            url, inline_secret = parse_endpoint(url)
        except ConfigError as exc:
            raise AdminError(400, "Bad endpoint", str(exc)) from None
        if inline_secret:
            raise AdminError(400, "Bad endpoint", "put the secret in `secret`, not after '#' in the URL.")
        if events is not None:
            if isinstance(events, str) or not events or not all(isinstance(e, str) for e in events):
                raise AdminError(
                    400,
                    "Bad endpoint",
                    f"events must be a non-empty list of names or null (all), got {events!r}.",
                )
            for event in events:
                if event not in known:
                    raise AdminError(400, "Unknown event", f"{event!r}.{did_you_mean(event, known)}")
            events = list(events)
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise AdminError(
                400, "Bad endpoint", "secret must be a non-empty string or null (the mock's default)."
            )
        secret = secret or self._engine.providers[pid].default_secret  # listed, so a receiver can verify
        return await self._store.endpoint_add(
            {"provider": pid, "url": url, "events": events, "secret": secret}
        )

    async def endpoints(self, provider: str | None = None) -> list[Record]:
        return await self._store.endpoints(self._optional_provider(provider))

    async def clear_endpoints(self) -> None:
        await self._store.endpoints_clear()

    async def deliveries(self, provider: str | None = None) -> list[Record]:
        return await self._store.deliveries(self._optional_provider(provider))

    async def reset(self) -> None:
        """Forget the journal, rules, defaults, jobs, webhooks, files, uploads and the clock offset."""
        await self._runtime.reset()
        await self._engine.latency.refresh(now=True)


def only(data: Mapping[str, Any], fields: Sequence[str], what: str) -> None:
    """Refuse fields a call does not take, suggesting the close ones."""
    unknown = sorted(set(data) - set(fields))
    if unknown:
        hints = " ".join(f"{name!r}.{did_you_mean(name, fields)}" for name in unknown)
        raise AdminError(400, f"Unknown {what} field", hints)
