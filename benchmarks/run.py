"""headshot-mock against Prism and raw Starlette, side by side in one run, on one core each.

    scripts/bench              # full run (installs wrk and Prism when missing), ~3 minutes
    scripts/bench --quick      # the same measurements with tiny loads, < 60 s, installs nothing
    scripts/bench --rounds 10  # more segments (default 5) for steadier medians

Every server listens on 127.0.0.1 only, pinned to one core (``taskset``) while ``wrk`` and this
script run on the other. Every load is bounded in time and in request count; every server is
stopped by the PID this script started. The servers run side by side and the load alternates
between them in short segments, so a noisy neighbour on the shared machine hits each of them
alike; ratios are medians of per-segment ratios. Measured per server:

- requests/s and p50/p99 at 32 connections for a valid and an invalid ``flux_headshot`` body;
- cold start: spawn → first 200 on the valid body (median of several spawns);
- RSS of the server's process tree idle (after start) and after the load.

And for headshot-mock only: one ModelsLab processing → fetch → success flow with its webhook at
time scale 0 (wall time until both the ``success`` fetch and the webhook arrived), and
``ClientSuite`` over ModelsLab's scenarios (``tests/contracts/test_client_suite.py``).
Standard library only; the servers run with the interpreter this script runs with.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import http.server
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOOLS = HERE / ".tools"
PRISM_VERSION = "5.16.0"
PRISM = TOOLS / "node_modules" / ".bin" / "prism"
ROUTE = "/modelslab/api/v6/image_editing/flux_headshot"
BODIES = {kind: HERE / "bodies" / f"{kind}.json" for kind in ("valid", "invalid")}
SERVER_CPU, LOAD_CPU = "0", "1"
CONNECTIONS = 32
MAX_REQ = 3_000_000
"""Hard cap on the requests of one wrk run, whatever its duration."""
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# -- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    warmup: float
    duration: float
    cold_runs: int
    rounds: int
    flows: int
    install: bool
    prism: bool
    suite: bool
    quick: bool
    against: str | None = None
    floor: bool = False

    @classmethod
    def parse(cls, argv: list[str] | None = None) -> Settings:
        parser = argparse.ArgumentParser(
            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        parser.add_argument(
            "--quick", action="store_true", help="tiny loads, one spawn, installs nothing (< 60 s)"
        )
        parser.add_argument(
            "--rounds", type=int, help="segments per load and server (default 5, quick 1); medians shown"
        )
        parser.add_argument("--duration", type=float, help="seconds per segment (default 4, quick 2)")
        parser.add_argument("--no-prism", action="store_true", help="compare against raw Starlette only")
        parser.add_argument("--no-suite", action="store_true", help="skip the ClientSuite timing")
        parser.add_argument(
            "--floor",
            action="store_true",
            help="also the floor: the least work a Python mock of the route can do (floor_app.py)",
        )
        parser.add_argument(
            "--against",
            metavar="REV",
            help="also serve headshot-mock as of git revision REV, side by side (measure a change)",
        )
        args = parser.parse_args(argv)
        quick = args.quick
        duration = args.duration if args.duration is not None else (2.0 if quick else 4.0)
        rounds = args.rounds if args.rounds is not None else (1 if quick else 5)
        return cls(
            warmup=1.0 if quick else 3.0,
            duration=duration,
            cold_runs=1 if quick else 5,
            rounds=max(1, min(rounds, 20)),
            flows=20 if quick else 200,
            install=not quick,
            prism=not args.no_prism,
            suite=not args.no_suite,
            quick=quick,
            against=args.against,
            floor=args.floor,
        )


# -- processes ---------------------------------------------------------------------------------


def _stat(pid: int) -> dict[str, int] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rindex(")") + 2 :].split()
    if rest[0] == "Z":
        return None
    return {"ppid": int(rest[1]), "start": int(rest[19]), "rss_kb": int(rest[21]) * PAGE_KB}


def _tree(root: int) -> list[tuple[int, int]]:
    """``root`` and its descendants, as (pid, start time) pairs."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            children.setdefault(st["ppid"], []).append(int(entry))
    found, todo = [], [root]
    while todo and len(found) < 1000:
        pid = todo.pop()
        st = _stat(pid)
        if st is not None:
            found.append((pid, st["start"]))
            todo.extend(children.get(pid, []))
    return found


