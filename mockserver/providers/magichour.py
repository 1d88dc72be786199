"""Magic Hour: upload → create → poll → download, one project job per headshot, credits
charged at creation and refunded on error."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from headshot_mock import specs
from headshot_mock.mockserver import images, jobs
from headshot_mock.mockserver.config import parse_endpoint
from headshot_mock.mockserver.jobs import Phase
from headshot_mock.mockserver.providers.base import Answer, Call, Provider
from headshot_mock.mockserver.runtime import Runtime, iso
from headshot_mock.mockserver.signing import magichour_headers
from headshot_mock.mockserver.validation import Finding
from headshot_mock.mockserver.webhooks import Outgoing

CREDITS = 50
"""Credits per headshot (H9, H1; C23)."""
UPLOAD_TTL = 3600.0
DOWNLOAD_TTL = 24 * 3600.0
"""Download URLs expire after 24 hours (H14)."""
PHASES = (Phase("queued", 2.0), Phase("rendering", 12.0))
"""Median end to end is 14 s (H9)."""
LONG_SIDE = 1344
"""Headshots are capped at 1344 px on the long side (H9)."""
EXTENSIONS = {
    "image": {"png", "jpg", "jpeg", "jfif", "heic", "heif", "webp", "avif", "jp2", "tiff", "tif", "bmp"},
    "video": {"mp4", "m4v", "mov", "webm"},
    "audio": {"mp3", "wav", "aac", "flac", "webm", "weba", "m4a", "opus", "ogg", "oga", "aiff", "amr"},
}
# scenario -> (final state, error object or None, stepwise)
LIFECYCLES: dict[str, tuple[str | None, dict[str, str] | None, bool]] = {
    "success": ("complete", None, False),
    "processing": ("complete", None, True),
    "no_face": (
        "error",
        {"code": "no_source_face", "message": "Please use an image with a detectable face"},
        True,
    ),
    "error": (
        "error",
        {"code": "unknown_error", "message": "Something went wrong while rendering the headshot"},
        True,
    ),
    "canceled": ("canceled", None, True),
    "stuck": (None, None, True),
}
EVENTS = {"rendering": "image.started", "complete": "image.completed", "error": "image.errored"}
"""Image events (H6); a canceled project fires none."""
WEBHOOK_ATTEMPTS = 8
"""Non-2xx deliveries are retried with exponential backoff (for up to 24 h at the provider, H4)."""
STATE_EXAMPLE = {
    "queued": "queued",
    "rendering": "processing",
    "complete": "success",
    "error": "no_face",
    "canceled": "canceled",
}


class Plugin(Provider):
    id: ClassVar[str] = "magichour"

    def __init__(self, spec: specs.ProviderSpec, runtime: Runtime) -> None:
        super().__init__(spec, runtime)
        self._configured = [parse_endpoint(text) for text in runtime.config.webhooks]

    webhook_events: ClassVar[tuple[str, ...]] = tuple(EVENTS.values())
    job_scenarios: ClassVar[frozenset[str]] = frozenset(LIFECYCLES) - {"success"}
    final_states: ClassVar[tuple[str, ...]] = ("complete", "error", "canceled")
    webhook_headers = staticmethod(magichour_headers)
    lifecycles: ClassVar[dict[str, str]] = {
        "error": "the project ends with status error (error object unknown_error), credits refunded",
        "stuck": "the project stays queued/rendering forever",
    }

    async def on_createUploadUrls(self, call: Call) -> Answer:
        if not call.succeeds:
            return self.example_answer(call)
        now = await self.runtime.now()
        items = []
        for i, item in enumerate(call.body["items"]):
            if item["extension"] not in EXTENSIONS[item["type"]]:
                return self.example_answer(call, "unprocessable")
            asset = f"cm{self.runtime.token('asset', await self.runtime.number(self.id, 'asset'), length=23)}"
            path = f"api-assets/{asset}/{i}.{item['extension']}"
            url = self.operation_url(call, "uploadAsset", asset_id=asset, filename=f"{i}.{item['extension']}")
            items.append(
                {
                    "upload_url": f"{url}?auth-value={self._signature(path)}",
                    "expires_at": iso(now + UPLOAD_TTL),
                    "file_path": path,
                }
            )
        answer = self.example_answer(call)
        answer.body["items"] = items
        return answer

    async def on_uploadAsset(self, call: Call) -> Answer:
        path = f"api-assets/{call.path_params['asset_id']}/{call.path_params['filename']}"
        if call.query.get("auth-value") != self._signature(path):
            return self.example_answer(call, "forbidden")
        data = call.body if isinstance(call.body, bytes) else b""
        await self.runtime.store.upload_put(path, data, {"size": len(data)}, ttl=UPLOAD_TTL)
        return self.example_answer(call, "success")

    async def refusals(self, operation_id: str, body: Any) -> list[Finding]:
        """An image that is neither an http(s) URL nor a completed upload (the schema says only
        a string), saying so when the mock evicted the upload."""
        if operation_id != "createAiHeadshot" or not isinstance(body, dict):
            return []
        assets = body.get("assets")
        source = assets.get("image_file_path") if isinstance(assets, dict) else None
        if not isinstance(source, str) or source.startswith(("http://", "https://")):
            return []
        store = self.runtime.store
        if source.startswith("api-assets/") and await store.upload_exists(source):
            return []
        if source.startswith("api-assets/") and await store.upload_evicted(source):
            message = (
                f"{source!r} was uploaded but the mock has since evicted it to stay within its upload "
                "limits (uploads_limit, uploads_max_bytes); upload it again or raise those limits"
            )
        else:
            message = f"{source!r} is neither an http(s) URL nor the file_path of a completed upload"
        return [Finding("body", "assets.image_file_path", message, "lenient")]

    async def on_createAiHeadshot(self, call: Call) -> Answer:
        scenario = call.scenario
        if scenario not in LIFECYCLES and not call.succeeds:
            return self.example_answer(call)
        final, error, stepwise = LIFECYCLES.get(scenario, LIFECYCLES["success"])
        n = await self.runtime.number(self.id, "project")
        project_id = f"cm{self.runtime.token('project', n, length=23)}"
        now = await self.runtime.now()
        job = jobs.new_job(
            job_id=project_id,
            provider=self.id,
            operation=call.operation_id,
            scenario=scenario,
            phases=list(PHASES),
            final=final,
            created_at=now,
            data={
                "name": call.body.get("name") or f"Ai Headshot - {iso(now)}",
                "error": error,
                "n": n,
                "base_url": call.base_url,
            },
            stepwise=stepwise,
        )
        await jobs.create(self.runtime, job)
        fill = {"id": project_id, "credits_charged": CREDITS, "frame_cost": CREDITS}
        return self.example_answer(call, "success", fill=fill)

    async def on_getImageProject(self, call: Call) -> Answer:
        if call.example is not None and call.example.name not in STATE_EXAMPLE.values():
            return self.example_answer(call)
        job = await jobs.poll(self.runtime, self.id, call.path_params["id"])
        if job is None:
            return self.example_answer(call, "not_found")
        answer = self.example_answer(call, "success")
        answer.body = await self._project(job)
        answer.scenario = job["scenario"]  # X-Mock-Scenario names the job's scenario on every poll
        return answer

    async def on_deleteImageProject(self, call: Call) -> Answer:
        if call.example is not None and call.example.name != "success":
            return self.example_answer(call)
        if await jobs.delete(self.runtime, self.id, call.path_params["id"]) is None:
            return self.example_answer(call, "not_found")
        return self.example_answer(call, "success")

    async def _project(self, job: dict[str, Any]) -> dict[str, Any]:
        """The image project as GET /v1/image-projects/{id} (and every webhook) shows it."""
        state = job["state"]
        project: dict[str, Any] = self.example_answer_body("getImageProject", STATE_EXAMPLE[state])
        charged = 0 if state in ("error", "canceled") else CREDITS
        downloads = []
        if state == "complete" and not job.get("deleted"):
            finished = job["finished_at"] or await self.runtime.now()
            recipe = images.Recipe(
                images.seed_from(self.runtime.config.seed, self.id, job["data"]["n"]),
                0,
                LONG_SIDE * 3 // 4,
                LONG_SIDE,
                "png",
            )
            expires_in = finished + DOWNLOAD_TTL - await self.runtime.now()
            path = await self.runtime.publish(
                recipe,
                name=f"{job['id']}-0.png",
                provider=self.id,
                expires_in=expires_in,
                job=job["id"],
                when="complete",
            )
            downloads.append(
                {"url": job["data"]["base_url"] + path, "expires_at": iso(finished + DOWNLOAD_TTL)}
            )
        project.update(
            id=job["id"],
            name=job["data"]["name"],
            status=state,
            image_count=len(downloads),
            created_at=iso(job["created_at"]),
            enabled=not job.get("deleted", False),
            credits_charged=charged,
            total_frame_cost=charged,
            downloads=downloads,
            error=(job["data"]["error"] or LIFECYCLES["error"][1]) if state == "error" else None,
        )
        return project

    async def on_job_state(self, job: dict[str, Any], state: str) -> None:
        """Signed ``image.*`` events to every registered endpoint that wants them (H4, H6)."""
        event = EVENTS.get(state)
        if event is None:
            return
        endpoints = [
            *({"url": url, "secret": secret, "events": None} for url, secret in self._configured),
            *await self.runtime.store.endpoints(self.id),
        ]
        if not endpoints:
            return
        job = {**job, "state": state}
        body = json.dumps({"type": event, "payload": await self._project(job)}).encode()
        now = int(await self.runtime.now())
        for number, endpoint in enumerate(endpoints):
            if endpoint["events"] is not None and event not in endpoint["events"]:
                continue
            secret = endpoint["secret"] or self.default_secret
            await self.runtime.webhooks.send(
                Outgoing(
                    provider=self.id,
                    event=event,
                    url=endpoint["url"],
                    body=body,
                    headers={"content-type": "application/json", **self.webhook_headers(secret, now, body)},
                    attempts=WEBHOOK_ATTEMPTS,
                    group=job["id"],
                    last=state != "rendering",
                    key=f"{endpoint.get('id', 'configured')}:{number}:{endpoint['url']}",
                )
            )

    def _signature(self, path: str) -> str:
        return self.runtime.token("upload", path, length=16)
