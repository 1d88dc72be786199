"""The CLI: listings humans read, and errors that say what is valid."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from headshot_mock.contracts.cli import main


def test_providers_lists_real_and_mock_base_urls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers"]) == 0
    out = capsys.readouterr().out
    assert "modelslab  ModelsLab    real https://modelslab.com/api" in out
    assert "mock http://127.0.0.1:4010/modelslab/api" in out


def test_scenarios_lists_every_providers_vocabulary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for line in (
        "agentai:",
        "moderation_blocked",
        "magichour:",
        "no_face",
        "modelslab:",
        "processing",
        "timeout",
    ):
        assert line in out


def test_scenarios_of_an_unknown_provider(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "--provider", "modelslap"]) == 2
    assert "Did you mean 'modelslab'?" in capsys.readouterr().err


def test_unknown_flag_suggests_the_right_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--scenarion", "error"])
    assert info.value.code == 2
    assert "did you mean --scenario?" in capsys.readouterr().err


def test_unknown_scenario_is_refused_before_serving(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--scenario", "procesing"]) == 2
    assert "Did you mean 'processing'?" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_prints_base_urls_and_answers(tmp_path: object) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "headshot_mock.contracts.cli",
            "serve",
            "--port",
            str(port),
            "--provider",
            "idphoto",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"serving on http://127.0.0.1:{port}" in first
        assert f"idphoto    http://127.0.0.1:{port}" in proc.stdout.readline()
        deadline = time.monotonic() + 10
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/__mock/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.05)
        assert health.json()["providers"] == ["idphoto"]
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/generate-portrait",
            json={"apiKey": "k", "prompt": "p", "inputImages": ["data:image/jpeg;base64,AA=="]},
        )
        assert answer.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import headshot_mock

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"headshot-mock {headshot_mock.__version__}\n"


def test_serve_on_a_port_in_use_says_so_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no "serving on ..." banner first
    assert err.splitlines() == [
        f"headshot-mock: error: port {port} on 127.0.0.1 is already in use (another headshot-mock or "
        "server listens there): stop it, or serve on another port with --port N."
    ]
