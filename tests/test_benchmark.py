"""The benchmark runs from the repository (``scripts/bench --quick``): here with a tiny load, to
prove that it starts every server, measures and stops them. Its figures are not asserted: the
machine's noise must never fail CI."""

from __future__ import annotations

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
        [sys.executable, "benchmarks/instructions.py", "-n", "16", "--warm", "8"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = dict(re.findall(r"^\| (headshot-mock|starlette-raw) \| ([\d,]+) \|", done.stdout, re.M))
    assert set(rows) == {"headshot-mock", "starlette-raw"}, done.stdout
    # Not a target, a sanity bound: the mock does more than a fixed answer, and a count this far off
    # would mean the wrong process (a forked image worker) was counted.
    mock, raw = (int(rows[name].replace(",", "")) for name in ("headshot-mock", "starlette-raw"))
    assert 0 < raw < mock, done.stdout
