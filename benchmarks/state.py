"""State benchmark: requests/s and job flows/s on the memory store and on Redis (1 and 2 workers),
and the CPU 3,000 idle live jobs cost. Loopback only; bounded in time and count; everything it
starts (redis-server, serve processes) it stops by PID.

    .venv/bin/python benchmarks/state.py              # SECONDS=8 FLOWS=400 IDLE_JOBS=3000
Needs redis-server and wrk on PATH.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from headshot_mock.contracts.receiver import WebhookReceiver

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests/redis_server.py
from tests.redis_server import free_port, running

SECONDS = int(os.environ.get("SECONDS_EACH", "8"))
FLOWS = int(os.environ.get("FLOWS", "400"))
IDLE_JOBS = int(os.environ.get("IDLE_JOBS", "3000"))
CONNECTIONS = 16
PATH = "/modelslab/api/v6/image_editing/flux_headshot"
BODY = '{"key":"k","prompt":"a professional headshot","face_image":"https://example.com/f.jpg"}'
CLI = [sys.executable, "-m", "headshot_mock.contracts.cli", "serve"]


def stop(process: subprocess.Popen[bytes], group: bool = False) -> None:
    if process.poll() is None:
        (os.killpg if group else os.kill)(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            (os.killpg if group else os.kill)(process.pid, signal.SIGKILL)
            process.wait(10)


@contextmanager
def redis_server() -> Iterator[str]:
    """tests/redis_server.py's launcher (one launcher for the tests and this benchmark)."""
    try:
        with running() as server:
            yield server.url
    except FileNotFoundError as exc:
        sys.exit(f"benchmarks/state.py needs redis-server: {exc}")


@contextmanager
def serve(*flags: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "--port", str(port), *flags], stdout=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/__mock/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "serve exited"
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.05)
        yield url, process.pid
    finally:
        stop(process, group=True)


def wrk(url: str) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            f'wrk.method = "POST"\nwrk.body = [[{BODY}]]\nwrk.headers["Content-Type"] = "application/json"\n'
        )
    try:
        subprocess.run(
            ["wrk", "-t1", "-c4", "-d1s", "-s", script.name, url + PATH], capture_output=True, check=True
        )
        done = subprocess.run(
            ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "-s", script.name, url + PATH],
            capture_output=True,
            text=True,
            check=True,
            timeout=SECONDS + 30,
        )
    finally:
        Path(script.name).unlink()
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    assert match is not None, done.stdout
    return float(match.group(1))


async def flows(url: str, hook: str) -> float:
    """create (processing) → fetch until success → the webhook arrived: flows completed per second."""
    body = {"key": "mock-processing", "prompt": "p", "face_image": "https://e.com/f.jpg", "webhook": hook}
    limit = asyncio.Semaphore(CONNECTIONS)
    async with httpx.AsyncClient(
        base_url=url, timeout=20, limits=httpx.Limits(max_connections=CONNECTIONS)
    ) as c:

        async def one() -> None:
            async with limit:
                made = (await c.post("/modelslab/api/v6/image_editing/head_shot", json=body)).json()
                while (
                    await c.post(f"/modelslab/api/v6/image_editing/fetch/{made['id']}", json={"key": "k"})
                ).json()["status"] != "success":
                    pass

        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(FLOWS))), 120)
        idle = await c.post("/__mock/idle", params={"timeout": "60"})
        assert idle.status_code == 204, idle.text
        return FLOWS / (time.perf_counter() - started)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its children that are alive (workers)."""
    total = 0.0
    pids = [
        pid,
        *map(
            int,
            subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
            ).stdout.split(),
        ),
    ]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def make_idle_jobs(url: str) -> None:
    body = {"key": "mock-processing", "prompt": "p", "face_image": "https://e.com/f.jpg"}
    limit = asyncio.Semaphore(CONNECTIONS)
    async with httpx.AsyncClient(base_url=url, timeout=20) as c:

        async def one() -> None:
            async with limit:
                await c.post("/modelslab/api/v6/image_editing/head_shot", json=body)

        await asyncio.gather(*(one() for _ in range(IDLE_JOBS)))


IDLE_SCALE = float(os.environ.get("IDLE_SCALE", "10"))
"""Time scale of the idle-jobs figure: each job's next phase is due 10 s x this after it was made.
The ticker sleeps until the earliest due time whatever the scale; 10 only leaves time, on a
loaded machine, to make 3,000 jobs before the first of them falls due."""


def idle_cpu(*flags: str) -> float:
    """Percent of one core used while IDLE_JOBS live jobs wait for their next phase."""
    with serve("--time-scale", str(IDLE_SCALE), "--providers", "modelslab", *flags) as (url, pid):
        started = time.monotonic()
        asyncio.run(make_idle_jobs(url))
        took = time.monotonic() - started
        window = 10.0 * IDLE_SCALE - took - 0.5  # the first job falls due 10 s x scale after it was made
        assert window >= 1.0, f"creating {IDLE_JOBS} jobs took {took:.1f} s: too long to measure them idle"
        time.sleep(0.3)
        before, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(min(5.0, window))
        return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - t0)


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("benchmarks/state.py needs wrk (apt-get install wrk)")
    rows: list[tuple[str, float, float, float]] = []
    with redis_server() as redis, WebhookReceiver() as hooks:
        setups = {
            "memory x 1 worker": (),
            "redis x 1 worker": ("--state", redis, "--state-prefix", "bench1"),
            "redis x 2 workers": ("--state", redis, "--state-prefix", "bench2", "--workers", "2"),
        }
        for name, flags in setups.items():
            with serve(*flags, "--journal-limit", "1000") as (url, _):
                rps = wrk(url)
                per_second = asyncio.run(flows(url, hooks.url))
            cpu = idle_cpu(*flags[:4]) if "2 workers" not in name else float("nan")
            rows.append((name, rps, per_second, cpu))
            print(
                f"  measured {name}: {rps:,.0f} req/s, {per_second:,.1f} flows/s, idle cpu {cpu:.1f}%",
                flush=True,
            )
    base_rps, base_flows = rows[0][1], rows[0][2]
    print(
        f"\n{CONNECTIONS} connections, {SECONDS} s per figure, {FLOWS} flows, "
        f"{IDLE_JOBS} idle live jobs at time scale {IDLE_SCALE:g}\n"
    )
    print("| setup | requests/s | vs memory | job flows/s | vs memory | CPU, idle live jobs |")
    print("|---|---|---|---|---|---|")
    for name, rps, per_second, cpu in rows:
        idle = "n/a" if cpu != cpu else f"{cpu:.1f}%"
        ratios = f"{rps / base_rps:.0%} | {per_second:,.1f} | {per_second / base_flows:.0%}"
        print(f"| {name} | {rps:,.0f} | {ratios} | {idle} |")


if __name__ == "__main__":
    main()
