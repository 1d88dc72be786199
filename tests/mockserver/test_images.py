from __future__ import annotations

import io

import pytest
from PIL import Image

from headshot_mock.mockserver import images


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_images_decode_at_the_requested_size(fmt: images.Format) -> None:
    data = images.render(images.Recipe(1, 0, 640, 480, fmt))
    picture = Image.open(io.BytesIO(data))
    assert picture.size == (640, 480)
    assert picture.format == fmt.upper()


def test_same_recipe_same_bytes_other_seed_other_bytes() -> None:
    a = images.render(images.Recipe(7, 0, 64, 64))
    images._render.cache_clear()
    assert images.render(images.Recipe(7, 0, 64, 64)) == a
    assert images.render(images.Recipe(8, 0, 64, 64)) != a
    assert images.render(images.Recipe(7, 1, 64, 64)) != a


@pytest.mark.parametrize(
    ("long_side", "ratio", "size"),
    [
        pytest.param(1024, "1:1", (1024, 1024), id="square"),
        pytest.param(1024, "3:4", (768, 1024), id="portrait"),
        pytest.param(2048, "16:9", (2048, 1152), id="landscape"),
    ],
)
def test_fit(long_side: int, ratio: str, size: tuple[int, int]) -> None:
    assert images.fit(long_side, ratio) == size


def test_bad_recipes_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        images.Recipe(1, 0, 0, 10)
    with pytest.raises(ValueError, match="format"):
        images.Recipe(1, 0, 10, 10, "gif")  # type: ignore[arg-type]
