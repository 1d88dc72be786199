"""`headshot-mock serve` ends within 5 s of SIGTERM whatever its clients are doing, and the
connection timeouts hold while it runs. A real subprocess on a free loopback port, raw sockets."""

from __future__ import annotations

import time

import pytest

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
