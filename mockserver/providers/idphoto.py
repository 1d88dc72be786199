"""idphoto.ai generate-portrait: synchronous, data-URI images in and out, and a seed that makes
a style repeatable: the same prompt and seed give the same bytes, whoever is in the photo."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from typing import Any, ClassVar

from headshot_mock.mockserver import images
from headshot_mock.mockserver.providers.base import Answer, Call, Provider
from headshot_mock.mockserver.validation import Finding

_DATA_URI = re.compile(r"^data:image/[a-z0-9.+-]+;base64,(?P<data>.*)$", re.DOTALL)
# No timing is published (C20); PuLID-class generation takes seconds per image.
BASE_SECONDS = 4.0
SECONDS_PER_IMAGE = 3.0


class Plugin(Provider):
    id: ClassVar[str] = "idphoto"

    async def refusals(self, operation_id: str, body: Any) -> list[Finding]:
        """Input images that are not data URIs of valid base64 (the schema says only strings)."""
        if operation_id != "generatePortrait" or not isinstance(body, dict):
            return []
        images_in = body.get("inputImages") or ()
        found = (_data_uri_finding(item, f"inputImages[{i}]") for i, item in enumerate(images_in))
        return [finding for finding in found if finding is not None]

    async def on_generatePortrait(self, call: Call) -> Answer:
        if not call.succeeds:
            return self.example_answer(call)
        body: dict[str, Any] = call.body
        samples = int(body.get("sampleNumber", 1))
        width = int(body.get("outputImageWidth", 768))
        height = int(body.get("outputImageHeight", 1024))
        seed = _seed(body.get("seed", -1))
        if seed <= 0:  # -1 (the default) means random: random from the server seed, so runs repeat
            seed = images.seed_from(
                self.runtime.config.seed, "idphoto", await self.runtime.number(self.id, "random")
            )
        await self.runtime.sleep(BASE_SECONDS + SECONDS_PER_IMAGE * samples)
        prompt = str(body.get("prompt", ""))
        style = images.seed_from("idphoto", prompt, seed)
        answer = self.example_answer(call)
        answer.body["outputImages"] = list(
            await asyncio.gather(
                *(images.data_uri(images.Recipe(style, i, width, height, "jpeg")) for i in range(samples))
            )
        )
        return answer


def _seed(value: Any) -> int:
    """The seed as a number; one of more digits than ``int()`` takes (4,300) is hashed instead,
    so it still gives the same bytes every time."""
    try:
        return int(value)
    except ValueError:
        return images.seed_from("idphoto-seed", str(value))


def _data_uri_finding(value: Any, field: str) -> Finding | None:
    match = _DATA_URI.match(value) if isinstance(value, str) else None
    if match is None:
        return Finding("body", field, "must be a data URI: data:image/<type>;base64,<data>", "lenient")
    try:
        base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError):
        return Finding("body", field, "holds data that is not valid base64", "lenient")
    return None
