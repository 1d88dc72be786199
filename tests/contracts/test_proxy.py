"""The proxy and the recorder, offline: upstreams are loopback servers (the mock itself, and a
deliberately drifted Starlette app), never the network."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from headshot_mock import create_app, specs
from headshot_mock.contracts.cli import main
from headshot_mock.contracts.drift import drift
from headshot_mock.contracts.proxy import create_proxy
from headshot_mock.contracts.verify import VerifyError
from headshot_mock.mockserver import BackgroundServer

STUDIO = Path(__file__).resolve().parents[1] / "fixtures" / "openapi" / "own" / "studio.yaml"
SECRET = "sk-live-0123456789abcdef"
GOOD = {"photo_url": "https://example.com/me.jpg"}


def drifted_studio() -> tuple[Starlette, list[str]]:
    """A Portrait Studio server that has drifted from its spec, and the log of calls it got."""
    calls: list[str] = []

    async def create(request: Request) -> Response:
        calls.append(f"POST {request.url.path}")
        # id is a number (the spec: a string p_<n>), `status` was renamed `state`, plus a new field.
        body = {"id": 5, "photo_url": "https://example.com/me.jpg", "state": "queued", "eta_seconds": 30}
        return JSONResponse(body, status_code=201)

    async def listing(request: Request) -> Response:
        calls.append(f"GET {request.url.path}")
        return JSONResponse({"message": "maintenance"}, status_code=503)  # not a declared status

    async def one(request: Request) -> Response:
        calls.append(f"GET {request.url.path}")
        body = {"id": request.path_params["id"], "photo_url": "https://example.com/me.jpg", "status": "done"}
        return JSONResponse(body)

    routes = [
        Route("/v1/portraits", create, methods=["POST"]),
        Route("/v1/portraits", listing, methods=["GET"]),
        Route("/v1/portraits/{id}", one, methods=["GET"]),
    ]
    return Starlette(routes=routes), calls


@pytest.fixture
def upstream() -> Iterator[tuple[BackgroundServer, list[str]]]:
    app, calls = drifted_studio()
    with BackgroundServer(app) as server:
        yield server, calls


def _proxy(server: BackgroundServer, **options: Any) -> Any:
    spec = specs.load_file(STUDIO)
    return create_proxy(spec.id, f"{server.url}/v1", **options)


def test_the_mock_itself_as_upstream_answers_within_its_spec() -> None:
    with BackgroundServer(create_app(providers=("modelslab",))) as mock:
        proxy = create_proxy("modelslab", f"{mock.url}/modelslab/api")
        with BackgroundServer(proxy) as front:
            ok = httpx.post(
                f"{front.url}/api/v6/image_editing/head_shot",
                json={"key": SECRET, "prompt": "a portrait", "face_image": "https://example.com/me.jpg"},
            )
            journal = httpx.get(f"{front.url}/__mock/journal").json()["entries"]
    assert ok.status_code == 200
    assert ok.headers["x-mock-proxy"] == "forwarded"
    assert "x-mock-violations" not in ok.headers
    assert journal[0]["response_findings"] == []
    assert journal[0]["request"]["body"]["key"] == "***"
    assert SECRET not in json.dumps(journal)
    assert proxy.state.stats.forwarded == 1


def test_violations_on_both_sides_are_reported_and_journaled(upstream: Any) -> None:
    server, calls = upstream
    proxy = _proxy(server)
    with BackgroundServer(proxy) as front:
        sent = httpx.post(f"{front.url}/v1/portraits", json={"photo_url": 7}, headers={"x-api-key": SECRET})
        listed = httpx.get(f"{front.url}/v1/portraits", headers={"x-api-key": SECRET})
        journal = httpx.get(f"{front.url}/__mock/journal").json()["entries"]
    assert sent.status_code == 201  # forwarded: without --errors the upstream decides
    violations = sent.headers["x-mock-violations"]
    assert "body.photo_url" in violations  # the request broke the spec
    assert "response:" in violations  # and so did the answer (a number id, no status)
    assert listed.status_code == 503
    assert "response:" in listed.headers["x-mock-violations"]
    assert calls == ["POST /v1/portraits", "GET /v1/portraits"]
    assert journal[0]["findings"][0]["field"] == "photo_url"
    assert journal[0]["response_findings"]
    assert journal[0]["request"]["headers"]["x-api-key"] == "***"
    summary = proxy.state.stats.summary()
    assert "2 of 20 requests forwarded" in summary
    assert "createPortrait: 1 request(s) broke the spec" in summary
    assert "listPortraits: 1 response(s) broke the spec" in summary


def test_a_proxy_refuses_the_admin_writes_it_could_not_apply_and_delays_by_latency(upstream: Any) -> None:
    """A proxy forwards every call: a rule, a default scenario, a job finish, a clock move or a
    webhook endpoint would never apply, so each is a 409 saying so (reads still answer). Latency
    does apply: it delays the forwarding, a slower upstream."""
    server, calls = upstream
    proxy = _proxy(server)
    spec_id = next(iter(proxy.state.engine.providers))
    with BackgroundServer(proxy) as front:
        admin = f"{front.url}/__mock"
        rule = {"provider": spec_id, "scenario": "success", "times": 1}
        refused = httpx.post(f"{admin}/rules", json=rule)
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "does nothing on a proxy" in refused.json()["detail"]
        assert "headshot-mock serve" in refused.json()["detail"]
        for path, body in (
            ("/defaults", {"provider": spec_id, "scenario": "success"}),
            ("/clock", {"advance": 5}),
        ):
            assert httpx.post(f"{admin}{path}", json=body).status_code == 409, path
        assert httpx.get(f"{admin}/rules").json() == {"rules": []}
        delay = httpx.put(f"{admin}/latency", json={"latency": [f"{spec_id}=fixed:0.4"]})
        assert delay.status_code == 200, delay.text
        started = time.monotonic()
        assert (
            httpx.post(f"{front.url}/v1/portraits", json=GOOD, headers={"x-api-key": SECRET}).status_code
            == 201
        )
        assert time.monotonic() - started >= 0.4, "the latency delayed the forwarding"
        assert httpx.delete(f"{admin}/latency").status_code == 204
        started = time.monotonic()
        httpx.post(f"{front.url}/v1/portraits", json=GOOD, headers={"x-api-key": SECRET})
        assert time.monotonic() - started < 0.4
    assert calls == ["POST /v1/portraits", "POST /v1/portraits"]


def test_errors_answers_a_bad_request_without_forwarding(upstream: Any) -> None:
    server, calls = upstream
    with BackgroundServer(_proxy(server, errors=True)) as front:
        refused = httpx.post(f"{front.url}/v1/portraits", json={"photo": "x"}, headers={"x-api-key": SECRET})
        keyless = httpx.post(f"{front.url}/v1/portraits", json=GOOD)
    assert refused.status_code == 422  # the spec's own invalid_request answer
    assert refused.json()["code"] == "invalid"
    assert refused.headers["x-mock-proxy"] == "refused"
    assert keyless.status_code == 401
    assert calls == []  # nothing reached the upstream


def test_the_budget_caps_what_is_forwarded(upstream: Any) -> None:
    server, calls = upstream
    proxy = _proxy(server, max_requests=2)
    with BackgroundServer(proxy) as front:
        statuses = [
            httpx.get(f"{front.url}/v1/portraits/p_{n}", headers={"x-api-key": SECRET}).status_code
            for n in range(4)
        ]
    assert statuses == [200, 200, 429, 429]
    assert len(calls) == 2
    assert proxy.state.stats.over_budget == 2


def test_a_remote_upstream_is_refused_unless_allowed() -> None:
    spec = specs.load_file(STUDIO)
    with pytest.raises(VerifyError, match="not loopback"):
        create_proxy(spec.id, "https://api.portrait-studio.example/v1")
    assert create_proxy(spec.id, "https://api.portrait-studio.example/v1", allow_remote=True) is not None
    assert main(["proxy", "--spec", str(STUDIO), "--upstream", "https://api.example.com/v1"]) == 2


def test_recordings_are_redacted_examples_and_drift_reports_the_differences(
    upstream: Any, tmp_path: Path
) -> None:
    server, _ = upstream
    folder = tmp_path / "recorded"
    with BackgroundServer(_proxy(server, record=folder)) as front:
        httpx.post(f"{front.url}/v1/portraits", json=GOOD, headers={"x-api-key": SECRET})
        httpx.get(f"{front.url}/v1/portraits", headers={"x-api-key": SECRET})
        httpx.get(f"{front.url}/v1/portraits/p_3", headers={"x-api-key": SECRET})
    files = sorted(folder.glob("*.json"))
    assert [f.name for f in files] == [
        "0001-createPortrait-201.json",
        "0002-listPortraits-503.json",
        "0003-getPortrait-200.json",
    ]
    assert all(SECRET not in f.read_text() for f in files)
    first = json.loads(files[0].read_text())
    assert first["example"]["name"] == "recorded_201_1"
    assert first["example"]["value"]["state"] == "queued"

    report = drift(folder)
    found = {(d.operation, d.kind, d.where) for d in report.differences}
    assert ("createPortrait", "schema", "/id") in found  # a number, not a string
    assert ("createPortrait", "undocumented-field", "/state") in found
    assert ("createPortrait", "undocumented-field", "/eta_seconds") in found
    assert ("createPortrait", "missing-field", "/status") in found  # the spec's example has it
    assert ("listPortraits", "undeclared-status", "") in found
    assert not [d for d in report.differences if d.operation == "getPortrait"]  # that one still matches
    assert report.exit_code == 1


def test_drift_cli(upstream: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server, _ = upstream
    with BackgroundServer(_proxy(server, record=tmp_path)) as front:
        httpx.get(f"{front.url}/v1/portraits/p_3", headers={"x-api-key": SECRET})
    assert main(["drift", str(tmp_path), "--spec", str(STUDIO)]) == 0
    assert "no drift" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_proxy_command_prints_a_summary_on_exit(upstream: Any) -> None:
    server, calls = upstream
    port = _free_port()
    command = [sys.executable, "-m", "headshot_mock.contracts.cli", "proxy", "--spec", str(STUDIO)]
    command += ["--upstream", f"{server.url}/v1", "--port", str(port), "--max-requests", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert f"proxy on http://127.0.0.1:{port}/v1" in proc.stdout.readline()
        deadline = time.monotonic() + 10
        while True:
            try:
                first = httpx.get(f"http://127.0.0.1:{port}/v1/portraits/p_1", headers={"x-api-key": SECRET})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the proxy did not come up"
                time.sleep(0.05)
        second = httpx.get(f"http://127.0.0.1:{port}/v1/portraits/p_2", headers={"x-api-key": SECRET})
        assert (first.status_code, second.status_code) == (200, 429)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    assert "1 of 1 requests forwarded, 0 refused without forwarding, 1 over the budget" in out
    assert calls == ["GET /v1/portraits/p_1"]
