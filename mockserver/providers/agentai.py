"""agent.ai HS1: synchronous generation, images served from URLs on the mock. Its rate limits
(20 a minute with ``ratelimit-*`` headers on every answer, 1000 a day) are data in its spec."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from headshot_mock.mockserver import images
from headshot_mock.mockserver.providers.base import Answer, Call, Provider, Rejected
from headshot_mock.mockserver.validation import Finding

LONG_SIDE = {"standard": 1024, "high": 2048}
SECONDS_PER_IMAGE = {"standard": 15.0, "high": 30.0}
MAX_PHOTOS = 3


class Plugin(Provider):
    id: ClassVar[str] = "agentai"

    async def on_instantHeadshotRunHeadshotGeneration(self, call: Call) -> Answer:
        if not call.succeeds:
            return self.example_answer(call)
        body: dict[str, Any] = call.body
        _photos(body.get("photos_json"))
        count = int(body.get("count", 1))
        quality = str(body.get("quality", "standard"))
        width, height = images.fit(LONG_SIDE.get(quality, 1024), str(body.get("aspect_ratio", "1:1")))
        run = await self.runtime.number(self.id, "run")
        run_id = f"run_{self.runtime.token('run', run, length=16)}"
        await self.runtime.sleep(SECONDS_PER_IMAGE.get(quality, 15.0) * count)
        found = []
        for i in range(count):
            recipe = images.Recipe(
                images.seed_from(self.runtime.config.seed, "agentai", run, i), i, width, height, "png"
            )
            path = await self.runtime.publish(
                recipe, name=f"{run_id}-{i}.png", provider=self.id, expires_in=None
            )
            found.append(
                {"url": call.url(path), "mime_type": recipe.media_type, "width": width, "height": height}
            )
        answer = self.example_answer(call)
        answer.body["response"] = {"images": found, "run_id": run_id}
        return answer


def _photos(raw: Any) -> list[dict[str, Any]]:
    """``photos_json`` is a JSON string holding ``[{"base64": ..., "mimeType": ...}]``, 1 to 3."""

    def refuse(message: str) -> Rejected:
        return Rejected(Finding("body", "photos_json", message, "lenient"))

    try:
        photos = json.loads(raw) if isinstance(raw, str) else None
    except ValueError as exc:
        raise refuse(f"is not a JSON string: {exc}") from None
    if not isinstance(photos, list) or not photos:
        raise refuse('must be a JSON array of {"base64": ..., "mimeType": ...} objects')
    if len(photos) > MAX_PHOTOS:
        raise refuse(f"holds {len(photos)} photos; at most {MAX_PHOTOS} are used")
    for i, photo in enumerate(photos):
        if not isinstance(photo, dict) or not isinstance(photo.get("base64"), str) or not photo["base64"]:
            raise refuse(f'item {i} needs a non-empty "base64" string')
    return photos
