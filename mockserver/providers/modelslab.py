"""ModelsLab: generations that answer at once or as ``processing`` jobs, fetched by id from the
fetch endpoint their spec links them to (v6, enterprise image editing, enterprise flux)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from headshot_mock import specs
from headshot_mock.mockserver import images, jobs
from headshot_mock.mockserver.errors import ConfigError
from headshot_mock.mockserver.jobs import Phase
from headshot_mock.mockserver.providers.base import Answer, Call, Provider
from headshot_mock.mockserver.runtime import Runtime
from headshot_mock.mockserver.targets import parse_url
from headshot_mock.mockserver.validation import Finding, cut
from headshot_mock.mockserver.webhooks import Outgoing

DEFAULT_SIDE = {"headShot": 512, "enterpriseHeadShot": 512}
"""Without width/height the face image's size is used; the mock takes 512 (head_shot) or 1024."""
GENERATION_SECONDS = 4.7
QUEUE_SECONDS = 10.0
EXPIRES_IN = 24 * 3600.0
"""Output links stop working after 24 hours (M1, M4)."""
FIRST_ID = 12_200_000
MAX_SAMPLES = 4
"""ModelsLab generates at most 4 images a request, whatever ``samples`` asks for."""


class Plugin(Provider):
    id: ClassVar[str] = "modelslab"
    final_states: ClassVar[tuple[str, ...]] = ("success", "failed")
    lifecycles: ClassVar[dict[str, str]] = {
        "stuck": "the job answers processing to every fetch and never completes",
    }
    job_scenarios: ClassVar[frozenset[str]] = frozenset({"processing", "failed", "stuck"})

    def __init__(self, spec: specs.ProviderSpec, runtime: Runtime) -> None:
        super().__init__(spec, runtime)
        # The spec links each generation to the fetch endpoint of its family (v6, enterprise, flux).
        self._fetch_of = {
            op.operation_id: spec.operation(op.links["FetchResult"])
            for op in spec.operations
            if "FetchResult" in op.links
        }

    async def refusals(self, operation_id: str, body: Any) -> list[Finding]:
        """A generation's webhook URL no request could reach, and sizes the mock cannot make."""
        if operation_id not in self._fetch_of or not isinstance(body, dict):
            return []
        found = []
        webhook = body.get("webhook")
        if isinstance(webhook, str) and webhook:
            try:
                parse_url(webhook)
            except ConfigError as exc:
                found.append(Finding("body", "webhook", str(exc), "lenient"))
        width, height = _sides(operation_id, body)
        if 1 <= width <= images.MAX_SIDE and 1 <= height <= images.MAX_SIDE:
            return found  # the common case, without the loop (a tenth of a plain request's plug-in)
        for name, side in (("width", width), ("height", height)):
            if not 1 <= side <= images.MAX_SIDE:
                shown = cut(json.dumps(body.get(name)))
                found.append(Finding("body", name, f"{shown} is outside 1..{images.MAX_SIDE}", "lenient"))
        return found

    async def _generate(self, call: Call) -> Answer:
        scenario = call.scenario
        job_like = scenario in ("processing", "failed", "stuck")
        if not job_like and not call.succeeds:
            return self.example_answer(call)
        body: dict[str, Any] = call.body  # refusals() vouched for its webhook and sizes
        width, height = _sides(call.operation_id, body)
        n = await self.runtime.number(self.id, "generation")
        job_id = str(FIRST_ID + n)
        seed = _int(body.get("seed"), 0) or images.seed_from(self.runtime.config.seed, self.id, n) % 2**32
        samples = min(MAX_SAMPLES, max(1, _int(body.get("samples"), 1)))
        if samples > 1 and (width, height) == (512, 768):
            samples = 1  # documented quirk: at 512x768 only one image, whatever samples says
        fetch_op = self._fetch_of[call.operation_id]
        links = []
        for i in range(samples):
            recipe = images.Recipe(images.seed_from(seed, body.get("prompt")), i, width, height, "png")
            path = await self.runtime.publish(
                recipe,
                name=f"{self.runtime.token('gen', n, length=32)}-{i}.png",
                provider=self.id,
                expires_in=EXPIRES_IN,
                job=job_id,
                when="success",
            )
            links.append(call.url(path))
        final = {"processing": "success", "failed": "failed", "stuck": None}.get(scenario, "success")
        phases = [Phase("processing", QUEUE_SECONDS)] if job_like else []
        job = jobs.new_job(
            job_id=job_id,
            provider=self.id,
            operation=call.operation_id,
            scenario=scenario,
            phases=phases,
            final=final,
            created_at=await self.runtime.now(),
            data={
                "fetch": fetch_op.operation_id,
                "output": links,
                "webhook": body.get("webhook"),
                "track_id": body.get("track_id"),
                "meta": _meta(body, width, height, samples, seed, self.runtime.token("prefix", n, length=32)),
            },
            stepwise=True,
        )
        meta = job["data"]["meta"]
        if job_like:
            await jobs.create(self.runtime, job, announce=bool(body.get("webhook")))
            fill = {
                "id": int(job_id),
                "fetch_result": self.operation_url(call, fetch_op.operation_id, id=job_id),
                "future_links": links,
                "eta": int(QUEUE_SECONDS),
                "meta": meta,
            }
            return self.example_answer(call, "processing", fill=fill)
        await self.runtime.sleep(GENERATION_SECONDS)
        await jobs.create(self.runtime, job, announce=bool(body.get("webhook")))
        fill = {
            "id": int(job_id),
            "output": links,
            "proxy_links": links,
            "generationTime": GENERATION_SECONDS,
            "meta": meta,
        }
        return self.example_answer(call, "success", fill=fill)

    async def _fetch(self, call: Call) -> Answer:
        if call.example is not None and call.example.name not in ("success", "processing", "failed"):
            return self.example_answer(call)
        job_id = call.path_params["id"]
        job = await self.runtime.store.job_get(self.id, job_id)
        if job is None or job["data"]["fetch"] != call.operation_id:
            return self.example_answer(call, "not_found")
        job = await jobs.poll(self.runtime, self.id, job_id)
        if job is None:  # evicted or reset between the two calls
            return self.example_answer(call, "not_found")
        state = job["state"]
        answer = self.example_answer(call, state if state in call.examples else "processing")
        answer.scenario = job["scenario"]  # X-Mock-Scenario names the job's scenario on every poll
        if state == "success":
            answer.body.update(id=int(job_id), output=job["data"]["output"])
        elif state == "failed":
            answer.body["id"] = int(job_id)
        return answer

    async def on_job_state(self, job: dict[str, Any], state: str) -> None:
        """ModelsLab POSTs the result to the request's ``webhook``, unsigned, once (M7)."""
        url = job["data"].get("webhook")
        if not url or state not in ("success", "failed"):
            return
        payload = self.webhook_example("generationResult", state)
        payload.update(id=int(job["id"]), track_id=job["data"].get("track_id"))
        if state == "success":
            payload.update(
                output=job["data"]["output"], generationTime=GENERATION_SECONDS, meta=job["data"]["meta"]
            )
        await self.runtime.webhooks.send(
            Outgoing(
                provider=self.id,
                event=f"generation.{state}",
                url=url,
                body=json.dumps(payload).encode(),
                headers={"content-type": "application/json"},
                attempts=1,  # generation webhooks are best-effort, never retried (M7)
                group=job["id"],
            )
        )

    on_headShot = _generate
    on_fluxHeadshot = _generate
    on_enterpriseHeadShot = _generate
    on_enterpriseFluxHeadshot = _generate
    on_enterpriseFluxHeadshotMakeGen = _generate
    on_fetchResult = _fetch
    on_enterpriseFetchResult = _fetch
    on_enterpriseFluxFetchResult = _fetch


