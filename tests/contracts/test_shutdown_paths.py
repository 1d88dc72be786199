"""`serve --workers N` and `proxy` are served as one-process `serve` is (tests/mockserver/
test_shutdown.py): SIGTERM ends them within 5 s while clients hold half-sent bodies, and the
header and body timeouts hold. Real subprocesses of the CLI on free loopback ports, raw sockets;
the workers share a real redis-server, the proxy forwards to a mock on loopback."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from headshot_mock.mockserver import BackgroundServer, create_app
from tests.redis_server import RedisServer
from tests.served import EXIT_WITHIN, PORTRAIT, portrait, read_all, request, served, settle, status_of

pytestmark = pytest.mark.slow

ROUTE = PORTRAIT.removeprefix(b"/idphoto")  # idphoto's own path, as the proxy serves it


@pytest.mark.redis
def test_serve_with_workers_on_redis_ends_within_5_s_with_half_sent_bodies(
    redis_session: RedisServer,
) -> None:
    flags = ("--workers", "2", "--state", redis_session.url, "--state-prefix", f"t-{uuid.uuid4().hex[:8]}")
    with served("serve", *flags, ready="/__mock/health") as server:
        halves = []
        for _ in range(6):  # the kernel spreads connections over both workers
            sock = server.connect()
            sock.sendall(request(PORTRAIT, b'{"apiKey":', declared=1000))
            halves.append(sock)
        held = server.connect()
        held.sendall(request(PORTRAIT, portrait("mock-timeout")))  # a 120 s hold
        settle(0.5)
        took = server.terminate()
        answers = [read_all(s) for s in (*halves, held)]
        _, errors = server.close()
    assert took < EXIT_WITHIN, f"exit took {took:.2f} s"
    assert {status_of(a) for a in answers} == {503}, [a[:120] for a in answers]
    assert "Traceback" not in errors, errors
    assert "KeyError" not in errors, errors  # multiprocessing's resource tracker stays quiet


@pytest.mark.redis
def test_serve_workers_cut_slowloris_headers_and_stalled_bodies(redis_session: RedisServer) -> None:
    flags = ("--workers", "2", "--state", redis_session.url, "--state-prefix", f"t-{uuid.uuid4().hex[:8]}")
    timeouts = ("--header-timeout", "0.6", "--body-timeout", "0.6", "--keepalive-timeout", "30")
    with served("serve", *flags, *timeouts, ready="/__mock/health") as server:
        stalled = server.connect()
        loris = server.connect()
        started = time.monotonic()
        stalled.sendall(request(PORTRAIT, b'{"apiKey":', declared=1000))
        loris.sendall(b"GET /__mock/health HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        answer = read_all(stalled)
        body_cut = time.monotonic() - started
        cut = read_all(loris)  # closed by the header timeout (it would wait 30 s otherwise)
        header_cut = time.monotonic() - started
        server.terminate()
    assert status_of(answer) == 408, answer[:200]
    assert 0.5 < body_cut < 4.0, body_cut
    assert cut == b""
    assert header_cut < 4.0, header_cut


def test_proxy_ends_within_5_s_with_a_half_sent_body() -> None:
    with BackgroundServer(create_app(providers=("idphoto",), root_provider="idphoto")) as upstream:
        argv = ("proxy", "--provider", "idphoto", "--upstream", upstream.url)
        with served(*argv, ready="/__mock/health") as proxy:
            through = httpx.post(
                f"http://127.0.0.1:{proxy.port}{ROUTE.decode()}",
                json={"apiKey": "k", "prompt": "p", "inputImages": ["data:image/jpeg;base64,/9j/"]},
                timeout=10,
            )
            half = proxy.connect()
            half.sendall(request(ROUTE, b'{"apiKey":', declared=1000))
            settle(0.5)
            took = proxy.terminate()
            answer = read_all(half)
            _, errors = proxy.close()
    assert through.status_code == 200, through.text
    assert through.headers["x-mock-proxy"] == "forwarded"
    assert took < EXIT_WITHIN, f"exit took {took:.2f} s"
    assert status_of(answer) == 503, answer[:200]
    assert "Traceback" not in errors, errors
