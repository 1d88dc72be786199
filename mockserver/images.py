"""Real, decodable, deterministic images: the same recipe always gives the same bytes.

A recipe is (seed, index, width, height, format). The picture is a simple head-and-shoulders
silhouette on a gradient whose colours, pose and framing come from the seed, so two seeds give
visibly different images and a viewer can tell one variation from the next.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import random
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageDraw

Format = Literal["png", "jpeg"]
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg"}
MAX_SIDE = 4096


@dataclass(frozen=True, slots=True)
class Recipe:
    seed: int
    index: int
    width: int
    height: int
    format: Format = "png"

    def __post_init__(self) -> None:
        if not (1 <= self.width <= MAX_SIDE and 1 <= self.height <= MAX_SIDE):
            raise ValueError(f"image size {self.width}x{self.height} is outside 1..{MAX_SIDE}")
        if self.format not in MEDIA_TYPES:
            raise ValueError(f"image format {self.format!r} is not one of {sorted(MEDIA_TYPES)}")

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def extension(self) -> str:
        return "jpg" if self.format == "jpeg" else "png"

    def as_dict(self) -> dict[str, int | str]:
        return {
            "seed": self.seed,
            "index": self.index,
            "width": self.width,
            "height": self.height,
            "format": self.format,
        }


def seed_from(*parts: object) -> int:
    """A stable 63-bit seed from any parts (prompt text, a user seed, a counter)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def render(recipe: Recipe) -> bytes:
    """The encoded image (cached: the last 64 recipes are kept)."""
    return _render(recipe)


def data_uri(recipe: Recipe) -> str:
    return f"data:{recipe.media_type};base64,{base64.b64encode(render(recipe)).decode()}"


def fit(long_side: int, aspect_ratio: str) -> tuple[int, int]:
    """Width and height with ``long_side`` on the longer edge, for an ``"W:H"`` ratio."""
    w, h = (int(x) for x in aspect_ratio.split(":"))
    if w >= h:
        return long_side, max(1, round(long_side * h / w))
    return max(1, round(long_side * w / h)), long_side


@functools.lru_cache(maxsize=64)
def _render(recipe: Recipe) -> bytes:
    rng = random.Random(recipe.seed * 1009 + recipe.index)
    w, h = recipe.width, recipe.height
    top = tuple(rng.randrange(40, 220) for _ in range(3))
    bottom = tuple(rng.randrange(20, 200) for _ in range(3))
    image = Image.linear_gradient("L").resize((w, h))
    image = Image.merge(
        "RGB",
        [image.point(lambda v, a=a, b=b: a + (b - a) * v // 255) for a, b in zip(top, bottom, strict=True)],
    )
    draw = ImageDraw.Draw(image)
    unit = min(w, h)
    cx = w / 2 + (recipe.index % 3 - 1) * unit * 0.06 + rng.uniform(-0.03, 0.03) * unit
    head_w, head_h = unit * rng.uniform(0.26, 0.32), unit * rng.uniform(0.34, 0.40)
    cy = h * 0.42
    skin = (rng.randrange(120, 240), rng.randrange(90, 200), rng.randrange(70, 170))
    suit = tuple(rng.randrange(10, 90) for _ in range(3))
    draw.rectangle([cx - head_w * 0.22, cy + head_h * 0.3, cx + head_w * 0.22, cy + head_h * 0.75], fill=skin)
    draw.ellipse([cx - unit * 0.45, cy + head_h * 0.55, cx + unit * 0.45, cy + head_h * 2.2], fill=suit)
    draw.ellipse([cx - head_w / 2, cy - head_h / 2, cx + head_w / 2, cy + head_h / 2], fill=skin)
    hair = tuple(rng.randrange(10, 120) for _ in range(3))
    draw.chord([cx - head_w / 2, cy - head_h / 2, cx + head_w / 2, cy + head_h * 0.1], 180, 360, fill=hair)
    out = io.BytesIO()
    if recipe.format == "jpeg":
        image.save(out, "JPEG", quality=85)
    else:
        image.save(out, "PNG", compress_level=1)
    return out.getvalue()
