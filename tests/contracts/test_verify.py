"""``headshot-mock verify``: schemathesis against a server, with a hard budget and no traffic off loopback.

Every run here targets a loopback BackgroundServer; the remote-refusal tests forbid sockets outright.
"""

from __future__ import annotations

import json
import socket
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headshot_mock import specs
from headshot_mock.contracts.cli import main
from headshot_mock.contracts.verify import VerifyError, check_target, verify
from headshot_mock.mockserver import BackgroundServer, MockConfig, create_app

MAX_REQUESTS = 60
MAX_EXAMPLES = 5
SEED = 3

# ---- servers under test ---------------------------------------------------------------------------


class Counting:
    """ASGI wrapper counting the HTTP requests that reach the app (the budget is checked here)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.count += 1
        await self.app(scope, receive, send)


class Drifted:
    """The mock with three deliberate drifts from the specs:

    1. ModelsLab generations answer ``id`` as a string (the spec says integer);
    2. Magic Hour ``createAiHeadshot`` drops the required ``frame_cost``;
    3. idphoto ``generatePortrait`` answers 418, a status its spec does not document.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(("/modelslab/", "/magichour/", "/idphoto/")):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        status, body = self.drift(path, start["status"], b"".join(chunks))
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def drift(path: str, status: int, body: bytes) -> tuple[int, bytes]:
        if path.endswith("/generate-portrait"):
            return 418, b'{"error": "I am a teapot"}'
        try:
            data = json.loads(body)
        except ValueError:
            return status, body
        if not isinstance(data, dict):
            return status, body
        if path.startswith("/modelslab/") and "/fetch/" not in path and isinstance(data.get("id"), int):
            data["id"] = str(data["id"])
        elif path.endswith("/ai-headshot-generator") and status == 200:
            data.pop("frame_cost", None)
        return status, json.dumps(data).encode()


@pytest.fixture(scope="module")
def strict() -> Iterator[tuple[BackgroundServer, Counting]]:
    """The mock at the strict level (invalid bodies refused), counting requests."""
    app = Counting(create_app(config=MockConfig(level="strict")))
    with BackgroundServer(app) as server:
        yield server, app


@pytest.fixture(scope="module")
def drifted() -> Iterator[BackgroundServer]:
    with BackgroundServer(Drifted(create_app(config=MockConfig(level="strict")))) as server:
        yield server


def base(server: BackgroundServer, provider: str) -> str:
    return f"{server.url}/{provider}{specs.load(provider).base_path}"


def run(server: BackgroundServer, provider: str, **options: Any) -> Any:
    options = {"max_requests": MAX_REQUESTS, "max_examples": MAX_EXAMPLES, "seed": SEED, **options}
    return verify(provider, base(server, provider), **options)


# ---- the mock agrees with its own specs ---------------------------------------------------------


@pytest.mark.parametrize(
    "provider",
    [
        pytest.param("agentai", id="agentai"),
        pytest.param("idphoto", id="idphoto"),
        pytest.param("magichour", id="magichour"),
        pytest.param("modelslab", id="modelslab"),
    ],
)
def test_the_strict_mock_passes_its_own_spec(
    strict: tuple[BackgroundServer, Counting], provider: str
) -> None:
    server, _ = strict
    report = run(server, provider)
    assert report.requests_sent > 0
    assert report.ok, report.render()
    tested = [op for op in report.operations if op.status == "passed"]
    assert tested, report.render()


def test_every_bundled_provider_is_covered() -> None:
    assert specs.providers() == ("agentai", "idphoto", "magichour", "modelslab")


def test_the_stateful_phase_follows_the_links(strict: tuple[BackgroundServer, Counting]) -> None:
    server, _ = strict
    report = run(server, "magichour", max_requests=80)
    assert ("createAiHeadshot", "getImageProject") in report.links
    assert report.operation("createAiHeadshot").phases.get("stateful", 0) > 0
    linked = report.operation("getImageProject").phases.get("stateful", 0)
    linked += report.operation("deleteImageProject").phases.get("stateful", 0)
    assert linked > 0, report.render()


