"""Fault scenarios on the wire (a real uvicorn server: httpx sees the reset, the missing answer,
the cut body), selected like any scenario, and in-process where an ASGI transport can show them."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from headshot_mock.mockserver import BackgroundServer, MockConfig, create_app
from headshot_mock.mockserver.app import scenario_books
from headshot_mock.mockserver.scenarios import FAULTS

PORTRAIT = "/idphoto/api/generate-portrait"
HEADSHOT = "/modelslab/api/v6/image_editing/head_shot"
FLUX = "/modelslab/api/v6/image_editing/flux_headshot"


def portrait(key: str = "k") -> dict[str, Any]:
    return {"apiKey": key, "prompt": "p", "inputImages": ["data:image/jpeg;base64,/9j/"]}


def headshot(key: str = "k") -> dict[str, Any]:
    return {"key": key, "prompt": "p", "face_image": "https://example.com/face.jpg"}


@pytest.fixture(scope="module")
def server() -> Any:
    with BackgroundServer(create_app(config=MockConfig(dribble_seconds=0.5))) as running:
        yield running


@pytest.fixture
def wire(server: BackgroundServer, caplog: pytest.LogCaptureFixture) -> Any:
    httpx.post(f"{server.url}/__mock/reset").raise_for_status()
    caplog.set_level(logging.WARNING)
    yield server
    # Every fault ends its connection the way it meant to: uvicorn has nothing to complain about.
    assert [r.getMessage() for r in caplog.records if r.name.startswith("uvicorn")] == []
    assert httpx.get(f"{server.url}/__mock/health").status_code == 200  # and the server serves on


def test_every_provider_lists_every_fault() -> None:
    for book in scenario_books(("agentai", "idphoto", "magichour", "modelslab")).values():
        assert set(FAULTS) <= set(book.names)


def test_connection_reset_is_a_tcp_reset(wire: BackgroundServer) -> None:
    body = json.dumps(portrait()).encode()
    with socket.create_connection(("127.0.0.1", wire.port), timeout=5) as sock:
        sock.sendall(
            b"POST "
            + PORTRAIT.encode()
            + b" HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            b"x-mock-scenario: connection_reset\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        with pytest.raises(ConnectionResetError):
            sock.recv(1024)


def test_connection_reset_through_httpx(wire: BackgroundServer) -> None:
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.post(f"{wire.url}{PORTRAIT}", json=portrait(), headers={"x-mock-scenario": "connection_reset"})


def test_empty_response_closes_without_an_answer(wire: BackgroundServer) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        httpx.post(f"{wire.url}{PORTRAIT}", json=portrait("mock-empty_response"))


def test_truncated_body_sends_half_then_closes(wire: BackgroundServer) -> None:
    with (
        httpx.Client() as client,
        client.stream(
            "POST", f"{wire.url}{PORTRAIT}", json=portrait(), headers={"x-mock-scenario": "truncated_body"}
        ) as response,
    ):
        assert response.status_code == 200
        declared = int(response.headers["content-length"])
        received: list[bytes] = []
        with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|without sending complete"):
            received.extend(response.iter_raw())
    assert 0 < len(b"".join(received)) < declared


def test_dribble_sends_the_whole_body_slowly_in_pieces(wire: BackgroundServer) -> None:
    started = time.monotonic()
    pieces = []
    with (
        httpx.Client() as client,
        client.stream(
            "POST", f"{wire.url}{HEADSHOT}", json=headshot(), headers={"x-mock-scenario": "dribble"}
        ) as response,
    ):
        assert response.status_code == 200
        for chunk in response.iter_raw():
            pieces.append(chunk)
    took = time.monotonic() - started
    body = json.loads(b"".join(pieces))
    assert body["status"] == "success"
    assert len(pieces) > 3
    assert took >= 0.4


def test_malformed_json_is_a_200_that_does_not_parse(wire: BackgroundServer) -> None:
    response = httpx.post(f"{wire.url}{HEADSHOT}", json=headshot("mock-malformed_json"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_a_rule_selects_a_fault_and_the_journal_records_it(wire: BackgroundServer) -> None:
    rule = {"provider": "modelslab", "operation": "headShot", "scenario": "empty_response"}
    httpx.post(f"{wire.url}/__mock/rules", json=rule).raise_for_status()
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{wire.url}{HEADSHOT}", json=headshot())
    assert httpx.post(f"{wire.url}{HEADSHOT}", json=headshot()).status_code == 200  # the rule is used up
    entries = httpx.get(f"{wire.url}/__mock/journal").json()["entries"]
    # As for `slow`, the entry is the answer the fault kept from the client.
    assert [(e["requested_scenario"], e["scenario_source"], e["status"]) for e in entries] == [
        ("empty_response", "rule", 200),
        ("success", "default", 200),
    ]


def test_a_fault_as_the_server_default() -> None:
    with BackgroundServer(create_app(scenario="connection_reset")) as server:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            httpx.post(f"{server.url}{FLUX}", json=headshot())
        assert httpx.get(f"{server.url}/__mock/health").status_code == 200  # /__mock/ is not a provider


# -- in-process --------------------------------------------------------------------------------


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config=MockConfig(dribble_seconds=0.2))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:4010"
    ) as c:
        yield c


async def test_in_process_malformed_json_and_dribble(client: httpx.AsyncClient) -> None:
    broken = await client.post(HEADSHOT, json=headshot("mock-malformed_json"))
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        broken.json()
    slow = await client.post(HEADSHOT, json=headshot("mock-dribble"))
    assert slow.json()["status"] == "success"


@pytest.mark.parametrize(
    ("scenario", "error"),
    [("connection_reset", httpx.ReadError), ("empty_response", httpx.RemoteProtocolError)],
)
async def test_in_process_connection_faults_raise(
    client: httpx.AsyncClient, scenario: str, error: type[Exception]
) -> None:
    """As on the wire: a client catching httpx.TransportError handles it the same way."""
    with pytest.raises(error, match=scenario):
        await client.post(PORTRAIT, json=portrait(), headers={"x-mock-scenario": scenario})


async def test_in_process_truncated_body_is_shorter_than_declared(client: httpx.AsyncClient) -> None:
    response = await client.post(PORTRAIT, json=portrait("mock-truncated_body"))
    assert 0 < len(response.content) < int(response.headers["content-length"])
