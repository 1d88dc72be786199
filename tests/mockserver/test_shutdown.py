"""`headshot-mock serve` ends within 5 s of SIGTERM whatever its clients are doing, and the
connection timeouts hold while it runs. A real subprocess on a free loopback port, raw sockets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

EXIT_WITHIN = 5.0
PORTRAIT = b"/idphoto/api/generate-portrait"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, *flags: str) -> None:
        self.port = _free_port()
        command = [
            sys.executable,
            "-m",
            "headshot_mock.contracts.cli",
            "serve",
            "--port",
            str(self.port),
            *flags,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEADSHOT_MOCK_")}
        self.sockets: list[socket.socket] = []
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"serve did not start: {self.proc.communicate()[1].decode()}"
                    ) from None
                time.sleep(0.05)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.sockets.append(sock)
        return sock

    def terminate(self) -> float:
        """SIGTERM; seconds until the process ended."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("headshot-mock serve still ran 30 s after SIGTERM")
        return time.monotonic() - started

    def errors(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode()


@contextmanager
def served(*flags: str) -> Iterator[Served]:
    server = Served(*flags)
    try:
        yield server
    finally:
        for sock in server.sockets:
            sock.close()
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        if server.proc.stderr is not None:
            server.proc.stderr.close()


def _request(
    path: bytes, body: bytes = b"", *, declared: int | None = None, method: bytes = b"POST"
) -> bytes:
    length = len(body) if declared is None else declared
    head = (
        method + b" " + path + b" HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(length).encode() + b"\r\n\r\n"
    )
    return head + body


def _portrait(key: str) -> bytes:
    body = {"apiKey": key, "prompt": "p", "inputImages": ["data:image/jpeg;base64,/9j/"]}
    return json.dumps(body).encode()


def _read_all(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def _one_answer(sock: socket.socket) -> bytes:
    """One whole answer on a kept-alive connection (headers, then content-length bytes)."""
    sock.settimeout(10)
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head, _, body = raw.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return raw


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0


def _settle() -> None:
    time.sleep(0.4)  # the server has read what was sent and is waiting for the rest


@pytest.mark.parametrize(
    ("flags", "key"),
    [
        pytest.param((), "mock-timeout", id="timeout-hold-120s"),
        pytest.param(("--slow-seconds", "60"), "mock-slow", id="slow-60s"),
        pytest.param(("--time-scale", "1"), "k", id="realistic-duration"),
    ],
)
def test_a_held_request_ends_at_shutdown_with_503(flags: tuple[str, ...], key: str) -> None:
    with served(*flags) as server:
        sock = server.connect()
        sock.sendall(_request(PORTRAIT, _portrait(key)))
        _settle()
        took = server.terminate()
        answer = _read_all(sock)
    assert took < EXIT_WITHIN, f"exit took {took:.2f} s"
    assert _status(answer) == 503, answer[:200]
    assert b"connection: close" in answer
    assert b"application/problem+json" in answer


def test_half_sent_body_slowloris_and_idle_connections_do_not_delay_exit() -> None:
    with served() as server:
        half = server.connect()
        half.sendall(_request(PORTRAIT, b'{"apiKey":', declared=1000))
        loris = server.connect()
        loris.sendall(b"POST /idphoto/api/generate-portrait HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        idle = server.connect()
        idle.sendall(_request(b"/__mock/health", method=b"GET"))
        assert _status(_one_answer(idle)) == 200  # kept alive, now idle
        silent = server.connect()  # opened, never sends a byte
        _settle()
        loris.sendall(b"x-slow: 1\r\n")
        took = server.terminate()
        answers = [_read_all(s) for s in (half, loris, idle, silent)]
        errors = server.errors()
    assert took < EXIT_WITHIN, f"exit took {took:.2f} s"
    assert _status(answers[0]) == 503  # the half-received request is answered, then closed
    assert answers[1:] == [b"", b"", b""]  # the others are simply closed
    assert "Traceback" not in errors, errors


def test_many_pending_clients_at_once_still_exit_within_5_s() -> None:
    with served("--slow-seconds", "30") as server:
        socks = []
        for i in range(20):
            sock = server.connect()
            if i % 2:
                sock.sendall(_request(PORTRAIT, _portrait(("mock-timeout", "mock-slow")[i % 4 // 2])))
            else:
                sock.sendall(_request(PORTRAIT, b"{", declared=500))
            socks.append(sock)
        _settle()
        took = server.terminate()
        statuses = {_status(_read_all(s)) for s in socks}
    assert took < EXIT_WITHIN, f"exit took {took:.2f} s"
    assert statuses == {503}


def test_a_stalled_body_gets_408_after_body_timeout() -> None:
    with served("--body-timeout", "0.5") as server:
        sock = server.connect()
        started = time.monotonic()
        sock.sendall(_request(PORTRAIT, b'{"apiKey":', declared=1000))
        answer = _read_all(sock)
        waited = time.monotonic() - started
        server.terminate()
    assert _status(answer) == 408, answer[:200]
    assert b"body_timeout" in answer
    assert 0.4 < waited < 4.0


def test_slowloris_headers_are_cut_off_after_header_timeout() -> None:
    with served("--header-timeout", "0.6", "--keepalive-timeout", "30") as server:
        sock = server.connect()
        started = time.monotonic()
        sock.sendall(b"GET /__mock/health HTTP/1.1\r\n")
        closed_after = None
        sock.settimeout(0.2)
        while time.monotonic() - started < 5:
            try:
                sock.sendall(b"x-a: b\r\n")  # a header line every 0.2 s: keep-alive alone never ends it
                if sock.recv(1) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
        # A normal client on a new connection is served as before.
        ok = server.connect()
        ok.sendall(_request(b"/__mock/health", method=b"GET"))
        status = _status(_one_answer(ok))
        server.terminate()
    assert closed_after is not None
    assert 0.5 < closed_after < 3.0, closed_after
    assert status == 200


def test_an_idle_keepalive_connection_is_closed_after_keepalive_timeout() -> None:
    with served("--keepalive-timeout", "0.5") as server:
        sock = server.connect()
        sock.sendall(_request(b"/__mock/health", method=b"GET"))
        assert _status(_one_answer(sock)) == 200
        started = time.monotonic()
        rest = _read_all(sock, timeout=5)
        closed_after = time.monotonic() - started
        server.terminate()
    assert rest == b""
    assert closed_after < 3.0


def test_a_slow_but_steady_body_is_not_cut() -> None:
    """The body timeout is per pause, not per request: a body sent in pieces 0.3 s apart passes."""
    with served("--body-timeout", "1") as server:
        body = _portrait("k")
        sock = server.connect()
        sock.sendall(_request(PORTRAIT, declared=len(body)))
        for i in range(0, len(body), 20):
            time.sleep(0.3 if i < 80 else 0)
            sock.sendall(body[i : i + 20])
        sock.settimeout(10)
        answer = _one_answer(sock)
        server.terminate()
    assert _status(answer) == 200, answer[:300]