def test_an_operation_on_another_host_is_skipped(strict: tuple[BackgroundServer, Counting]) -> None:
    server, _ = strict
    report = run(server, "magichour", phases=("positive",), max_requests=10, max_examples=2)
    upload = report.operation("uploadAsset")
    assert upload.status == "skipped"
    assert upload.requests == 0
    assert "https://videos.magichour.ai" in (upload.skipped or "")
    assert "SKIP  uploadAsset" in report.render()


# ---- drift is reported with the operation and the difference -----------------------------------


@pytest.mark.parametrize(
    ("provider", "operation", "check", "difference"),
    [
        pytest.param(
            "modelslab",
            "headShot",
            "response_schema_conformance",
            "response body at /id: ",
            id="modelslab-id-as-string",
        ),
        pytest.param(
            "magichour",
            "createAiHeadshot",
            "response_schema_conformance",
            'response body: "frame_cost" is a required property',
            id="magichour-frame-cost-dropped",
        ),
        pytest.param(
            "idphoto",
            "generatePortrait",
            "status_code_conformance",
            "status 418 not documented",
            id="idphoto-undocumented-418",
        ),
    ],
)
def test_drift_is_reported(
    drifted: BackgroundServer, provider: str, operation: str, check: str, difference: str
) -> None:
    report = run(drifted, provider, phases=("positive",))
    assert not report.ok
    failures = [f for f in report.operation(operation).failures if f.check == check]
    assert failures, report.render()
    failure = failures[0]
    assert failure.difference.startswith(difference), failure.difference
    assert failure.request is not None
    assert failure.request.url.startswith(base(drifted, provider))
    assert failure.phase == "positive"
    rendered = report.render()
    assert f"FAIL  {operation}" in rendered
    assert f"{check} [positive]: {failure.difference}" in rendered
    assert report.exit_code == 1


def test_modelslab_id_drift_names_the_type(drifted: BackgroundServer) -> None:
    report = run(drifted, "modelslab", phases=("positive",), max_requests=20)
    differences = [f.difference for f in report.operation("headShot").failures]
    assert any(d.startswith("response body at /id: ") and "integer" in d for d in differences), differences


def test_failures_never_show_the_api_key(drifted: BackgroundServer) -> None:
    report = run(drifted, "idphoto", phases=("positive",), api_key="sk-very-secret", max_requests=5)
    assert report.failures
    assert "sk-very-secret" not in report.render()
    assert "sk-very-secret" not in report.junit_xml()


# ---- budget and safety ---------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [pytest.param(1, id="one"), pytest.param(7, id="seven")])
def test_the_budget_is_a_hard_cap(strict: tuple[BackgroundServer, Counting], budget: int) -> None:
    server, counter = strict
    before = counter.count
    report = run(server, "modelslab", max_requests=budget, max_examples=10)
    assert counter.count - before == budget == report.requests_sent
    assert report.budget_exhausted
    assert "the budget was reached" in report.render()
    assert sum(op.requests for op in report.operations) == budget
    assert any("budget ran out" in (op.skipped or "") for op in report.operations)


