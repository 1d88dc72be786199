"""`serve --workers N` and `proxy` are served as one-process `serve` is (tests/mockserver/
test_shutdown.py): SIGTERM ends them within 5 s while clients hold half-sent bodies, and the
header and body timeouts hold. Real subprocesses of the CLI on free loopback ports, raw sockets;
the workers share a real redis-server, the proxy forwards to a mock on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from headshot_mock.mockserver import BackgroundServer, create_app
from tests.mockserver.test_shutdown import PORTRAIT, _portrait, _read_all, _request, _status
from tests.redis_server import RedisServer, free_port

pytestmark = pytest.mark.slow

EXIT_WITHIN = 5.0
START_TIMEOUT = 30.0
ROUTE = PORTRAIT.removeprefix(b"/idphoto")  # idphoto's own path, as the proxy serves it


class Process:
    """One CLI process (its own session: a supervisor's workers are ours too) on a free port."""

    def __init__(self, *argv: str) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "headshot_mock.contracts.cli", *argv, "--port", str(self.port)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEADSHOT_MOCK_")}
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.sockets: list[socket.socket] = []

    def wait_up(self, path: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.proc.poll() is None, f"exited: {self.proc.communicate()[1]}"
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=1).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "did not come up"
            time.sleep(0.1)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.sockets.append(sock)
        return sock

    def terminate(self) -> float:
        """SIGTERM to the process we started (by PID); seconds until it ended."""
        started = time.monotonic()
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            tree = subprocess.run(
                ["ps", "-o", "pid,ppid,stat,etime,args", "--ppid", str(self.proc.pid)],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            pytest.fail(f"still running 30 s after SIGTERM; its children:\n{tree}")
        return time.monotonic() - started

    def close(self) -> tuple[str, str]:
        for sock in self.sockets:
            sock.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the session this test started
            self.proc.wait(10)
        out, err = self.proc.communicate(timeout=10)
        return out, err


@contextmanager
def cli(*argv: str, ready: str) -> Iterator[Process]:
    process = Process(*argv)
    try:
        process.wait_up(ready)
        yield process
    finally:
        process.close()


def _settle() -> None:
    time.sleep(0.5)  # the server has read what was sent and waits for the rest


@pytest.mark.redis
def test_serve_with_workers_on_redis_ends_within_5_s_with_half_sent_bodies(
    redis_session: RedisServer,
) -> None:
    flags = ("--workers", "2", "--state", redis_session.url, "--state-prefix", f"t-{uuid.uuid4().hex[:8]}")
    with cli("serve", *flags, ready="/__mock/health") as server:
        halves = []
        for _ in range(6):  # the kernel spreads connections over both workers
            sock = server.connect()
            sock.sendall(_request(PORTRAIT, b'{"apiKey":', declared=1000))
            halves.append(sock)
        held = server.connect()
        held.sendall(_request(PORTRAIT, _portrait("mock-timeout")))  # a 120 s hold
        _settle()
        took = server.terminate()
        answers = [_read_all(s) for s in (*halves, held)]
        _, errors = server.close()
    assert took < EXIT_WITHIN, f"exit took {took:.2f} s"
    assert {_status(a) for a in answers} == {503}, [a[:120] for a in answers]
    assert "Traceback" not in errors, errors
    assert "KeyError" not in errors, errors  # multiprocessing's resource tracker stays quiet


@pytest.mark.redis
def test_serve_workers_cut_slowloris_headers_and_stalled_bodies(redis_session: RedisServer) -> None:
    flags = ("--workers", "2", "--state", redis_session.url, "--state-prefix", f"t-{uuid.uuid4().hex[:8]}")
    timeouts = ("--header-timeout", "0.6", "--body-timeout", "0.6", "--keepalive-timeout", "30")
    with cli("serve", *flags, *timeouts, ready="/__mock/health") as server:
        stalled = server.connect()
        loris = server.connect()
        started = time.monotonic()
        stalled.sendall(_request(PORTRAIT, b'{"apiKey":', declared=1000))
        loris.sendall(b"GET /__mock/health HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        answer = _read_all(stalled)
        body_cut = time.monotonic() - started
        cut = _read_all(loris)  # closed by the header timeout (it would wait 30 s otherwise)
        header_cut = time.monotonic() - started
        server.terminate()
    assert _status(answer) == 408, answer[:200]
    assert 0.5 < body_cut < 4.0, body_cut
    assert cut == b""
    assert header_cut < 4.0, header_cut


def test_proxy_ends_within_5_s_with_a_half_sent_body() -> None:
    with BackgroundServer(create_app(providers=("idphoto",), root_provider="idphoto")) as upstream:
        argv = ("proxy", "--provider", "idphoto", "--upstream", upstream.url)
        with cli(*argv, ready="/__mock/health") as proxy:
            through = httpx.post(
                f"http://127.0.0.1:{proxy.port}{ROUTE.decode()}",
                json={"apiKey": "k", "prompt": "p", "inputImages": ["data:image/jpeg;base64,/9j/"]},
                timeout=10,
            )
            half = proxy.connect()
            half.sendall(_request(ROUTE, b'{"apiKey":', declared=1000))
            _settle()
            took = proxy.terminate()
            answer = _read_all(half)
            _, errors = proxy.close()
    assert through.status_code == 200, through.text
    assert through.headers["x-mock-proxy"] == "forwarded"
    assert took < EXIT_WITHIN, f"exit took {took:.2f} s"
    assert _status(answer) == 503, answer[:200]
    assert "Traceback" not in errors, errors