def rss_mb(root: int) -> float:
    return sum((_stat(pid) or {"rss_kb": 0})["rss_kb"] for pid, _ in _tree(root)) / 1024


def cpu_seconds(root: int) -> float:
    """User + system CPU of ``root``'s process tree so far."""
    total = 0
    for pid, _ in _tree(root):
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(port: int, path: str, body: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"content-type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class Server:
    name: str
    command: list[str]
    path: str
    port: int
    cwd: Path = ROOT
    proc: subprocess.Popen[bytes] | None = None
    family: list[tuple[int, int]] = field(default_factory=list)

    def start(self, deadline: float = 60.0) -> float:
        """Spawn pinned to the server core; milliseconds until the first 200 on the valid body."""
        body = BODIES["valid"].read_bytes()
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *self.command],
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        last = "no answer"
        for _ in range(int(deadline / 0.005)):  # bounded in count and in time
            if time.perf_counter() - started > deadline:
                break
            if self.proc.poll() is not None:
                stderr = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {stderr[-400:]}")
            try:
                status, data = post(self.port, self.path, body, timeout=1.0)
                if status == 200:
                    self.family = _tree(self.proc.pid)
                    return (time.perf_counter() - started) * 1000
                last = f"HTTP {status}: {data[:200]!r}"
            except (OSError, http.client.HTTPException) as exc:
                last = type(exc).__name__
            time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"{self.name} gave no 200 within {deadline:g} s (last: {last})")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the PID started here, then SIGKILL it and its recorded descendants."""
        if self.proc is None:
            return
        family = self.family or _tree(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid, start in family:
            st = _stat(pid)
            if pid != self.proc.pid and st is not None and st["start"] == start:
                os.kill(pid, signal.SIGKILL)
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc, self.family = None, []


def wrk(port: int, path: str, body: Path, seconds: float) -> dict[str, float]:
    secs = max(1, round(seconds))
    out = subprocess.run(
        [
            "taskset",
            "-c",
            LOAD_CPU,
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{secs}s",
            "--timeout",
            "5s",
            "-s",
            str(HERE / "post.lua"),
            f"http://127.0.0.1:{port}{path}",
        ],
        env={**os.environ, "BODY_FILE": str(body), "MAX_REQ": str(MAX_REQ)},
        capture_output=True,
        text=True,
        timeout=secs + 30,
        check=False,
    )
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            result: dict[str, float] = json.loads(line[8:])
            return result
    raise RuntimeError(f"wrk gave no summary: {out.stdout[-300:]} {out.stderr[-300:]}")


# -- what is measured --------------------------------------------------------------------------


def measure_servers(chosen: list[Server], settings: Settings) -> dict[str, dict[str, Any]]:
    """Cold starts one server at a time; then every server runs at once (all pinned to the server
    core, idle ones cost nothing) and the loads alternate between them in short segments, so that
    what else the shared machine does hits each server alike. Ratios are taken per segment."""
    rows: dict[str, dict[str, Any]] = {}
    try:
        for server in chosen:
            log(f"{server.name}: {settings.cold_runs} cold start(s)")
            colds = []
            for i in range(settings.cold_runs):
                colds.append(server.start())
                if i < settings.cold_runs - 1:
                    server.stop()
            assert server.proc is not None
            rows[server.name] = {
                "cold_ms": statistics.median(colds),
                "invalid_status": post(server.port, server.path, BODIES["invalid"].read_bytes())[0],
                "rss_idle": rss_mb(server.proc.pid),
                "segments": {"valid": [], "invalid": []},
            }
            for kind in ("valid", "invalid"):
                wrk(server.port, server.path, BODIES[kind], settings.warmup)
        for segment in range(settings.rounds):
            log(f"segment {segment + 1}/{settings.rounds}: {settings.duration:g} s a load and server")
            for kind in ("valid", "invalid"):
                for k in range(len(chosen)):
                    server = chosen[(k + segment) % len(chosen)]  # the order rotates
                    assert server.proc is not None
                    cpu = cpu_seconds(server.proc.pid)
                    result = wrk(server.port, server.path, BODIES[kind], settings.duration)
                    cpu = cpu_seconds(server.proc.pid) - cpu
                    result["cpu_us"] = cpu / max(1, int(result["requests"])) * 1e6
                    errors = sum(
                        int(result[e]) for e in ("err_connect", "err_read", "err_write", "err_timeout")
                    )
                    rows[server.name]["segments"][kind].append({**result, "errors": errors})
        for server in chosen:
            assert server.proc is not None
            rows[server.name]["rss_after"] = rss_mb(server.proc.pid)
    finally:
        for server in chosen:
            server.stop()
    for row in rows.values():
        for kind, segments in row["segments"].items():
            row[kind] = {
                key: float(statistics.median(s[key] for s in segments))
                for key in ("rps", "p50_ms", "p99_ms", "errors", "err_status", "cpu_us")
            }
    return rows


def ratio(results: dict[str, dict[str, Any]], ours: str, other: str, kind: str, by: str = "rps") -> float:
    """The median over segments of ours / other, pairs measured seconds apart: of requests/s
    (``by="rps"``), or of requests per second of server CPU (``by="cpu"``: what one core can
    serve, whatever share of it the neighbours left)."""
    pairs = zip(results[ours]["segments"][kind], results[other]["segments"][kind], strict=True)
    if by == "cpu":
        return float(statistics.median(b["cpu_us"] / a["cpu_us"] for a, b in pairs))
    return float(statistics.median(a["rps"] / b["rps"] for a, b in pairs))


class _Receiver(http.server.BaseHTTPRequestHandler):
    arrived: dict[str, float]
    lock = threading.Lock()

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
        track = str(json.loads(data).get("track_id"))
        with self.lock:
            self.arrived[track] = time.perf_counter()

    def log_message(self, *args: Any) -> None:
        pass


def measure_flow(server: Server, settings: Settings) -> dict[str, Any]:
    """ModelsLab processing → fetch (processing) → fetch (success) + the webhook, at time scale 0."""
    arrived: dict[str, float] = {}
    handler = type("Receiver", (_Receiver,), {"arrived": arrived})
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=receiver.serve_forever, name="bench-webhooks", daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    times, polls = [], []
    server.start()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        for i in range(settings.flows):
            track = f"flow-{i}"
            body = json.loads(BODIES["valid"].read_bytes())
            body.update(key="mock-processing", webhook=hook, track_id=track)
            started = time.perf_counter()
            answer = _call(conn, ROUTE, body)
            if answer.get("status") != "processing":
                raise RuntimeError(f"flow: expected processing, got {answer}")
            fetch = urlsplit(answer["fetch_result"]).path
            for n in range(1, 21):  # noqa: B007  (bounded polls; n is read after the loop)
                answer = _call(conn, fetch, {"key": "mock-processing"})
                if answer.get("status") == "success":
                    break
            else:
                raise RuntimeError(f"flow: no success after 20 fetches: {answer}")
            for _ in range(2000):  # the webhook, bounded to 2 s
                if track in arrived:
                    break
                time.sleep(0.001)
            else:
                raise RuntimeError("flow: the webhook did not arrive within 2 s")
            times.append((max(arrived[track], time.perf_counter()) - started) * 1000)
            polls.append(n)
    finally:
        conn.close()
        server.stop()
        receiver.shutdown()
        receiver.server_close()
    times.sort()
    return {
        "flows": len(times),
        "median_ms": statistics.median(times),
        "p95_ms": times[int(len(times) * 0.95) - 1] if len(times) >= 20 else times[-1],
        "fetches": statistics.median(polls),
    }


def _call(conn: http.client.HTTPConnection, path: str, body: dict[str, Any]) -> dict[str, Any]:
    conn.request("POST", path, body=json.dumps(body), headers={"content-type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    answer: dict[str, Any] = json.loads(data)
    return answer


def measure_suite() -> dict[str, Any]:
    """``ClientSuite`` over ModelsLab's scenarios: the example client's suite in the test suite."""
    target = "tests/contracts/test_client_suite.py::TestModelsLabExample"
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "suite.xml"
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:randomly",
                f"--junitxml={report}",
                "-o",
                "addopts=",
                target,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        wall = time.perf_counter() - started
        if not report.exists():
            return {"error": (done.stdout + done.stderr).strip().splitlines()[-1:]}
        cases = ET.parse(report).getroot().iter("testcase")
        times = [(c.get("name", ""), float(c.get("time", 0))) for c in cases]
    slowest = max(times, key=lambda t: t[1]) if times else ("-", 0.0)
    return {
        "tests": len(times),
        "passed": done.returncode == 0,
        "tests_s": sum(t for _, t in times),
        "wall_s": wall,
        "slowest": slowest,
    }


# -- installing what is missing ----------------------------------------------------------------


def ensure_wrk(install: bool) -> None:
    if shutil.which("wrk"):
        return
    if not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit("bench: wrk is missing; install it (Debian: apt-get install wrk) and run again")
    log("installing wrk (apt-get)")
    subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        timeout=600,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def ensure_prism(install: bool) -> str | None:
    """None when Prism is ready, else why it is left out of this run."""
    if PRISM.exists():
        return None
    if not install:
        return "not installed (quick mode installs nothing; a full run installs it)"
    if not shutil.which("npm"):
        return "npm is not installed"
    log(f"installing @stoplight/prism-cli@{PRISM_VERSION} into {TOOLS.relative_to(ROOT)} (npm)")
    TOOLS.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
                str(TOOLS),
                f"@stoplight/prism-cli@{PRISM_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "npm install timed out (registry unreachable?)"
    if done.returncode != 0 or not PRISM.exists():
        return f"npm install failed: {(done.stderr or done.stdout).strip()[-200:]}"
    return None


def versions(prism: bool) -> dict[str, str]:
    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "-"

    def run(*cmd: str) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return "-"
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "-"

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    out = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": f"{platform.system()} {platform.release()}, {os.cpu_count()} cpus, {cpu}",
        "headshot-mock": f"{dist('headshot-mock')} ({run('git', '-C', str(ROOT), 'describe', '--always')})",
        "python": platform.python_version(),
        "packages": ", ".join(
            f"{n} {dist(n)}"
            for n in ("starlette", "uvicorn", "uvloop", "httptools", "jsonschema-rs", "msgspec")
        ),
        "wrk": run("wrk", "-v"),
    }
    if prism:
        out["prism"] = f"{run(str(PRISM), '--version')} (node {run('node', '--version')})"
    return out


# -- the table ---------------------------------------------------------------------------------


def table(
    results: dict[str, dict[str, Any]], extra: dict[str, Any], notes: list[str], info: dict[str, str]
) -> str:
    lines = [f"{k}: {v}" for k, v in info.items()]
    lines += [
        "",
        "| server | invalid body gets | valid rps | invalid rps | valid p50 / p99 ms | "
        "invalid p99 ms | server CPU µs a request (valid / invalid) | cold start ms | "
        "RSS idle → after MB | socket errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        v, i = r["valid"], r["invalid"]
        lines.append(
            f"| {name} | {r['invalid_status']} | {v['rps']:,.0f} | {i['rps']:,.0f} | "
            f"{v['p50_ms']:.1f} / {v['p99_ms']:.1f} | {i['p99_ms']:.1f} | "
            f"{v['cpu_us']:.0f} / {i['cpu_us']:.0f} | {r['cold_ms']:,.0f} | "
            f"{r['rss_idle']:.0f} → {r['rss_after']:.0f} | {v['errors'] + i['errors']:.0f} |"
        )
    ours = results.get("headshot-mock")
    lines.append("")
    targets: list[tuple[str, str, bool | None]] = []
    if ours:
        for other, goal in (("prism", 2.0), ("starlette-raw", 0.45)):
            if other not in results:
                continue
            for kind in ("valid", "invalid"):
                paired = ratio(results, "headshot-mock", other, kind)
                per_cpu = ratio(results, "headshot-mock", other, kind, by="cpu")
                shown = f"{paired:.2f}x" if goal >= 1 else f"{paired:.0%}"
                cpu = f"{per_cpu:.2f}x" if goal >= 1 else f"{per_cpu:.0%}"
                want = f"≥ {goal:g}x" if goal >= 1 else f"≥ {goal:.0%}"
                targets.append(
                    (f"{kind} rps vs {other} ({want}); per CPU second {cpu}", shown, paired >= goal)
                )
        for other in (name for name in results if name.startswith("headshot-mock@")):
            for kind in ("valid", "invalid"):
                paired = ratio(results, "headshot-mock", other, kind)
                per_cpu = ratio(results, "headshot-mock", other, kind, by="cpu")
                targets.append(
                    (f"{kind} rps vs {other}; per CPU second {per_cpu:.2f}x", f"{paired:.2f}x", None)
                )
        if "floor" in results and "starlette-raw" in results:
            for kind in ("valid", "invalid"):
                floor = ratio(results, "floor", "starlette-raw", kind)
                per_cpu = ratio(results, "floor", "starlette-raw", kind, by="cpu")
                targets.append(
                    (
                        f"{kind}: the floor vs starlette-raw; per CPU second {per_cpu:.0%}",
                        f"{floor:.0%}",
                        None,
                    )
                )
        p99 = max(ours["valid"]["p99_ms"], ours["invalid"]["p99_ms"])
        targets.append(("p99 at 32 connections (≤ 30 ms)", f"{p99:.1f} ms", p99 <= 30))
        targets.append(("cold start (≤ 300 ms)", f"{ours['cold_ms']:.0f} ms", ours["cold_ms"] <= 300))
        targets.append(("RSS after load (≤ 80 MB)", f"{ours['rss_after']:.0f} MB", ours["rss_after"] <= 80))
    flow = extra.get("flow")
    if flow:
        shown = f"median {flow['median_ms']:.1f} ms, p95 {flow['p95_ms']:.1f} ms ({flow['flows']} flows)"
        targets.append(
            ("ModelsLab processing → fetch → success + webhook (< 50 ms)", shown, flow["p95_ms"] < 50)
        )
    suite = extra.get("suite")
    if suite and "error" not in suite:
        shown = (
            f"{suite['tests_s']:.2f} s in {suite['tests']} tests"
            f"{'' if suite['passed'] else ' (some FAILED)'}; pytest wall {suite['wall_s']:.1f} s; "
            f"slowest {suite['slowest'][0]} {suite['slowest'][1]:.2f} s"
        )
        targets.append(("ClientSuite, ModelsLab's scenarios (≤ 3 s)", shown, suite["tests_s"] <= 3))
    elif suite:
        targets.append(
            ("ClientSuite, ModelsLab's scenarios (≤ 3 s)", f"not measured: {suite['error']}", None)
        )
    lines += ["| target | measured | |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {'-' if ok is None else 'met' if ok else 'NOT met'} |" for t, m, ok in targets]
    return "\n".join(lines + [""] + [f"note: {n}" for n in notes])


PACKAGE_DIRS = ("headshot_mock", "specs", "mockserver", "contracts")


def compile_package(tree: Path) -> None:
    """Write the package's ``.pyc`` files, as pip does when it installs a wheel: a start measured
    from a checkout otherwise compiles every module from source where the environment sets
    ``PYTHONDONTWRITEBYTECODE`` (this machine does), which no installed copy pays."""
    dirs = [str(tree / d) for d in PACKAGE_DIRS if (tree / d).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], check=True, timeout=120)


def revision_server(rev: str, tmp: Path) -> Server:
    """headshot-mock as of ``rev`` (``git archive``), laid out as the package installs, and served
    by this interpreter with the development checkout's import hook taken out of the way."""
    tree = tmp / "tree"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True, timeout=60
    )
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True, timeout=60)
    package = tmp / "path" / "headshot_mock"
    package.mkdir(parents=True)
    for part in ("specs", "mockserver", "contracts"):
        (package / part).symlink_to(tree / part)
    for item in (tree / "headshot_mock").iterdir():
        (package / item.name).symlink_to(item)
    compile_package(tree)
    port = free_port()
    code = (
        "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
        f"sys.path.insert(0, {str(tmp / 'path')!r}); from headshot_mock.contracts.cli import main; "
        f"sys.exit(main(['serve', '--host', '127.0.0.1', '--port', '{port}']))"
    )
    return Server(f"headshot-mock@{rev}", [sys.executable, "-c", code], ROUTE, port)


