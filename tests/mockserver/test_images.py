from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

from headshot_mock.mockserver import MockConfig, create_app, images
from tests.helpers import decode, hs1_body

AGENTAI = "/agentai/v1/action/instant_headshot_run_headshot_generation"
BEARER = {"authorization": "Bearer k"}


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_images_decode_at_the_requested_size(fmt: images.Format) -> None:
    data = images.render(images.Recipe(1, 0, 640, 480, fmt))
    picture = Image.open(io.BytesIO(data))
    assert picture.size == (640, 480)
    assert picture.format == fmt.upper()


def test_same_recipe_same_bytes_other_seed_other_bytes() -> None:
    a = images.render(images.Recipe(7, 0, 64, 64))
    images._CACHE.clear()
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


async def test_rendering_does_not_block_the_event_loop() -> None:
    """While a 2048x2048 image renders, the server keeps answering: health comes back first."""
    app = create_app(config=MockConfig(seed=913_377))  # a seed no other test renders
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4010") as client:
        run = await client.post(
            AGENTAI, json=hs1_body(count="1", quality="high", aspect_ratio="1:1"), headers=BEARER
        )
        [image] = run.json()["response"]["images"]
        download = asyncio.create_task(client.get(image["url"]))
        await asyncio.sleep(0.02)  # the render has started
        health = await client.get("/__mock/health")
        assert health.status_code == 200
        assert not download.done(), "health waited for the render: the event loop was blocked"
        served = await download
        assert served.status_code == 200
        assert decode(served.content) == ("PNG", (2048, 2048))
        again = await client.get(image["url"])  # from the cache
        assert again.content == served.content


def test_the_cache_is_bounded_by_bytes() -> None:
    cache = images._Cache(limit=1000)
    recipes = [images.Recipe(1, i, 8, 8) for i in range(5)]
    for recipe in recipes:
        cache.put(recipe, b"x" * 300)
    assert cache.size == 900
    assert [cache.get(r) is not None for r in recipes] == [False, False, True, True, True]
    cache.put(images.Recipe(2, 0, 8, 8), b"y" * 2000)  # larger than the whole cache: not kept
    assert cache.size == 900


UNGUARDED = """
import httpx
from headshot_mock import MockSession

print("top level ran")
with MockSession(live=True) as mock:
    body = {"key": "k", "prompt": "p", "face_image": "https://e.com/f.jpg"}  # 512 x 512: not inline
    answer = httpx.post(mock.base_url("modelslab") + "/v6/image_editing/head_shot", json=body).json()
    image = httpx.get(answer["output"][0])
    print(image.status_code, image.content[:4] == b"\\x89PNG")
"""


@pytest.mark.slow
def test_a_script_without_a_main_guard_gets_its_large_images(tmp_path: Path) -> None:
    """multiprocessing's spawn would run an unguarded script again in each image worker (and the
    download would fail): such a script renders in threads, once, and gets its image."""
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["top level ran", "200 True"], done.stderr[-2000:]
