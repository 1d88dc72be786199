"""Connections of the served mock (``serve``, ``BackgroundServer``, each worker, ``proxy``: one
protocol class): answers are not held back by Nagle's algorithm, and each goes out in one write.

uvicorn writes an answer in two (headers, then body). With Nagle's algorithm on, the body
waited for the client's ACK of the headers, which the client delays (~40 ms on Linux): every
answer of a live mock took ~44 ms on loopback instead of ~2. With it off, each write was a TCP
segment and a syscall of its own; the writes of an answer are now joined, and a streamed answer
still sends its headers at once.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
import time
from typing import Any

import httpx
import pytest

from headshot_mock.mockserver import BackgroundServer, create_app
from headshot_mock.mockserver.faults import WIRE
from tests.served import PORTRAIT, one_answer, portrait, request, status_of


async def _nodelay(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the TCP_NODELAY option of the socket the request came on."""
    if scope["type"] != "http":
        return
    wire = scope["extensions"][WIRE]
    sock = wire.transport.get_extra_info("socket")
    body = json.dumps({"nodelay": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)}).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


def test_served_connections_turn_nagle_off() -> None:
    with BackgroundServer(_nodelay) as server, httpx.Client() as client:
        answers = [
            client.post(server.url, content=b"{}").json() for _ in range(3)
        ]  # one keep-alive connection
    assert answers == [{"nodelay": 1}] * 3


async def _small(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _answer(sock: socket.socket) -> bytes:
    """One whole answer of ``_small`` (its headers and its 2-byte body) from ``sock``."""
    data = b""
    while not (b"\r\n\r\n" in data and len(data.partition(b"\r\n\r\n")[2]) >= 2):
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    return data


@pytest.mark.skipif(sys.platform != "linux", reason="counts segments with Linux's TCP_INFO")
def test_an_answer_is_one_tcp_segment() -> None:
    """Counted by the client's kernel: tcp_info's ``tcpi_data_segs_in`` (Linux 4.6+, at byte
    152) is the segments that carried data to this socket."""
    with BackgroundServer(_small) as server, socket.create_connection(("127.0.0.1", server.port)) as sock:
        for _ in range(5):
            sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            assert _answer(sock).startswith(b"HTTP/1.1 200")
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    (data_segments_in,) = struct.unpack_from("I", info, 152)
    assert data_segments_in == 5, f"{data_segments_in} segments for 5 answers"


async def _streamed(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await asyncio.sleep(1.0)
    await send({"type": "http.response.body", "body": b"ok"})


def test_a_streamed_answer_sends_its_headers_at_once() -> None:
    with BackgroundServer(_streamed) as server, socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        sock.settimeout(0.6)
        started = time.monotonic()
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200"), head
        assert head.endswith(b"\r\n\r\n"), "the headers, and nothing of the body yet"
        assert time.monotonic() - started < 0.6, "the headers waited for the body"
        sock.settimeout(5)
        assert sock.recv(65536) == b"ok"


async def _where(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the scheme and client address the app was given."""
    if scope["type"] != "http":
        return
    body = json.dumps({"scheme": scope["scheme"], "client": scope["client"][0]}).encode()
    headers = [(b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_forwarded_headers_from_a_loopback_proxy_apply_request_by_request() -> None:
    """uvicorn's proxy-headers middleware runs only for requests that carry X-Forwarded-*: on one
    keep-alive connection, such a request gets the proxy's scheme and client, the next its own."""
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7"}
    with BackgroundServer(_where) as server, httpx.Client() as client:
        seen = [
            client.get(server.url, headers=headers).json()
            for headers in ({}, forwarded, {}, {"X-Forwarded-Proto": "https"})
        ]
    assert seen == [
        {"scheme": "http", "client": "127.0.0.1"},
        {"scheme": "https", "client": "203.0.113.7"},
        {"scheme": "http", "client": "127.0.0.1"},
        {"scheme": "https", "client": "127.0.0.1"},
    ]


def test_a_busy_keepalive_connection_outlives_its_timeouts() -> None:
    """Both timeouts count from the last answer: one connection asking every 0.15 s for longer
    than either stays open, and an answer held past both (the ``slow`` scenario) still arrives."""
    app = create_app(keepalive_timeout=0.4, header_timeout=0.4, slow_seconds=0.9)
    with BackgroundServer(app) as server, socket.create_connection(("127.0.0.1", server.port)) as sock:
        started = time.monotonic()
        statuses = []
        while time.monotonic() - started < 1.5:
            sock.sendall(request(b"/__mock/health", method=b"GET"))
            statuses.append(status_of(one_answer(sock)))
            time.sleep(0.15)
        held = time.monotonic()
        slow_request = request(PORTRAIT, portrait("k"))
        sock.sendall(slow_request.replace(b"\r\n\r\n", b"\r\nx-mock-scenario: slow\r\n\r\n", 1))
        slow = one_answer(sock)
        held = time.monotonic() - held
        sock.sendall(request(b"/__mock/health", method=b"GET"))
        after = status_of(one_answer(sock))
    assert set(statuses) == {200}
    assert len(statuses) >= 8
    assert status_of(slow) == 200
    assert held >= 0.85
    assert after == 200
