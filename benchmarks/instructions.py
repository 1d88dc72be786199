"""User-space instructions a served request costs, counted by valgrind: a figure that does not
move with the neighbours' load, for changes of a few percent that ``scripts/bench`` cannot see.

    .venv/bin/python benchmarks/instructions.py                    # headshot-mock, raw Starlette
    .venv/bin/python benchmarks/instructions.py --against 3ba5c86  # and the mock at a revision
    .venv/bin/python benchmarks/instructions.py invalid -n 400
    .venv/bin/python benchmarks/instructions.py --floor            # and the floor (floor_app.py)

Each server runs under cachegrind (``valgrind --tool=cachegrind --cache-sim=no``) on loopback, its
port and command as ``scripts/bench`` starts it. Eight keep-alive clients POST the flux_headshot
body: once ``--warm`` requests, then, in a new process, ``--warm`` + ``-n``; the difference over
``-n`` is the figure. It counts the server's own instructions (Python, uvicorn, uvloop, the
extensions), not the kernel's work for its socket writes, which ``scripts/bench``'s server CPU
includes. The ratio to raw Starlette follows that benchmark's CPU ratio closely (2.91 against
2.90 on 2026-12-01). Needs valgrind (Debian: ``apt-get install valgrind``); ~25 s a server.
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # the benchmark's servers, bodies and revision checkouts

CLIENTS = 8
VALGRIND = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
START_WITHIN = 120.0
"""Seconds a server under valgrind (~50x slower) may take to give its first 200."""


def instructions(server: run.Server, body: bytes, requests: int) -> int:
    """The server process's instructions from start to exit, having answered ``requests``."""
    proc = subprocess.Popen(
        [*VALGRIND, *server.command],
        cwd=server.cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait_up(server, proc)
        each = requests // CLIENTS
        threads = [threading.Thread(target=_post_many, args=(server, body, each)) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Forked children (the image pool's workers) run under valgrind too and print their own.
    counted = dict(re.findall(r"==(\d+)== I\s+refs:\s+([\d,]+)", err.decode(errors="replace")))
    if str(proc.pid) not in counted:
        raise RuntimeError(f"{server.name}: valgrind printed no count for it: {err[-400:]!r}")
    return int(counted[str(proc.pid)].replace(",", ""))


def _wait_up(server: run.Server, proc: subprocess.Popen[bytes]) -> None:
    """Until the valid body gets its 200 (the invalid one never does)."""
    body = run.BODIES["valid"].read_bytes()
    started = time.monotonic()
    while time.monotonic() - started < START_WITHIN:
        if proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {proc.returncode}")
        try:
            if run.post(server.port, server.path, body, timeout=30)[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            time.sleep(0.2)
    raise RuntimeError(f"{server.name} gave no 200 within {START_WITHIN:g} s under valgrind")


def _post_many(server: run.Server, body: bytes, count: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"content-type": "application/json", "accept": "application/json"}
    try:
        for _ in range(count):
            conn.request("POST", server.path, body, headers)
            conn.getresponse().read()
    finally:
        conn.close()


def per_request(server: run.Server, body: bytes, warm: int, n: int) -> float:
    instructions(server, body, CLIENTS)  # a first start may write caches (.pyc) the others read
    return (instructions(server, body, warm + n) - instructions(server, body, warm)) / n


def main(argv: list[str] | None = None) -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("body", nargs="?", default="valid", choices=sorted(run.BODIES))
    parser.add_argument("-n", type=int, default=800, help="requests counted (default 800)")
    parser.add_argument("--warm", type=int, default=200, help="requests before them (default 200)")
    parser.add_argument("--against", metavar="REV", action="append", default=[], help="also a git revision")
    parser.add_argument("--floor", action="store_true", help="also the floor (benchmarks/floor_app.py)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("instructions: needs valgrind (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    if args.n < CLIENTS or args.warm < CLIENTS:
        parser.error(f"-n and --warm must each be at least {CLIENTS} (one request a client)")
    body = run.BODIES[args.body].read_bytes()
    with tempfile.TemporaryDirectory(prefix="instructions-") as tmp:
        chosen = run.servers(prism=False, floor=args.floor)
        for rev in args.against:
            (Path(tmp) / rev).mkdir()
            chosen.append(run.revision_server(rev, Path(tmp) / rev))
        for server in chosen:
            server.cwd = Path(tmp)  # not the checkout: ``python -c`` puts the cwd first on sys.path
        figures = {server.name: per_request(server, body, args.warm, args.n) for server in chosen}
    ours = figures["headshot-mock"]
    print(f"{args.body} body, {args.n} requests after {args.warm}, {CLIENTS} keep-alive clients")
    print("| server | instructions a request | headshot-mock / it |")
    print("|---|---|---|")
    for name, figure in figures.items():
        print(f"| {name} | {figure:,.0f} | {ours / figure:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
