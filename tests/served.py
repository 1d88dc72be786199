"""A real `headshot-mock` CLI process on a free loopback port, driven with raw sockets: what the
shutdown tests of `serve`, `serve --workers N` and `proxy` share."""

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

import httpx
import pytest

from tests.redis_server import free_port

EXIT_WITHIN = 5.0
"""How soon after SIGTERM a server must have ended, whatever its clients are doing."""
START_TIMEOUT = 30.0
PORTRAIT = b"/idphoto/api/generate-portrait"


class Served:
    """One CLI process, in a session of its own (a supervisor's workers are ours too)."""

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
        self.name = " ".join(argv)
        self.sockets: list[socket.socket] = []
        self._output: tuple[str, str] | None = None

    def wait_up(self, path: str | None = None) -> None:
        """Until the port accepts connections, or (``path``) answers it below 500."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.proc.communicate()[1]}")
            try:
                if path is None:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    return
                if httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=1).status_code < 500:
                    return
            except (OSError, httpx.TransportError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not come up in {START_TIMEOUT:g} s")
            time.sleep(0.05)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.sockets.append(sock)
        return sock

    def terminate(self) -> float:
        """SIGTERM to the process started here (by PID); seconds until it ended."""
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
        """Close the sockets, end the session if it still runs; its stdout and stderr."""
        if self._output is None:
            for sock in self.sockets:
                sock.close()
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the session this test started
                self.proc.wait(10)
            self._output = self.proc.communicate(timeout=10)
        return self._output


@contextmanager
def served(*argv: str, ready: str | None = None) -> Iterator[Served]:
    """A CLI process up (see :meth:`Served.wait_up`), closed at the end."""
    process = Served(*argv)
    try:
        process.wait_up(ready)
        yield process
    finally:
        process.close()


def request(path: bytes, body: bytes = b"", *, declared: int | None = None, method: bytes = b"POST") -> bytes:
    length = len(body) if declared is None else declared
    head = (
        method + b" " + path + b" HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(length).encode() + b"\r\n\r\n"
    )
    return head + body


def portrait(key: str) -> bytes:
    body = {"apiKey": key, "prompt": "p", "inputImages": ["data:image/jpeg;base64,/9j/"]}
    return json.dumps(body).encode()


def one_answer(sock: socket.socket) -> bytes:
    """One whole answer on a kept-alive connection (headers, then content-length bytes)."""
    sock.settimeout(10)

    def more() -> bytes:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        return chunk

    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += more()
    head, _, body = raw.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += more()
    return head + b"\r\n\r\n" + body


def read_all(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0


def settle(seconds: float = 0.4) -> None:
    time.sleep(seconds)  # the server has read what was sent and is waiting for the rest
