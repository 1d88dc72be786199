"""Several workers, one mock: real `headshot-mock serve` processes sharing a real redis-server.

Jobs created through one worker are polled through another, a queued rule answers exactly its
count across all of them, each webhook is delivered once, and a worker killed with SIGKILL loses
nothing: the survivor finishes its jobs and sends their webhooks. Counted from the journal, the
delivery log and what the receiver got."""

from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from headshot_mock.contracts.receiver import WebhookReceiver
from tests.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.redis]

CREATE = "/magichour/v1/ai-headshot-generator"
PROJECT = "/magichour/v1/image-projects/{id}"
HEAD_SHOT = "/modelslab/api/v6/image_editing/head_shot"
FETCH = "/modelslab/api/v6/image_editing/fetch/{id}"
BEARER = {"authorization": "Bearer k"}
FACE = {"assets": {"image_file_path": "https://example.com/face.jpg"}}
SECRET = "whsec_scale_out"
START_TIMEOUT = 20.0


class Mock:
    """One `serve` process (of any number of workers) on a free loopback port."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=15)

    def kill(self) -> None:
        """SIGKILL, by PID: no shutdown code runs."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def idle(self) -> None:
        answer = self.http.post("/__mock/idle", params={"timeout": "20"})
        assert answer.status_code == 204, answer.text


@contextmanager
def serve(redis: RedisServer, prefix: str, *flags: str, env: dict[str, str] | None = None) -> Iterator[Mock]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "headshot_mock.contracts.cli",
        "serve",
        "--port",
        str(port),
        "--state",
        redis.url,
        "--state-prefix",
        prefix,
        *flags,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {}), "HEADSHOT_MOCK_CLAIM_LEASE": "2"},
        start_new_session=True,
    )
    mock = Mock(process, port)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, f"serve exited: {process.stderr.read() if process.stderr else ''}"
            try:
                if mock.http.get("/__mock/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.05)
        yield mock
    finally:
        mock.http.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # its own session: the workers too
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
def prefix() -> str:
    return f"scale-{uuid.uuid4().hex[:8]}"


def _webhook_entries(mock: Mock) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = mock.http.get("/__mock/journal", params={"kind": "webhook"}).json()[
        "entries"
    ]
    return entries


def test_two_servers_serve_one_mock(redis_session: RedisServer, prefix: str) -> None:
    with (
        WebhookReceiver(secret=SECRET) as hooks,
        serve(redis_session, prefix) as a,
        serve(redis_session, prefix) as b,
    ):
        # A job created through one is polled through the other, phase by phase.
        made = a.http.post(
            HEAD_SHOT, json={"key": "mock-processing", "prompt": "p", "face_image": "https://e.com/f.jpg"}
        )
        states = [
            b.http.post(FETCH.format(id=made.json()["id"]), json={"key": "k"}).json()["status"]
            for _ in range(3)
        ]
        assert states == ["processing", "success", "success"]

        # The clock is shared.
        a.http.post("/__mock/clock", json={"advance": 30})
        assert b.http.get("/__mock/clock").json()["offset"] == 30

        # A rule with times: 5 answers exactly 5 of 40 concurrent calls spread over both.
        rule = {"provider": "modelslab", "scenario": "rate_limited", "operation": "headShot", "times": 5}
        assert b.http.post("/__mock/rules", json=rule).status_code == 201
        body = {"key": "k", "prompt": "p", "face_image": "https://e.com/f.jpg"}
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: (a, b)[i % 2].http.post(HEAD_SHOT, json=body), range(40)))
        scenarios = collections.Counter(r.headers["x-mock-scenario"] for r in answers)
        assert scenarios == {"rate_limited": 5, "success": 35}
        assert a.http.get("/__mock/rules").json()["rules"] == []

        # Each webhook event is delivered exactly once, whichever worker created the project.
        assert (
            a.http.post("/__mock/webhooks/endpoints", json={"url": hooks.url, "secret": SECRET}).status_code
            == 201
        )
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            projects = list(
                pool.map(lambda i: (a, b)[i % 2].http.post(CREATE, json=FACE, headers=BEARER), range(20))
            )
        ids = {p.json()["id"] for p in projects}
        a.idle()
        b.idle()
        got = collections.Counter((d.json["payload"]["id"], d.json["type"]) for d in hooks.deliveries)
        assert got == {(pid, event): 1 for pid in ids for event in ("image.started", "image.completed")}
        assert all(d.verified for d in hooks.deliveries)
        deliveries = b.http.get("/__mock/webhooks/deliveries").json()["deliveries"]
        assert len(deliveries) == 40
        assert {d["state"] for d in deliveries} == {"delivered"}
        assert len(_webhook_entries(a)) == 40, "one journal entry per attempt"

        # The journal shows all traffic, from both servers, in one order.
        requests = [e for e in a.http.get("/__mock/journal").json()["entries"] if e.get("kind") != "webhook"]
        assert sum(1 for e in requests if e["operation"] == "createAiHeadshot") == 20
        assert [e["seq"] for e in requests] == sorted(e["seq"] for e in requests)


