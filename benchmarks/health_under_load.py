"""`/__mock/health` latency while the mock renders a burst of large images, loopback only.

Starts `headshot-mock serve` on a free loopback port, then, while a poller in another process
asks `/__mock/health` every 10 ms over one keep-alive connection, sends bursts of downloads of
2048x2048 PNGs the mock has not rendered yet (agent.ai `quality=high`). Prints the health
latencies (p50 / p99 / max) and what a warm cache saves on a 2024x2024 idphoto JPEG (the
largest it makes) asked for twice. Bounded: a fixed number of bursts and a 120 s cap.

    .venv/bin/python benchmarks/health_under_load.py            # the mock of this checkout
    .venv/bin/python benchmarks/health_under_load.py --command /other/.venv/bin/headshot-mock
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import io
import json
import multiprocessing
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

AGENTAI = "/agentai/v1/action/instant_headshot_run_headshot_generation"
PORTRAIT = "/idphoto/api/generate-portrait"
CAP_SECONDS = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _poll_health(port: int, stop: Any, out: Any) -> None:
    """In its own process: GET /__mock/health every 10 ms until told to stop; latencies in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies: list[float] = []
    deadline = time.monotonic() + CAP_SECONDS
    while not stop.is_set() and time.monotonic() < deadline:
        started = time.perf_counter()
        conn.request("GET", "/__mock/health")
        response = conn.getresponse()
        response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.01)
    conn.close()
    out.put(latencies)


def _photo() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 150, 120)).save(buffer, "JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


async def _image_urls(client: httpx.AsyncClient, runs: int) -> list[str]:
    body = {
        "photos_json": json.dumps([{"base64": _photo(), "mimeType": "image/jpeg"}]),
        "count": "4",
        "quality": "high",
        "aspect_ratio": "1:1",
    }
    urls: list[str] = []
    for _ in range(runs):
        response = await client.post(AGENTAI, json=body, headers={"authorization": "Bearer bench"})
        response.raise_for_status()
        urls += [image["url"] for image in response.json()["response"]["images"]]
    return urls


async def _burst(client: httpx.AsyncClient, urls: list[str]) -> float:
    started = time.perf_counter()
    answers = await asyncio.gather(*(client.get(url) for url in urls))
    for answer in answers:
        answer.raise_for_status()
    return time.perf_counter() - started


async def _warm_jpeg(client: httpx.AsyncClient) -> tuple[float, float]:
    body = {
        "apiKey": "bench",
        "prompt": "warm cache",
        "seed": 4242,
        "inputImages": [f"data:image/jpeg;base64,{_photo()}"],
        "outputImageWidth": 2024,
        "outputImageHeight": 2024,
        "sampleNumber": 1,
    }
    times = []
    for _ in range(2):
        started = time.perf_counter()
        response = await client.post(PORTRAIT, json=body)
        response.raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times[0], times[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _load(port: int, bursts: int, per_burst: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=per_burst)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits) as client:
        urls = await _image_urls(client, bursts * per_burst // 4)
        stop, out = multiprocessing.Event(), multiprocessing.Queue()
        poller = multiprocessing.Process(target=_poll_health, args=(port, stop, out), daemon=True)
        poller.start()
        await asyncio.sleep(0.5)  # the poller's baseline
        burst_seconds = []
        for i in range(bursts):
            burst_seconds.append(await _burst(client, urls[i * per_burst : (i + 1) * per_burst]))
        await asyncio.sleep(0.2)
        stop.set()
        latencies: list[float] = out.get(timeout=30)
        poller.join(10)
        cold, warm = await _warm_jpeg(client)
    return {
        "images": len(urls),
        "bursts": bursts,
        "per_burst": per_burst,
        "burst_seconds": [round(s, 2) for s in burst_seconds],
        "health_requests": len(latencies),
        "health_p50_ms": round(statistics.median(latencies), 2),
        "health_p99_ms": round(_percentile(latencies, 0.99), 2),
        "health_max_ms": round(max(latencies), 2),
        "jpeg_2024_first_ms": round(cold, 1),
        "jpeg_2024_again_ms": round(warm, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(sys.executable).with_name("headshot-mock")
    parser.add_argument("--command", default=str(default), help="the headshot-mock executable to measure")
    parser.add_argument("--bursts", type=int, default=4, help="bursts of downloads (default 4)")
    parser.add_argument("--per-burst", type=int, default=8, help="concurrent 2048x2048 downloads per burst")
    args = parser.parse_args()
    port = _free_port()
    server = subprocess.Popen(
        [args.command, "serve", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the mock did not start") from None
                time.sleep(0.05)
        figures = asyncio.run(asyncio.wait_for(_load(port, args.bursts, args.per_burst), CAP_SECONDS))
    finally:
        server.terminate()
        server.wait(10)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
