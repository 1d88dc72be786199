"""The benchmark runs from the repository (``scripts/bench --quick``): here with a tiny load, to
prove that it starts every server, measures and stops them. Its figures are not asserted: the
machine's noise must never fail CI."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("wrk") and shutil.which("taskset")),
    reason="needs wrk and taskset (.ci/run installs wrk)",
)
def test_quick_benchmark_measures_every_server_and_prints_one_table() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--duration", "1", "--no-prism", "--no-suite"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    row = r"^\| (headshot-mock|starlette-raw) \| (\d+) \| ([\d,]+) \|"
    rows = {m[0]: m for m in re.findall(row, out, re.M)}
    assert set(rows) == {"headshot-mock", "starlette-raw"}, out
    assert rows["headshot-mock"][1] == "400"  # the invalid body is refused in ModelsLab's envelope
    assert rows["starlette-raw"][1] == "200"  # the ceiling does not validate
    assert all(int(r[2].replace(",", "")) > 0 for r in rows.values())
    for target in ("valid rps vs starlette-raw", "cold start", "RSS after load", "ModelsLab processing"):
        assert target in out, out
    assert re.search(r"^date: \d{4}-\d\d-\d\d", out, re.M)
    assert "python: 3." in out
    assert "Prism left out" not in out  # --no-prism is not a failure to install it


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("wrk"), reason="needs wrk (.ci/run installs it)")
def test_quick_soak_sends_exactly_its_count_and_the_server_comes_back_clean(tmp_path: Path) -> None:
    """`benchmarks/soak.py --quick`: 20,000 mixed requests, every answer counted; it fails on a 5xx
    the mix did not ask for, a traceback in the server's log or fds not back to baseline."""
    import json

    figures_file = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/soak.py", "--quick", "--json", str(figures_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    figures = json.loads(figures_file.read_text())
    assert figures["answers"]["total"] == 20_000
    assert figures["5xx_not_asked_for"] == 0
    assert figures["5xx_asked_for"] > 0  # the mix does ask for the server_error scenario
    assert figures["webhooks_received"] > 0
    assert (figures["fds_back_to_baseline"], figures["server_log_tracebacks"]) == (True, 0)


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("valgrind"), reason="needs valgrind (.ci/run installs it)")
def test_instruction_counts_are_printed_for_the_mock_and_raw_starlette() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/instructions.py", "-n", "16", "--warm", "8", "--floor"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = dict(re.findall(r"^\| (headshot-mock|starlette-raw|floor) \| ([\d,]+) \|", done.stdout, re.M))
    assert set(rows) == {"headshot-mock", "starlette-raw", "floor"}, done.stdout
    # Not a target, a sanity bound: the mock does more than the floor, the floor more than a fixed
    # answer, and a count this far off would mean the wrong process (an image worker) was counted.
    mock, raw, floor = (
        int(rows[name].replace(",", "")) for name in ("headshot-mock", "starlette-raw", "floor")
    )
    assert 0 < raw < floor < mock, done.stdout


async def test_the_floor_answers_as_the_mock_does() -> None:
    """``benchmarks/floor_app.py`` is a bound only if it gives headshot-mock's answer: the same
    statuses, the same keys (``meta``'s too) and echoed values, and an error naming the fields."""
    import httpx

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        floor_app = importlib.import_module("floor_app")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from headshot_mock import create_app

    route = "/modelslab/api/v6/image_editing/flux_headshot"
    answers = {}
    for name, app in (("mock", create_app()), ("floor", floor_app.app)):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4010") as client:
            for kind in ("valid", "invalid"):
                body = (ROOT / "benchmarks" / "bodies" / f"{kind}.json").read_bytes()
                headers = {"content-type": "application/json"}
                answers[name, kind] = await client.post(route, content=body, headers=headers)
    mock, floor = answers["mock", "valid"], answers["floor", "valid"]
    assert (mock.status_code, floor.status_code) == (200, 200)
    assert list(floor.json()) == list(mock.json())
    assert list(floor.json()["meta"]) == list(mock.json()["meta"])
    assert floor.json()["meta"] | {"file_prefix": ""} == mock.json()["meta"] | {"file_prefix": ""}
    for name in ("mock", "floor"):
        refused = answers[name, "invalid"]
        assert refused.status_code == 400
        assert {"prompt", "width"} <= set(re.findall(r"\w+", refused.json()["message"])), refused.text