def servers(prism: bool, floor: bool = False) -> list[Server]:
    py = sys.executable
    cli = Path(py).parent / "headshot-mock"
    ours = [str(cli)] if cli.exists() else [py, "-m", "headshot_mock"]
    out = []
    port = free_port()
    out.append(
        Server("headshot-mock", [*ours, "serve", "--host", "127.0.0.1", "--port", str(port)], ROUTE, port)
    )
    out.append(_starlette("starlette-raw", "raw_app:app"))
    if floor:
        out.append(_starlette("floor", "floor_app:app"))
    if prism:
        port = free_port()
        out.append(
            Server(
                "prism",
                [
                    str(PRISM),
                    "mock",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-v",
                    "error",
                    str(ROOT / "specs/modelslab.yaml"),
                ],
                ROUTE.removeprefix("/modelslab/api"),
                port,
            )
        )
    return out


def _starlette(name: str, app: str) -> Server:
    """A Starlette app of ``benchmarks/`` served as ``headshot-mock serve`` serves (uvloop, httptools)."""
    port = free_port()
    flags = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    command = [sys.executable, "-m", "uvicorn", app, "--app-dir", str(HERE), "--host", "127.0.0.1"]
    return Server(name, [*command, "--port", str(port), *flags], ROUTE, port)


