"""Async jobs as data: stored facts plus the shared clock; what anyone sees is computed.

A job walks through ``phases`` (each a state and a provider-realistic duration) to its ``final``
state (None: never, the ``stuck`` scenario). The store keeps only facts — when it was created,
its phases, how many polls it had, whether (and when) it was finished by hand, whether it was
deleted — and every change to them is one atomic store operation (a poll counts itself; a finish
is a compare-and-set). Two views are computed from them:

- **what happened** — the phase the scaled mock clock has reached; the job is ``done`` once its
  final state is reached (or it was finished by hand). Advancing the clock moves every job on.
- **what a poll sees** — the same, except that a *stepwise* job (the ``processing`` scenarios)
  never lets a poll skip a phase no poll has seen yet: at ``time_scale`` 0 the first poll sees
  the first phase, the next the second, and so on.

Entering a state is also an *event* for the plug-in (webhooks fire from there): each job keeps
one item in the store's due index, for the next state it enters; whichever worker claims it
tells the plug-in, then schedules the next (:func:`on_due`). No task per job, no callable in a
record: the plug-in is found from ``job["provider"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headshot_mock.mockserver.runtime import Runtime
from headshot_mock.mockserver.stores import Due

if TYPE_CHECKING:
    from headshot_mock.mockserver.providers.base import Provider

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
    phases: Sequence[Phase],
    final: str | None,
    created_at: float,
    data: dict[str, Any],
    stepwise: bool = False,
) -> Job:
    """The facts of a new job (as stored)."""
    return {
        "id": job_id,
        "provider": provider,
        "operation": operation,
        "scenario": scenario,
        "phases": [{"state": p.state, "seconds": p.seconds} for p in phases],
        "final": final,
        "created_at": created_at,
        "stepwise": stepwise,
        "data": data,
        "polls": 0,
        "forced": False,
        "forced_at": None,
        "deleted": False,
    }


# -- computed views -------------------------------------------------------------------------------
def _edge(job: Job, index: int, time_scale: float) -> float:
    """Mock time the job enters state ``index`` (``len(phases)``: its final state)."""
    seconds: float = sum(p["seconds"] for p in job["phases"][:index])
    return float(job["created_at"]) + seconds * time_scale


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


def is_done(job: Job, now: float, time_scale: float) -> bool:
    if job["forced"]:
        return True
    return job["final"] is not None and reached(job, now, time_scale) >= len(job["phases"])


def state_at(job: Job, now: float, time_scale: float) -> str:
    """What happened: the state the clock has carried the job to."""
    if job["forced"]:
        return _state(job, len(job["phases"]))
    return _state(job, reached(job, now, time_scale))


def seen_by_poll(job: Job, now: float, time_scale: float, polls: int) -> str:
    """The state a poll sees after ``polls`` earlier polls."""
    if job["forced"]:
        return _state(job, len(job["phases"]))
    index = reached(job, now, time_scale)
    if job["stepwise"]:
        index = min(index, polls)
    return _state(job, index)


def view(job: Job, now: float, time_scale: float, state: str | None = None) -> Job:
    """The job as plug-ins, the admin API and files see it: its facts plus ``done``,
    ``finished_at`` and ``state`` (``state`` given: what a poll or an event sees)."""
    done = is_done(job, now, time_scale)
    finished_at = None
    if job["forced"]:
        finished_at = job["forced_at"]
    elif done:
        finished_at = _edge(job, len(job["phases"]), time_scale)
    return {**job, "done": done, "finished_at": finished_at, "state": state or state_at(job, now, time_scale)}


# -- transitions (each one store operation) ---------------------------------------------------------
def _due(job: Job, step: int, time_scale: float) -> Due:
    return Due("job", job["provider"], job["id"], step, _edge(job, step, time_scale))


async def create(runtime: Runtime, job: Job, *, announce: bool = True) -> None:
    """Store a new job with its first event (entering its first state) due now.

    ``announce=False``: nobody listens to this job's states (no webhook to send), so no event is
    scheduled at all; what polls and files see is computed all the same."""
    if not announce:
        await runtime.store.job_create(job)
        return
    await runtime.store.job_create(job, [_due(job, 0, runtime.config.time_scale)])
    runtime.wake()


async def get(runtime: Runtime, provider: str, job_id: str) -> Job | None:
    job = await runtime.store.job_get(provider, job_id)
    return None if job is None else view(job, await runtime.now(), runtime.config.time_scale)


async def listing(runtime: Runtime, provider: str | None = None) -> list[Job]:
    now, scale = await runtime.now(), runtime.config.time_scale
    return [view(job, now, scale) for job in await runtime.store.jobs(provider)]


async def poll(runtime: Runtime, provider: str, job_id: str) -> Job | None:
    """Look a job up as a client's poll does (the poll is counted): ``state`` is what it sees."""
    job = await runtime.store.job_poll(provider, job_id)
    if job is None:
        return None
    now, scale = await runtime.now(), runtime.config.time_scale
    return view(job, now, scale, seen_by_poll(job, now, scale, job["polls"] - 1))


async def delete(runtime: Runtime, provider: str, job_id: str) -> Job | None:
    job, _ = await runtime.store.job_update(provider, job_id, {"deleted": True})
    return None if job is None else view(job, await runtime.now(), runtime.config.time_scale)


async def finish(runtime: Runtime, provider: str, job_id: str, final: str | None = None) -> Job | None:
    """End a job now (tests, the admin API): its own final state, or ``final`` instead.

    A job already done stays as it is. The finish is a compare-and-set, so two workers finishing
    one job at once end it once; its final event (webhooks) is due at once."""
    job = await runtime.store.job_get(provider, job_id)
    if job is None:
        return None
    now, scale = await runtime.now(), runtime.config.time_scale
    final = final if final is not None else job["final"]
    if final is None or is_done(job, now, scale):
        return view(job, now, scale)
    changes = {"forced": True, "forced_at": now, "final": final}
    job, changed = await runtime.store.job_update(provider, job_id, changes, expect={"forced": False})
    if job is None:
        return None
    if changed:
        # The final event is due now; so are the earlier ones still scheduled (their handler
        # drops them), so that nothing keeps waiting on a clock the job no longer follows.
        steps = range(len(job["phases"]) + 1)
        await runtime.store.due_add([Due("job", provider, job_id, step, now) for step in steps])
        runtime.wake()
    return view(job, now, scale)


async def on_due(runtime: Runtime, plugin: Provider, item: Due) -> list[Due]:
    """A job entered state ``item.step``: tell its plug-in, and say when the next one is due."""
    job = await runtime.store.job_get(item.provider, item.ref)
    ends = len(job["phases"]) if job is not None else 0
    if job is None or (job["forced"] and item.step < ends):
        return []  # gone (evicted, reset), or finished by hand: its final event is its own item
    scale = runtime.config.time_scale
    state = _state(job, item.step)
    await plugin.on_job_state(view(job, await runtime.now(), scale, state), state)
    last = ends if job["final"] is not None else ends - 1
    return [] if job["forced"] or item.step >= last else [_due(job, item.step + 1, scale)]
