"""Async jobs: one lifecycle per job id, in the provider's own vocabulary.

A job walks through ``phases`` (each a state and a provider-realistic duration) to its ``final``
state (None: never, the ``stuck`` scenario). Its state at any moment is the phase the scaled
clock has reached. A *stepwise* job (the ``processing`` scenarios) also never lets a poll skip a
phase no poll has seen yet: at ``time_scale`` 0 the first poll sees the first phase, the next
the second, and so on, so every state a client can observe is observed. Jobs are plain dicts
kept in the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mockserver.runtime import Runtime

Job = dict[str, Any]


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
        "finished_at": None,
        "done": not phases and final is not None,
        "data": data,
    }


def state_at(job: Job, now: float, time_scale: float, *, polls: int) -> str:
    """The state a poll sees, given how many polls came before it."""
    if job["done"]:
        return str(job["final"])
    elapsed = now - job["created_at"]
    reached, edge = 0, 0.0
    for phase in job["phases"]:
        edge += phase["seconds"] * time_scale
        if elapsed < edge:
            break
        reached += 1
    if job["stepwise"]:
        reached = min(reached, polls)
    if reached >= len(job["phases"]):
        return str(job["final"]) if job["final"] is not None else str(job["phases"][-1]["state"])
    return str(job["phases"][reached]["state"])


async def poll(runtime: Runtime, provider: str, job_id: str) -> Job | None:
    """Look a job up as a client's poll does: advances it and records that it was seen."""
    job = await runtime.store.job_get(provider, job_id)
    if job is None:
        return None
    now = await runtime.now()
    state = state_at(job, now, runtime.config.time_scale, polls=job["polls"])
    job["polls"] += 1
    job["state"] = state
    if state == job["final"] and not job["done"]:
        job["done"] = True
        job["finished_at"] = now
    await runtime.store.job_put(provider, job_id, job)
    return job


async def finish(runtime: Runtime, provider: str, job_id: str, final: str | None = None) -> Job | None:
    """End a job now (tests, the admin API): its final state, or ``final`` instead."""
    job = await runtime.store.job_get(provider, job_id)
    if job is None:
        return None
    if final is not None:
        job["final"] = final
    if job["final"] is None:
        return job
    job["done"] = True
    job["state"] = job["final"]
    job["finished_at"] = await runtime.now()
    await runtime.store.job_put(provider, job_id, job)
    return job