def main(argv: list[str] | None = None) -> int:
    settings = Settings.parse(argv)
    if not shutil.which("taskset") or (os.cpu_count() or 1) < 2:
        raise SystemExit("bench: needs taskset (util-linux) and two cores: one for the server, one for wrk")
    ensure_wrk(settings.install)
    notes = []
    prism = settings.prism
    if prism and (why := ensure_prism(settings.install)) is not None:
        notes.append(f"Prism left out: {why}; compared against raw Starlette only")
        prism = False
    os.sched_setaffinity(0, {int(LOAD_CPU)})  # this script and wrk on the load core
    compile_package(ROOT)
    chosen = servers(prism, settings.floor)
    with contextlib.ExitStack() as stack:
        if settings.against:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-rev-")))
            chosen.insert(1, revision_server(settings.against, tmp))
        return _run(settings, chosen, prism, notes)


def _run(settings: Settings, chosen: list[Server], prism: bool, notes: list[str]) -> int:
    results = measure_servers(chosen, settings)
    extra: dict[str, Any] = {}
    log(f"ModelsLab flow x{settings.flows}")
    extra["flow"] = measure_flow(servers(False)[0], settings)
    if settings.suite:
        log("ClientSuite over ModelsLab's scenarios")
        extra["suite"] = measure_suite()
    mode = "quick" if settings.quick else "full"
    notes.append(
        f"{mode} run: {CONNECTIONS} connections, {settings.warmup:g} s warm-up, then {settings.rounds} "
        f"segment(s) of {settings.duration:g} s per load and server, alternating between the servers "
        f"(figures: medians over segments; ratios: medians of per-segment ratios); cold start median of "
        f"{settings.cold_runs}; servers on core {SERVER_CPU}, wrk on core {LOAD_CPU}; a shared machine: "
        "compare ratios within one run"
    )
    print(table(results, extra, notes, versions(prism)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
