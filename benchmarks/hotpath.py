"""Where one ``flux_headshot`` request spends its time: cProfile over the ASGI app, in-process.

    .venv/bin/python benchmarks/hotpath.py            # valid body, 5,000 requests
    .venv/bin/python benchmarks/hotpath.py invalid    # the invalid body
    .venv/bin/python benchmarks/hotpath.py --time     # no profiler: microseconds per request
    .venv/bin/python benchmarks/hotpath.py --time --state redis://127.0.0.1:6379/0   # on Redis

The requests go straight to the ASGI callable (no HTTP server, no client), so the figures are
the app's own work: routing, parsing, validation, scenario choice, the plug-in, the journal,
encoding. ``--sort tottime`` shows the functions that are hot themselves. Requests run 16 at a
time, each in a task of its own, as on a served mock under load. With ``--state`` the CPU figure
is this process's (the worker's), not redis-server's; its keys go under a prefix of their own,
cleared at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time
from pathlib import Path
from typing import Any

from headshot_mock import create_app
from headshot_mock.mockserver.stores import RedisStore

HERE = Path(__file__).resolve().parent
ROUTE = "/modelslab/api/v6/image_editing/flux_headshot"
AT_ONCE = 16
"""Requests in flight together, each a task of its own (as on a served mock under load)."""


def scope(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": ROUTE,
        "raw_path": ROUTE.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:4010"),
            (b"content-type", b"application/json"),
            (b"accept", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 4010),
        "state": {},
    }


async def drive(app: Any, body: bytes, count: int) -> int:
    statuses: dict[int, int] = {}
    template = scope(body)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    async def one() -> None:
        await app({**template, "headers": list(template["headers"])}, receive, send)

    for _ in range(count // AT_ONCE):
        await asyncio.gather(*(one() for _ in range(AT_ONCE)))
    assert len(statuses) == 1, statuses
    return next(iter(statuses))


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("body", nargs="?", default="valid", choices=("valid", "invalid"))
    parser.add_argument("-n", type=int, default=5000, help="requests (default 5000)")
    parser.add_argument("--time", action="store_true", help="time without the profiler")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (cumulative, tottime)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--state", metavar="URL", help="a redis:// URL: the Redis store (default memory)")
    args = parser.parse_args()
    body = (HERE / "bodies" / f"{args.body}.json").read_bytes()
    store = None
    if args.state:
        store = RedisStore(args.state, prefix=f"hotpath-{os.getpid()}")
    app = create_app(store=store)
    loop = asyncio.new_event_loop()
    try:
        run(args, app, body, loop)
    finally:
        if store is not None:
            loop.run_until_complete(store.reset())
            loop.run_until_complete(store.close())


def run(args: argparse.Namespace, app: Any, body: bytes, loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(drive(app, body, 500))  # warm up: first-use compilation, caches
    if args.time:
        best = float("inf")
        for _ in range(5):
            started = time.process_time()
            status = loop.run_until_complete(drive(app, body, args.n))
            best = min(best, (time.process_time() - started) / args.n)
        shown = f"{best * 1e6:.1f} µs CPU a request in-process (best of 5 x {args.n})"
        print(f"{args.body}: HTTP {status}, {shown}")
        return
    profiler = cProfile.Profile()
    profiler.enable()
    status = loop.run_until_complete(drive(app, body, args.n))
    profiler.disable()
    print(f"{args.body}: HTTP {status}, {args.n} requests")
    pstats.Stats(profiler).strip_dirs().sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
