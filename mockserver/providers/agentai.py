"""agent.ai HS1: synchronous generation, images served from URLs on the mock. Its rate limits
(20 a minute with ``ratelimit-*`` headers on every answer, 1000 a day) are data in its spec."""

from __future__ import annotations

from typing import Any, ClassVar

from headshot_mock.mockserver import images
from headshot_mock.mockserver.providers.base import Answer, Call, Provider
from headshot_mock.mockserver.validation import Finding, parse_json

LONG_SIDE = {"standard": 1024, "high": 2048}
SECONDS_PER_IMAGE = {"standard": 15.0, "high": 30.0}
MAX_PHOTOS = 3


class Plugin(Provider):
    id: ClassVar[str] = "agentai"

    async def refusals(self, operation_id: str, body: Any) -> list[Finding]:
        """A ``photos_json`` that is not the JSON string of 1 to 3 photos (the schema: a string)."""
        if operation_id != "instantHeadshotRunHeadshotGeneration" or not isinstance(body, dict):
            return []
        problem = _photos_problem(body.get("photos_json"))
        return [] if problem is None else [Finding("body", "photos_json", problem, "lenient")]

    async def on_instantHeadshotRunHeadshotGeneration(self, call: Call) -> Answer:
        if not call.succeeds:
            return self.example_answer(call)
        body: dict[str, Any] = call.body
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


def _photos_problem(raw: Any) -> str | None:
    """What is wrong with ``photos_json``, a JSON string holding ``[{"base64": ..., "mimeType":
    ...}]``, 1 to 3 (None: nothing)."""
    if not isinstance(raw, str):
        return 'must be a JSON array of {"base64": ..., "mimeType": ...} objects'
    photos, malformed = parse_json(raw)  # the providers' parser: depth, NaN and digits bounded
    if malformed is not None:
        return f"does not hold valid JSON ({malformed.message})"
    if not isinstance(photos, list) or not photos:
        return 'must be a JSON array of {"base64": ..., "mimeType": ...} objects'
    if len(photos) > MAX_PHOTOS:
        return f"holds {len(photos)} photos; at most {MAX_PHOTOS} are used"
    for i, photo in enumerate(photos):
        if not isinstance(photo, dict) or not isinstance(photo.get("base64"), str) or not photo["base64"]:
            return f'item {i} needs a non-empty "base64" string'
    return None
