"""A user's own spec through the contract layer: MockSession, the pytest marker, the client
suite, verify and the CLI, exactly as for a bundled provider; and --watch."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from headshot_mock import MockSession, create_app
from headshot_mock.contracts.cli import main
from headshot_mock.contracts.suite import ClientSuite, raises, returns
from headshot_mock.contracts.verify import verify
from headshot_mock.contracts.violations import ContractViolation

OPENAPI = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"
STUDIO = OPENAPI / "own" / "studio.yaml"
PETSTORE = OPENAPI / "v3.0-petstore.yaml"


def test_mock_session_serves_a_users_spec_with_journal_assertions() -> None:
    with MockSession(specs=[str(STUDIO)]) as mock:
        client = mock.client("studio", headers={"x-api-key": "k"})
        mock_cleanup = client
        assert mock.base_url("studio").endswith("/studio/v1")
        created = client.post("/portraits", json={"photo_url": "https://example.com/me.jpg"})
        assert created.status_code == 201
        mock.assert_called("createPortrait", times=1)
        mock.assert_called_with("createPortrait", photo_url="https://example.com/me.jpg")
        mock.assert_no_violations()
        client.post("/portraits", json={"photo_url": "not a url", "style": "baroque"})
        with pytest.raises(ContractViolation, match=r"body\.style"):
            mock.assert_no_violations()
        with mock.scenario("rate_limited"):
            assert client.post("/portraits", json={"photo_url": "https://e.com/a"}).status_code == 429
        mock_cleanup.close()


def test_the_pytest_marker_takes_specs(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.headshot_mock(specs=[{str(PETSTORE)!r}])
        def test_pets(headshot_mock):
            with headshot_mock.client("swagger-petstore") as client:
                assert client.get("/pets", params={{"limit": 5}}).status_code == 200
            headshot_mock.assert_called("listPets", times=1)

        @pytest.mark.headshot_mock(specs=[{str(PETSTORE)!r}])
        def test_a_violation_fails(headshot_mock):
            with headshot_mock.client("swagger-petstore") as client:
                client.get("/pets", params={{"limit": "many"}})
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*query.limit*"])


class StudioError(Exception):
    pass


def studio_client(base_url: str, api_key: str) -> dict[str, Any]:
    """A small client of the Portrait Studio API: start a portrait, then read it back."""
    with httpx.Client(base_url=base_url, headers={"x-api-key": api_key}, timeout=5) as http:
        started = http.post("/portraits", json={"photo_url": "https://example.com/me.jpg"})
        if started.status_code >= 400:
            raise StudioError(f"{started.status_code}: {started.text}")
        got = http.get("/portraits/p_1")
        if got.status_code >= 400:
            raise StudioError(f"{got.status_code}: {got.text}")
        return dict(got.json())


class TestStudioClient(ClientSuite):
    spec = str(STUDIO)
    expect: ClassVar[dict[str, Any]] = {"rate_limited": returns(), "unauthorized": raises(StudioError, "401")}
    skip = ("timeout", "slow")

    def generate(self, base_url: str, api_key: str, photo: bytes) -> Any:
        result = studio_client(base_url, api_key)
        if result.get("status") == "failed":  # the retry the suite allows after one 429
            raise StudioError("failed")
        return result

    def run_scenario(self, mock: MockSession, scenario: str) -> None:
        if scenario == "rate_limited":  # this client does not retry: one 429 is its outcome
            type(self).expect = {**self.expect, "rate_limited": raises(StudioError, "429")}
        super().run_scenario(mock, scenario)


def test_the_suite_takes_its_scenarios_from_the_spec() -> None:
    assert TestStudioClient.provider == "studio"
    assert {"success", "processing", "unauthorized", "rate_limited", "slow", "timeout"} <= set(
        TestStudioClient.scenarios()
    )
    assert TestStudioClient.session_config().specs == (str(STUDIO),)


def test_verify_checks_a_server_against_a_users_spec() -> None:
    from headshot_mock.mockserver import BackgroundServer

    app = create_app(specs=(str(PETSTORE),), level="strict")
    with BackgroundServer(app) as server:
        report = verify("swagger-petstore", f"{server.url}/swagger-petstore/v1", max_requests=40, seed=3)
    assert report.requests_sent > 0
    assert report.requests_sent <= 40
    assert {r.operation_id for r in report.operations} == {"listPets", "createPets", "showPetById"}
    assert report.exit_code == 0, report.render()


def test_cli_verify_and_scenarios_take_a_spec_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "--spec", str(STUDIO)]) == 0
    assert "processing" in capsys.readouterr().out
    assert main(["verify", "--spec", str(PETSTORE), "--base-url", "http://127.0.0.1:9/x", "--dry-run"]) == 0
    assert "listPets" in capsys.readouterr().out
    assert main(["verify", "--base-url", "http://127.0.0.1:9/x"]) == 2
    assert "give --provider ID" in capsys.readouterr().err


def test_cli_refuses_an_invalid_spec_with_file_and_pointer(capsys: pytest.CaptureFixture[str]) -> None:
    broken = OPENAPI / "reference" / "modelslab-enterprise-image-editing.openapi.json"
    assert main(["serve", "--spec", str(broken)]) == 2
    err = capsys.readouterr().err
    assert f"{broken} at /paths/~1enterprise~1image_editing~1fetch~1{{id}}/post" in err
    assert "Path parameter 'id'" in err


def test_the_config_file_lists_specs_relative_to_itself(tmp_path: Path) -> None:
    from headshot_mock import MockConfig

    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "pets.yaml").write_text(PETSTORE.read_text())
    config = tmp_path / "mock.yaml"
    config.write_text("specs:\n  - pets=api/pets.yaml\nlevel: strict\n")
    loaded = MockConfig.load(file=config, environ={})
    assert loaded.served == ("pets",)
    assert loaded.specs == (f"pets={tmp_path / 'api' / 'pets.yaml'}",)


# --watch ------------------------------------------------------------------------------------------

DOC = {
    "openapi": "3.1.0",
    "info": {"title": "Live", "version": "1"},
    "paths": {
        "/hello": {
            "get": {
                "operationId": "hello",
                "responses": {
                    "200": {
                        "description": "hi",
                        "content": {"application/json": {"examples": {"success": {"value": {"say": "hi"}}}}},
                    }
                },
            }
        }
    },
}


def _write(path: Path, doc: dict[str, Any] | str) -> None:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    path.write_text(text)
    stat = path.stat()  # make the edit visible even on a coarse file-system clock
    import os

    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_watch_reloads_an_edit_and_keeps_the_last_good_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = tmp_path / "live.json"
    _write(file, DOC)
    with MockSession(specs=[str(file)], watch=True, live=True) as mock:
        watcher = mock.app.state.watcher
        client = mock.client("live")
        assert client.get("/hello").json() == {"say": "hi"}

        edited = json.loads(json.dumps(DOC))
        edited["paths"]["/hello"]["get"]["responses"]["200"]["content"]["application/json"]["examples"] = {
            "success": {"value": {"say": "hello again"}}
        }
        gone = {"204": {"description": "gone"}}
        edited["paths"]["/bye"] = {"get": {"operationId": "bye", "responses": gone}}
        _write(file, edited)
        deadline = time.monotonic() + 10
        while watcher.reloads < 1:  # the watcher thread picks the edit up by itself
            assert time.monotonic() < deadline, "the edit was not reloaded"
            time.sleep(0.05)
        assert client.get("/hello").json() == {"say": "hello again"}
        assert client.get("/bye").status_code == 204

        with caplog.at_level(logging.WARNING, logger="headshot_mock"):
            _write(file, '{"openapi": "3.1.0", "info": {"title": "Live"}, "paths": {}}')  # no version
            deadline = time.monotonic() + 10
            while "live" not in watcher.errors:
                assert time.monotonic() < deadline, "the broken edit was not noticed"
                time.sleep(0.05)
        assert "keeps serving its last good version" in caplog.text
        refused = watcher.errors["live"]
        assert '/info: is not valid OpenAPI 3.1.0: "version" is a required property' in refused
        assert client.get("/bye").status_code == 204  # still the last good version
        assert watcher.reloads == 1
        assert len(mock.requests()) == 4  # the journal survived the reload
        client.close()


@pytest.mark.slow
def test_serve_spec_prints_the_mount_and_the_notes_and_answers(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    scopes = OPENAPI / "v3.1-non-oauth-scopes.yaml"
    command = [sys.executable, "-m", "headshot_mock.contracts.cli", "serve", "--port", str(port)]
    command += ["--spec", f"scopes={scopes}", "--spec", str(STUDIO), "--dynamic"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        assert f"scopes     http://127.0.0.1:{port}/scopes" in lines[1]
        assert "note: GET /users has no operationId: it is called get_users" in lines[2]
        assert f"studio     http://127.0.0.1:{port}/studio/v1" in "".join(lines)
        deadline = time.monotonic() + 10
        while True:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/scopes/users", headers={"authorization": "Bearer t"}
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.05)
        assert answer.status_code == 204
        keyless = httpx.get(f"http://127.0.0.1:{port}/scopes/users")
        assert keyless.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_watch_follows_the_files_a_spec_refers_to(tmp_path: Path) -> None:
    root = tmp_path / "api.yaml"
    schema = tmp_path / "answer.yaml"
    schema.write_text("type: object\nrequired: [word]\nproperties: {word: {type: string, const: one}}\n")
    root.write_text(
        "openapi: 3.1.0\ninfo: {title: Split, version: '1'}\npaths:\n  /word:\n    get:\n"
        "      operationId: word\n      responses:\n        '200':\n          description: a word\n"
        "          content: {application/json: {schema: {$ref: 'answer.yaml'}}}\n"
    )
    with MockSession(specs=[str(root)], watch=True) as mock, mock.client("split") as client:
        assert client.get("/word").json() == {"word": "one"}
        _write(schema, "type: object\nrequired: [word]\nproperties: {word: {type: string, const: two}}\n")
        deadline = time.monotonic() + 10
        while mock.app.state.watcher.reloads < 1:
            assert time.monotonic() < deadline, "an edit of a referenced file was not reloaded"
            time.sleep(0.05)
        assert client.get("/word").json() == {"word": "two"}
