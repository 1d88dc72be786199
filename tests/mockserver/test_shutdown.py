"""`headshot-mock serve` ends within 5 s of SIGTERM whatever its clients are doing, and the
connection timeouts hold while it runs. A real subprocess on a free loopback port, raw sockets;
the mock's background work ending at shutdown is also checked in-process."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Sequence

import pytest

from headshot_mock.mockserver import BackgroundServer, create_app
from headshot_mock.mockserver.stores import MemoryStore
from tests.served import (
    EXIT_WITHIN,
    PORTRAIT,
    one_answer,
    portrait,
    read_all,
    request,
    served,
    settle,
    status_of,
)


@pytest.mark.parametrize(
    ("flags", "key"),
    [
        pytest.param((), "mock-timeout", id="timeout-hold-120s"),
        pytest.param(("--slow-seconds", "60"), "mock-slow", id="slow-60s"),
        pytest.param(("--time-scale", "1"), "k", id="realistic-duration"),
    ],
)
def test_a_held_request_ends_at_shutdown_with_503(flags: tuple[str, ...], key: str) -> None:
    with served("serve", *flags) as server:
        sock = server.connect()
        sock.sendall(request(PORTRAIT, portrait(key)))
        settle()
        took = server.terminate()
        answer = read_all(sock)
    assert took < EXIT_WITHIN, f"exit took {took:.2f} s"
    assert status_of(answer) == 503, answer[:200]
    assert b"connection: close" in answer
    assert b"application/problem+json" in answer


def test_half_sent_body_slowloris_and_idle_connections_do_not_delay_exit() -> None:
    with served("serve") as server:
        half = server.connect()
        half.sendall(request(PORTRAIT, b'{"apiKey":', declared=1000))
        loris = server.connect()
        loris.sendall(b"POST /idphoto/api/generate-portrait HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        idle = server.connect()
        idle.sendall(request(b"/__mock/health", method=b"GET"))
        assert status_of(one_answer(idle)) == 200  # kept alive, now idle
        silent = server.connect()  # opened, never sends a byte
        settle()
        loris.sendall(b"x-slow: 1\r\n")
        took = server.terminate()
        answers = [read_all(s) for s in (half, loris, idle, silent)]
        errors = server.close()[1]
    assert took < EXIT_WITHIN, f"exit took {took:.2f} s"
    assert status_of(answers[0]) == 503  # the half-received request is answered, then closed
    assert answers[1:] == [b"", b"", b""]  # the others are simply closed
    assert "Traceback" not in errors, errors


def test_many_pending_clients_at_once_still_exit_within_5_s() -> None:
    with served("serve", "--slow-seconds", "30") as server:
        socks = []
        for i in range(20):
            sock = server.connect()
            if i % 2:
                sock.sendall(request(PORTRAIT, portrait(("mock-timeout", "mock-slow")[i % 4 // 2])))
            else:
                sock.sendall(request(PORTRAIT, b"{", declared=500))
            socks.append(sock)
        settle()
        took = server.terminate()
        statuses = {status_of(read_all(s)) for s in socks}
    assert took < EXIT_WITHIN, f"exit took {took:.2f} s"
    assert statuses == {503}


def test_a_stalled_body_gets_408_after_body_timeout() -> None:
    with served("serve", "--body-timeout", "0.5") as server:
        sock = server.connect()
        started = time.monotonic()
        sock.sendall(request(PORTRAIT, b'{"apiKey":', declared=1000))
        answer = read_all(sock)
        waited = time.monotonic() - started
        server.terminate()
    assert status_of(answer) == 408, answer[:200]
    assert b"body_timeout" in answer
    assert 0.4 < waited < 4.0


def test_slowloris_headers_are_cut_off_after_header_timeout() -> None:
    with served("serve", "--header-timeout", "0.6", "--keepalive-timeout", "30") as server:
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
        ok.sendall(request(b"/__mock/health", method=b"GET"))
        status = status_of(one_answer(ok))
        server.terminate()
    assert closed_after is not None
    assert 0.5 < closed_after < 3.0, closed_after
    assert status == 200


def test_an_idle_keepalive_connection_is_closed_after_keepalive_timeout() -> None:
    with served("serve", "--keepalive-timeout", "0.5") as server:
        sock = server.connect()
        sock.sendall(request(b"/__mock/health", method=b"GET"))
        assert status_of(one_answer(sock)) == 200
        started = time.monotonic()
        rest = read_all(sock, timeout=5)
        closed_after = time.monotonic() - started
        server.terminate()
    assert rest == b""
    assert closed_after < 3.0


def test_a_slow_but_steady_body_is_not_cut() -> None:
    """The body timeout is per pause, not per request: a body sent in pieces 0.3 s apart passes."""
    with served("serve", "--body-timeout", "1") as server:
        body = portrait("k")
        sock = server.connect()
        sock.sendall(request(PORTRAIT, declared=len(body)))
        for i in range(0, len(body), 20):
            time.sleep(0.3 if i < 80 else 0)
            sock.sendall(body[i : i + 20])
        sock.settimeout(10)
        answer = one_answer(sock)
        server.terminate()
    assert status_of(answer) == 200, answer[:300]


class _LosesACancel(MemoryStore):
    """Drops the first cancellation that reaches its ``where`` method, as redis-py's client does
    on Python 3.11: its ``asyncio.wait_for`` around a write returns when the write finishes as
    the cancellation arrives, and the caller goes on as if nothing had happened (CPython
    gh-86296). Only once ``armed``, and not in the runtime's ticker unless ``where`` is its."""

    def __init__(self, where: str, *, armed: bool = True) -> None:
        super().__init__()
        self.where = where
        self.armed = threading.Event()
        if armed:
            self.armed.set()
        self.waiting = threading.Event()
        self.lost = 0

    async def _lose_one(self, name: str) -> None:
        task = asyncio.current_task()
        ticker = task is not None and task.get_name() == "headshot-mock ticker"
        if name != self.where or self.lost or not self.armed.is_set() or ticker != (name == "due_next"):
            return
        self.waiting.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.lost += 1

    async def due_next(self, providers: Sequence[str]) -> float | None:
        await self._lose_one("due_next")
        return await super().due_next(providers)

    async def clock_offset(self) -> float:
        await self._lose_one("clock_offset")
        return await super().clock_offset()


async def test_background_work_ends_at_shutdown_even_when_a_cancellation_is_lost() -> None:
    store = _LosesACancel("due_next")
    runtime = create_app(store=store).state.runtime
    await runtime.start()
    while not store.waiting.is_set():
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await asyncio.wait_for(runtime.close(), 5)  # the ticker would sleep 60 s on its lost cancellation
    assert store.lost == 1
    assert time.monotonic() - started < 1.0


def test_a_held_request_that_loses_its_cancellation_still_ends_at_once() -> None:
    store = _LosesACancel("clock_offset", armed=False)
    server = BackgroundServer(create_app(store=store)).start()
    try:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(request(PORTRAIT, portrait("mock-timeout")))
        settle()
        store.armed.set()  # the hold's next read of the mock clock loses the shutdown's cancel
        assert store.waiting.wait(5)
    finally:
        started = time.monotonic()
        server.stop()
    took = time.monotonic() - started
    answer = read_all(sock)
    sock.close()
    assert store.lost == 1
    assert status_of(answer) == 503, answer[:200]
    assert took < 1.0, f"stopped after {took:.2f} s (uvicorn's graceful wait is 3 s)"