def test_dry_run_sends_nothing(strict: tuple[BackgroundServer, Counting]) -> None:
    server, counter = strict
    before = counter.count
    report = run(server, "magichour", dry_run=True)
    assert counter.count == before
    assert report.requests_sent == 0
    assert report.ok
    rendered = report.render()
    assert rendered.startswith(f"DRY RUN: would verify magichour against {base(server, 'magichour')}")
    assert "budget 60 requests" in rendered
    assert "PLAN  createAiHeadshot    POST /v1/ai-headshot-generator" in rendered
    assert "createAiHeadshot -> getImageProject" in rendered
    assert "Nothing was sent" in rendered


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket connection or name lookup fails the test."""

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network traffic attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(socket.socket, "connect_ex", forbidden)
    monkeypatch.setattr(socket, "getaddrinfo", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://modelslab.com/api", id="real-provider"),
        pytest.param("http://10.0.0.5:4010/modelslab/api", id="private-address"),
        pytest.param("http://localhost.example.com/api", id="lookalike-name"),
    ],
)
def test_a_remote_url_is_refused_without_allow_remote(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(VerifyError, match="--allow-remote"):
        verify("modelslab", url)
    assert main(["verify", "--provider", "modelslab", "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert "not loopback" in err
    assert "Pass --allow-remote" in err


@pytest.mark.usefixtures("no_network")
def test_a_remote_dry_run_with_allow_remote_still_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["verify", "--provider", "modelslab", "--base-url", "https://modelslab.com/api"]
    assert main([*argv, "--allow-remote", "--dry-run"]) == 0
    assert "would verify modelslab against https://modelslab.com/api" in capsys.readouterr().out


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://127.0.0.1:4010/modelslab/api", id="ipv4"),
        pytest.param("http://127.5.6.7/x", id="ipv4-range"),
        pytest.param("http://[::1]:4010/x", id="ipv6"),
        pytest.param("http://localhost:4010/x/", id="localhost"),
    ],
)
def test_loopback_targets_are_allowed(url: str) -> None:
    assert check_target(url, allow_remote=False) == url.rstrip("/")


# ---- the report files and the CLI ----------------------------------------------------------------


def test_junit_xml_has_one_testcase_per_operation(drifted: BackgroundServer, tmp_path: Path) -> None:
    target = tmp_path / "verify.xml"
    report = run(drifted, "magichour", phases=("positive",), max_requests=30, junit_xml=target)
    suite = ET.parse(target).getroot()
    assert suite.tag == "testsuite"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {op.operation_id for op in specs.load("magichour").operations}
    failure = cases["createAiHeadshot"].find("failure")
    assert failure is not None
    assert '"frame_cost" is a required property' in (failure.get("message") or "")
    assert cases["uploadAsset"].find("skipped") is not None
    assert suite.get("failures") == str(sum(1 for op in report.operations if op.failures))


def test_cli_exit_codes(
    strict: tuple[BackgroundServer, Counting],
    drifted: BackgroundServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = strict
    common = ["--max-requests", "20", "--max-examples", "3", "--seed", "1"]
    assert main(["verify", "--provider", "agentai", "--base-url", base(server, "agentai"), *common]) == 0
    assert "Result: no failures." in capsys.readouterr().out

    junit = tmp_path / "out.xml"
    argv = ["verify", "--provider", "idphoto", "--base-url", base(drifted, "idphoto"), *common]
    assert main([*argv, "--junit-xml", str(junit)]) == 1
    out = capsys.readouterr().out
    assert "status 418 not documented" in out
    assert ET.parse(junit).getroot().tag == "testsuite"

    assert main(["verify", "--provider", "modelslap", "--base-url", base(server, "modelslab")]) == 2
    assert "Did you mean 'modelslab'?" in capsys.readouterr().err
    assert main(["verify", "--provider", "modelslab", "--base-url", "not a url"]) == 2
    assert "Bad base URL" in capsys.readouterr().err


def test_cli_dry_run(strict: tuple[BackgroundServer, Counting], capsys: pytest.CaptureFixture[str]) -> None:
    server, counter = strict
    before = counter.count
    argv = ["verify", "--provider", "modelslab", "--base-url", base(server, "modelslab"), "--dry-run"]
    assert main([*argv, "--max-requests", "25"]) == 0
    assert counter.count == before
    out = capsys.readouterr().out
    assert "budget 25 requests" in out
    assert "PLAN  headShot" in out


def test_cli_requires_provider_and_base_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["verify", "--provider", "modelslab"])
    assert info.value.code == 2
    assert "--base-url" in capsys.readouterr().err


def test_an_unreachable_server_is_a_failure_not_a_crash() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        report = verify("agentai", f"http://127.0.0.1:{port}/agentai/v1", max_requests=5, seed=1)
    assert not report.ok
    assert report.requests_sent == 1
    assert report.aborted is not None
    assert report.failures[0][1].check == "transport"


@pytest.mark.parametrize("missing", ["schemathesis", "requests"])
def test_without_the_verify_extra_verify_says_how_to_install_it(
    missing: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # what an install without the extra looks like
    url = "http://127.0.0.1:9/modelslab/api"
    with pytest.raises(VerifyError, match=r"pip install 'headshot-mock\[verify\]'") as caught:
        verify("modelslab", url, dry_run=True)
    assert missing in str(caught.value)
    argv = ["verify", "--provider", "modelslab", "--base-url", url, "--dry-run"]
    assert main(argv) == 2
    assert "pip install 'headshot-mock[verify]'" in capsys.readouterr().err
