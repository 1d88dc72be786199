"""Real, decodable, deterministic images: the same recipe always gives the same bytes.

A recipe is (seed, index, width, height, format). The picture is a simple head-and-shoulders
silhouette on a gradient whose colours, pose and framing come from the seed, so two seeds give
visibly different images and a viewer can tell one variation from the next.

Rendering a large image takes Pillow a few hundred milliseconds, so the server never does it on
its event loop: :func:`produce` and :func:`data_uri` render in worker processes
(:data:`WORKERS`, started in the background by the first image too large to render inline, with a
thread standing in for the second they take to start; a server that never renders one never
pays their memory) and keep the results in a cache bounded by bytes
(:data:`CACHE_BYTES`), so an image served again costs a lookup.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import hashlib
import io
import logging
import os
import random
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

# Imported with this module, not with the first large image (~6 ms of start): the pool outlives
# whatever imported it, and a harness that restores ``sys.modules`` between tests (pytester) would
# drop a module imported later, so the pool's next task no longer pickles ("not the same object").
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger("headshot_mock")
Format = Literal["png", "jpeg"]
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg"}
MAX_SIDE = 4096
INLINE_PIXELS = 256 * 256
"""Images up to this many pixels render on the caller's thread (about 1 ms)."""
CACHE_BYTES = 128 * 1024 * 1024
"""Encoded images kept for serving again; the least recently used go first."""
WORKERS = max(1, min(4, (os.cpu_count() or 2) - 1))
"""Processes rendering images: one core is left to the event loop (a thread would not do:
Pillow holds the GIL long enough, encoding, to stall the loop for tens of milliseconds)."""


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
    digest = hashlib.blake2b(parts_text(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def parts_text(parts: tuple[object, ...]) -> str:
    """``repr(parts)``, the text seeds and tokens hash, made at a fraction of its cost: a tuple
    of two or more items prints as its items' reprs joined (:func:`reprs`), and that skips the
    recursion guard a tuple's repr takes (~6k instructions, most of what a token cost)."""
    return f"({reprs(parts)})" if len(parts) > 1 else repr(parts)


def reprs(parts: tuple[object, ...]) -> str:
    """``", ".join(map(repr, parts))`` by one ``%`` format of as many ``%r`` (each ``%r`` is the
    item's ``repr``): the format does not call the builtin ``repr`` once an item (~1.4k
    instructions each, against ~1k)."""
    count = len(parts)
    text = _REPRS.get(count)
    if text is None:
        text = _REPRS[count] = ", ".join(["%r"] * count)
    return text % parts


_REPRS: dict[int, str] = {}


def render(recipe: Recipe) -> bytes:
    """The encoded image, rendered here and now unless cached (blocking: not on an event loop)."""
    found = _CACHE.get(recipe)
    if found is None:
        found = _render(recipe)
        _CACHE.put(recipe, found)
    return found


async def produce(recipe: Recipe) -> bytes:
    """The encoded image, rendered in a worker process unless cached (or small: a thumbnail takes
    a millisecond or two, less than the trip to another process)."""
    found = _CACHE.get(recipe)
    if found is None:
        if recipe.width * recipe.height <= INLINE_PIXELS:
            found = _render(recipe)
        else:
            loop = asyncio.get_running_loop()
            try:
                found = await loop.run_in_executor(_pool(), _render, recipe)
            except BrokenProcessPool as exc:  # a worker could not start or died: threads from now on
                _WORKERS.broken(exc)
                found = await loop.run_in_executor(_pool(), _render, recipe)
        _CACHE.put(recipe, found)
    return found


def stop_workers() -> None:
    """End the rendering processes now (a ``serve --workers`` process at its end: it dies by the
    SIGTERM uvicorn re-raises, before ``atexit`` would; the next render starts them again)."""
    _WORKERS.stop()


async def data_uri(recipe: Recipe) -> str:
    """``data:image/...;base64,...`` of the image (rendered in a worker process unless cached)."""
    return f"data:{recipe.media_type};base64,{base64.b64encode(await produce(recipe)).decode()}"


def fit(long_side: int, aspect_ratio: str) -> tuple[int, int]:
    """Width and height with ``long_side`` on the longer edge, for an ``"W:H"`` ratio."""
    w, h = (int(x) for x in aspect_ratio.split(":"))
    if w >= h:
        return long_side, max(1, round(long_side * h / w))
    return max(1, round(long_side * w / h)), long_side


class _Cache:
    """Encoded images by recipe, at most ``limit`` bytes in all (thread-safe: renders run in a pool)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._items: OrderedDict[Recipe, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, recipe: Recipe) -> bytes | None:
        with self._lock:
            found = self._items.get(recipe)
            if found is not None:
                self._items.move_to_end(recipe)
            return found

    def put(self, recipe: Recipe, data: bytes) -> None:
        if len(data) > self.limit:
            return
        with self._lock:
            old = self._items.pop(recipe, None)
            self.size += len(data) - (len(old) if old is not None else 0)
            self._items[recipe] = data
            while self.size > self.limit:
                _, dropped = self._items.popitem(last=False)
                self.size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.size = 0


_CACHE = _Cache(CACHE_BYTES)


class _Workers:
    """Worker processes, started in the background on first need; until they answer, renders go
    to a thread (a process takes about a second to start, longer than a client waits)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: ProcessPoolExecutor | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._ready = threading.Event()
        self._threads_only: str | None = None
        """Why renders stay in threads (None: processes are used once they are up)."""

    def start(self) -> None:
        with self._lock:
            if self._processes is not None or self._threads_only is not None:
                return
            if not _main_reimportable():
                self._threads_only = "the main script has no __main__ guard"
                return
            import multiprocessing  # with the first large image (importing this module starts nothing)

            context = multiprocessing.get_context("spawn")  # no fork of a process with threads
            self._processes = ProcessPoolExecutor(
                WORKERS, mp_context=context, initializer=_watch_parent, initargs=(os.getpid(),)
            )
            self._processes.submit(int).add_done_callback(lambda _: self._ready.set())
            atexit.register(self._processes.shutdown, wait=True, cancel_futures=True)

    def broken(self, exc: BaseException) -> None:
        """The processes failed (a worker could not start, or died): render in threads from now on."""
        with self._lock:
            if self._threads_only is None:
                self._threads_only = f"{type(exc).__name__}: {exc}"
                log.warning("headshot-mock: image worker processes failed (%s); rendering in threads", exc)
            self._ready.clear()

    def stop(self) -> None:
        with self._lock:
            processes, self._processes = self._processes, None
            self._ready.clear()
        if processes is not None:
            atexit.unregister(processes.shutdown)
            processes.shutdown(wait=True, cancel_futures=True)

    def executor(self) -> Executor:
        self.start()
        if self._ready.is_set() and self._threads_only is None:
            assert self._processes is not None
            return self._processes
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(WORKERS, thread_name_prefix="headshot-mock-images")
            return self._threads


_WORKERS = _Workers()


def _main_reimportable() -> bool:
    """Whether a spawned worker may import this program's main module, as multiprocessing's
    spawn does: a module run with ``-m``, the interpreter without a script, or a script whose
    top level is guarded by ``if __name__ == "__main__"`` (console scripts are). An unguarded
    script would run again, top to bottom, in every worker."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or getattr(main, "__spec__", None) is not None or not path:
        return True
    try:
        return "__main__" in Path(path).read_text(errors="replace")
    except OSError:
        return False


def _watch_parent(parent: int) -> None:  # pragma: no cover - runs in the worker process
    """A worker ends with its server, even one killed with SIGKILL (nothing else would end it)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="headshot-mock-parent-watch", daemon=True).start()


def _pool() -> Executor:
    return _WORKERS.executor()


def _render(recipe: Recipe) -> bytes:
    from PIL import Image, ImageDraw  # imported by the first render, not by every server start

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