def test_a_server_answering_from_its_remembered_opening_runs_a_call_again_for_a_new_rule(
    redis_session: RedisServer, prefix: str
) -> None:
    """Over real HTTP: a remembers headShot's opening (no rule); a rule queued through b is
    refused to a's first write, and the call runs again (its body read again) and takes it."""
    body = {"key": "k", "prompt": "p", "face_image": "https://e.com/f.jpg"}
    with serve(redis_session, prefix) as a, serve(redis_session, prefix) as b:
        assert [a.http.post(HEAD_SHOT, json=body).headers["x-mock-scenario"] for _ in range(2)] == [
            "success",
            "success",
        ]
        rule = {"provider": "modelslab", "scenario": "error", "operation": "headShot", "times": 1}
        assert b.http.post("/__mock/rules", json=rule).status_code == 201
        seen = [a.http.post(HEAD_SHOT, json=body) for _ in range(2)]
        assert [r.headers["x-mock-scenario"] for r in seen] == ["error", "success"]
        entries = a.http.get("/__mock/journal").json()["entries"]
        assert len(entries) == 4, "a call run again is journaled once"
        assert entries[2]["request"]["body"]["prompt"] == "p"


def test_a_worker_killed_mid_run_loses_nothing(redis_session: RedisServer, prefix: str) -> None:
    # time scale 0.2: each project is queued 0.4 s, then renders 2.4 s.
    with WebhookReceiver(secret=SECRET) as hooks, serve(redis_session, prefix, "--time-scale", "0.2") as a:
        a.http.post("/__mock/webhooks/endpoints", json={"url": hooks.url, "secret": SECRET})
        ids = [a.http.post(CREATE, json=FACE, headers=BEARER).json()["id"] for _ in range(10)]
        with serve(redis_session, prefix, "--time-scale", "0.2") as b:
            hooks.wait_for(10, timeout=20)  # every image.started is out
            time.sleep(0.2)  # a moment, so that no delivery is in flight when the worker dies
            started = [d for d in hooks.deliveries if d.json["type"] == "image.started"]
            a.kill()
            b.idle()
            for pid in ids:
                project = b.http.get(PROJECT.format(id=pid), headers=BEARER).json()
                assert project["status"] == "complete"
            got = collections.Counter((d.json["payload"]["id"], d.json["type"]) for d in hooks.deliveries)
            assert got == {(pid, event): 1 for pid in ids for event in ("image.started", "image.completed")}
            assert len(started) == 10
            deliveries = b.http.get("/__mock/webhooks/deliveries").json()["deliveries"]
            assert sorted(d["event"] for d in deliveries) == ["image.completed"] * 10 + ["image.started"] * 10
            assert {d["state"] for d in deliveries} == {"delivered"}
            attempts = _webhook_entries(b)
            assert len(attempts) == 20
            assert len({e["delivery"] for e in attempts}) == 20, "no delivery attempted twice"


def test_serve_workers_2_shares_one_state(redis_session: RedisServer, prefix: str) -> None:
    with WebhookReceiver() as hooks, serve(redis_session, prefix, "--workers", "2") as mock:
        children = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(mock.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(children) >= 2, f"two worker processes, got {children}"
        body = {"prompt": "p", "face_image": "https://e.com/f.jpg", "webhook": hooks.url, "track_id": "t"}
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            made = list(
                pool.map(
                    lambda i: mock.http.post(HEAD_SHOT, json={**body, "key": "mock-processing"}), range(30)
                )
            )
        ids = [m.json()["id"] for m in made]
        assert len(set(ids)) == 30, "ids are unique across workers"
        for job_id in ids:
            for _ in range(2):
                mock.http.post(FETCH.format(id=job_id), json={"key": "k"})
        mock.idle()
        assert sorted(d.json["id"] for d in hooks.deliveries) == sorted(ids), "one result POST per job"
        jobs = mock.http.get("/__mock/jobs", params={"provider": "modelslab"}).json()["jobs"]
        assert sorted(int(j["id"]) for j in jobs) == sorted(ids)
        assert all(j["polls"] == 2 for j in jobs)


def test_redis_lost_mid_run_answers_503_then_recovers() -> None:
    from tests.redis_server import redis_server

    with redis_server() as redis, serve(redis, "lost") as mock:
        body = {"key": "k", "prompt": "p", "face_image": "https://e.com/f.jpg"}
        assert mock.http.post(HEAD_SHOT, json=body).status_code == 200
        redis.stop()
        for method, path, payload in (("POST", HEAD_SHOT, body), ("GET", "/__mock/journal", None)):
            started = time.monotonic()
            answer = mock.http.request(method, path, json=payload)
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            problem = json.loads(answer.text)
            assert "state store" in problem["detail"]
            assert redis.url.rsplit("/", 1)[0] in problem["detail"]
            assert time.monotonic() - started < 10, "within the request timeout"
        redis.start_again()
        deadline = time.monotonic() + 15
        while mock.http.post(HEAD_SHOT, json=body).status_code != 200:
            assert time.monotonic() < deadline, "the mock did not recover by itself"
            time.sleep(0.1)
        assert mock.http.get("/__mock/journal").status_code == 200


def test_a_wrong_state_url_is_a_one_line_error() -> None:
    port = free_port()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "headshot_mock.contracts.cli",
            "serve",
            "--state",
            f"redis://127.0.0.1:{port}/0",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"redis://127.0.0.1:{port}/0 is unavailable" in lines[0]
    assert "--state" in lines[0]


def test_workers_with_memory_state_are_refused_with_what_to_do() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "headshot_mock.contracts.cli", "serve", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "needs shared state" in done.stderr
    assert "--state redis://" in done.stderr
