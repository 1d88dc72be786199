"""A real ``redis-server`` for the Redis store's tests and the state benchmark: a free loopback
port, a temporary directory, no persistence; stopped by its PID. Tests using it skip, saying how
to install it, where the binary is missing (CI installs it: .ci/run); ``benchmarks/state.py``
starts it with :func:`running` (no pytest there)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

INSTALL = "install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) to run them"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    directory: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def start_again(self) -> None:
        """Start a fresh server on the same port (after :meth:`stop`)."""
        self.process = _spawn(self.port, self.directory)


def _spawn(port: int, directory: str) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    assert binary is not None
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            directory,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode} on port {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return process
        except OSError:
            time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    raise RuntimeError(f"redis-server did not answer on port {port} within 10 s")


@contextmanager
def running() -> Iterator[RedisServer]:
    """A redis-server for the duration (FileNotFoundError when it is not installed)."""
    if shutil.which("redis-server") is None:
        raise FileNotFoundError(f"redis-server is not installed; {INSTALL}")
    with tempfile.TemporaryDirectory(prefix="headshot-redis-") as directory:
        port = free_port()
        server = RedisServer(port, _spawn(port, directory), directory)
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """:func:`running`, for a test: skips, saying how to install it, where it is missing."""
    if shutil.which("redis-server") is None:
        import pytest

        pytest.skip(f"redis-server is not installed: the Redis store's tests need it; {INSTALL}")
    with running() as server:
        yield server
