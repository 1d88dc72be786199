"""Async jobs: one lifecycle per job id, in the provider's own vocabulary.

A job walks through ``phases`` (each a state and a provider-realistic duration) to its ``final``
state (None: never, the ``stuck`` scenario). Two views of it:

- **what happened** — a driver task follows the scaled clock, marks the job ``done`` when its
  final state is reached and tells the plug-in about every state it enters (webhooks fire from
  there). Advancing the mock clock, or finishing the job from the admin API, moves it on.
- **what a poll sees** — the phase the clock has reached; a *stepwise* job (the ``processing``
  scenarios) never lets a poll skip a phase no poll has seen yet, so at ``time_scale`` 0 the first
  poll sees the first phase, the next the second, and so on: every state a client can observe
  is observed, however fast the job really ran.

Jobs are plain dicts kept in the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from headshot_mock.mockserver.runtime import Runtime

Job = dict[str, Any]
OnState = Callable[[Job, str], Awaitable[None]]
"""Called by the driver with the job and each state it enters (the final one included)."""


@dataclass(frozen=True, slots=True)
class Phase:
    state: str
    seconds: float


def new_job(
    *,
    job_id: str,
    provider: str,
    operation: str,
    scenario: str,
    phases: list[Phase],
    final: str | None,
    created_at: float,
    data: dict[str, Any],
    stepwise: bool = False,
) -> Job:
    return {
        "id": job_id,
        "provider": provider,
        "operation": operation,
        "scenario": scenario,
        "phases": [{"state": p.state, "seconds": p.seconds} for p in phases],
        "final": final,
        "created_at": created_at,
        "polls": 0,
        "stepwise": stepwise,
        "forced": False,
        "done": not phases and final is not None,
        "finished_at": created_at if not phases and final is not None else None,
        "state": phases[0].state if phases else final,
        "data": data,
    }


def reached(job: Job, now: float, time_scale: float) -> int:
    """How many phases the scaled clock has carried the job through."""
    elapsed = now - job["created_at"]
    count, edge = 0, 0.0
    for phase in job["phases"]:
        edge += phase["seconds"] * time_scale
        if elapsed < edge:
            break
        count += 1
    return count


def _state(job: Job, index: int) -> str:
    if index >= len(job["phases"]):
        return str(job["final"]) if job["final"] is not None else str(job["phases"][-1]["state"])
    return str(job["phases"][index]["state"])


def seen_by_poll(job: Job, now: float, time_scale: float) -> str:
    """The state the next poll sees."""
    if job["forced"]:
        return _state(job, len(job["phases"]))
    index = reached(job, now, time_scale)
    if job["stepwise"]:
        index = min(index, job["polls"])
    return _state(job, index)


async def create(runtime: Runtime, job: Job, on_state: OnState) -> None:
    """Store a new job and, when it has somewhere to go, start its driver."""
    await runtime.store.job_put(job["provider"], job["id"], job)
    if job["done"]:
        await on_state(job, str(job["final"]))
    else:
        runtime.spawn(_drive(runtime, job["provider"], job["id"], on_state))


async def _drive(runtime: Runtime, provider: str, job_id: str, on_state: OnState) -> None:
    job = await runtime.store.job_get(provider, job_id)
    if job is None:
        return
    await on_state(job, _state(job, 0))
    announced = 0
    ends = len(job["phases"]) if job["final"] is not None else len(job["phases"]) - 1
    while announced < ends:
        job = await runtime.store.job_get(provider, job_id)
        if job is None or job["done"]:
            return
        index = reached(job, await runtime.now(), runtime.config.time_scale)
        if index > announced:
            announced += 1  # every state in order, even when the clock jumped past several
            if announced >= len(job["phases"]):
                await _finish(runtime, job, on_state)
                return
            await on_state(job, _state(job, announced))
            continue
        await runtime.tick()


async def _finish(runtime: Runtime, job: Job, on_state: OnState) -> None:
    job["done"] = True
    job["state"] = job["final"]
    job["finished_at"] = await runtime.now()
    await runtime.store.job_put(job["provider"], job["id"], job)
    await on_state(job, str(job["final"]))


async def poll(runtime: Runtime, provider: str, job_id: str) -> Job | None:
    """Look a job up as a client's poll does: its ``state`` is what this poll sees."""
    job = await runtime.store.job_get(provider, job_id)
    if job is None:
        return None
    job["state"] = seen_by_poll(job, await runtime.now(), runtime.config.time_scale)
    job["polls"] += 1
    await runtime.store.job_put(provider, job_id, job)
    return job


async def finish(
    runtime: Runtime, provider: str, job_id: str, on_state: OnState, final: str | None = None
) -> Job | None:
    """End a job now (tests, the admin API): its own final state, or ``final`` instead."""
    job = await runtime.store.job_get(provider, job_id)
    if job is None:
        return None
    if final is not None:
        job["final"] = final
    if job["final"] is None or job["done"]:
        return job
    job["forced"] = True
    await _finish(runtime, job, on_state)
    return job