def _sides(operation_id: str, body: dict[str, Any]) -> tuple[int, int]:
    """The width and height asked for (the operation's default side where absent)."""
    default = DEFAULT_SIDE.get(operation_id, 1024)
    width, height = body.get("width"), body.get("height")
    return (  # a number as most clients send it, without a call
        width if type(width) is int else _int(width, default),
        height if type(height) is int else _int(height, default),
    )


def _int(value: Any, default: int) -> int:
    """Numbers arrive as numbers or numeric strings (C7); the lenient schema vouched for them."""
    if type(value) is int:
        return value
    if value is None or value == "":
        return default
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):  # "1e400", 5,000 digits: no size the mock makes
        return -1


def _meta(
    body: dict[str, Any], width: int, height: int, samples: int, seed: int, prefix: str
) -> dict[str, Any]:
    """The ``meta`` echo, with ModelsLab's yes/no strings for booleans."""
    meta: dict[str, Any] = {
        "prompt": body.get("prompt", ""),
        "negative_prompt": body.get("negative_prompt") or "",
        "face_image": body.get("face_image", ""),
        "width": width,
        "height": height,
        "samples": samples,
        "base64": _yes_no(body.get("base64", False)),
        "safety_checker": _yes_no(body.get("safety_checker", False)),
        "seed": seed,
        "file_prefix": f"{prefix[:8]}-{prefix[8:12]}-{prefix[12:16]}-{prefix[16:20]}-{prefix[20:]}",
        "outdir": "out",
        "temp": "no",
    }
    for key in ("guidance_scale", "num_inference_steps", "safety_checker_type"):
        if body.get(key) is not None:
            meta[key] = body[key]
    return meta


def _yes_no(value: Any) -> str:
    return "yes" if str(value).lower() in ("true", "1", "yes") else "no"
