"""When the mock itself fails: journaled with an id, logged once, answered 500 problem+json, and
the connection stays usable. A client that merely went away is one log line, no traceback.
And nothing half-stored: a refused request leaves no job, file or id behind, and whatever a
client sends, the journal can be served back."""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest

from headshot_mock.mockserver import BackgroundServer, MemoryStore, MockConfig, create_app
from headshot_mock.mockserver import journal as journal_module
from tests.helpers import http_scope

HEAD_SHOT = "/modelslab/api/v6/image_editing/head_shot"
BODY = {"key": "k", "prompt": "p", "face_image": "https://example.com/f.jpg"}


class _BrokenRules(MemoryStore):
    """A store whose rule queue fails: the kind of bug the outermost guard exists for."""

    async def rule_take(self, provider: str, operation: str, *, scenarios: Any = None) -> Any:
        raise RuntimeError("rule queue exploded")


def test_an_internal_failure_is_journaled_logged_once_and_the_connection_survives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="headshot_mock")
    with BackgroundServer(create_app(config=MockConfig(), store=_BrokenRules())) as server:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        conn.request("POST", HEAD_SHOT, body=json.dumps(BODY), headers={"content-type": "application/json"})
        failed = conn.getresponse()
        problem = json.loads(failed.read())
        sock = conn.sock
        conn.request("GET", "/__mock/journal?kind=error")  # same connection: keep-alive survived
        listed = conn.getresponse()
        entries = json.loads(listed.read())["entries"]
        assert conn.sock is sock
        conn.close()
    assert failed.status == 500
    assert failed.getheader("content-type") == "application/problem+json"
    assert problem["title"] == "headshot-mock internal error"
    assert "RuntimeError" in problem["detail"]
    assert "Traceback" not in json.dumps(problem)
    assert failed.getheader("x-mock-request-id") == str(problem["id"])
    assert listed.status == 200
    assert [(e["seq"], e["kind"], e["status"], e["path"]) for e in entries] == [
        (problem["id"], "error", 500, HEAD_SHOT)
    ]
    assert "rule queue exploded" in entries[0]["error"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert f"#{problem['id']}" in errors[0].getMessage()
    assert errors[0].exc_info is not None


async def test_a_client_that_goes_away_is_one_line_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="headshot_mock")
    app = create_app(config=MockConfig())
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"key": ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    headers = [(b"host", b"127.0.0.1:4010"), (b"content-type", b"application/json")]
    scope = http_scope("POST", HEAD_SHOT, headers, server=("127.0.0.1", 4010), client=("127.0.0.1", 5000))
    await app(scope, receive, send)
    assert sent == []  # nobody to answer
    records = [r for r in caplog.records if r.name == "headshot_mock"]
    assert [r.levelno for r in records] == [logging.INFO]
    assert "went away" in records[0].getMessage()
    assert records[0].exc_info is None


async def test_a_refused_request_stores_nothing(client: httpx.AsyncClient) -> None:
    fresh = create_app(config=MockConfig())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fresh), base_url="http://127.0.0.1:4010"
    ) as c:
        expected = (await c.post(HEAD_SHOT, json=BODY)).json()
    refusals = [
        {**BODY, "width": "9" * 5000},  # a size no image has
        {**BODY, "webhook": "http://[::1"},  # a URL no delivery can reach
        {**BODY, "webhook": "http://127.0.0.1:9/\u0001"},
    ]
    for body in refusals:
        refused = await client.post(HEAD_SHOT, json=body)
        assert refused.status_code == 400, refused.text
    assert (await client.get("/__mock/jobs")).json()["jobs"] == []
    assert (await client.get("/__mock/webhooks/deliveries")).json()["deliveries"] == []
    # The refused calls used up no ids: the next good call is the first one a fresh mock makes.
    assert (await client.post(HEAD_SHOT, json=BODY)).json()["id"] == expected["id"]


async def test_a_journal_entry_is_always_servable() -> None:
    """Defence in depth: whatever reaches the journal (a plug-in echo, a Python caller), the
    entry is turned into something a strict JSON encoder takes, saying what it was."""
    entry = {
        "nan": float("nan"),
        "inf": [float("-inf")],
        "surrogate": "a\ud800b",
        "\udfff": 1,
        "huge": 2**5000,
        "fine": {"x": 1.5, "y": None, "z": True},
    }
    clean = journal_module.sanitise(entry)
    text = json.dumps(clean, allow_nan=False, ensure_ascii=False).encode()  # no exception
    assert json.loads(text)["fine"] == {"x": 1.5, "y": None, "z": True}
    assert clean["nan"] == "nan"
    assert clean["inf"] == ["-inf"]
    assert clean["surrogate"] == "a\\ud800b"
    assert clean["huge"].startswith("<integer of")
    ok = {"a": [1, "b"]}
    assert journal_module.sanitise(ok) is ok  # the common case costs one encode, no copy


async def test_non_string_keys_and_query_keys_are_redacted(client: httpx.AsyncClient) -> None:
    await client.post(HEAD_SHOT, json={**BODY, "key": 31415926535})
    await client.post(HEAD_SHOT, json={**BODY, "key": ["sk-in-a-list-271828"]})
    await client.post(f"{HEAD_SHOT}?key=sk-query-161803&x=1", json=BODY)
    raw = (await client.get("/__mock/journal")).text
    for secret in ("31415926535", "sk-in-a-list-271828", "sk-query-161803"):
        assert secret not in raw, secret
    assert "key=***&x=1" in raw
