"""Connections of the served mock (``serve``, ``BackgroundServer``, each worker, ``proxy``: one
protocol class): answers are not held back by Nagle's algorithm.

An answer goes out in two writes (headers, then body). With Nagle's algorithm on, the body
waits for the client's ACK of the headers, which the client delays (~40 ms on Linux): every
answer of a live mock took ~44 ms on loopback instead of ~2.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx

from headshot_mock.mockserver import BackgroundServer
from headshot_mock.mockserver.faults import WIRE


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
