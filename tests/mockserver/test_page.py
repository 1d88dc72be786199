"""The admin routes the web page stands on, through HTTP, checked against admin.yaml.

The page itself is driven in a real browser in tests/mockserver/test_page_browser.py; here are
its files, the index, the long-polled journal summaries, one entry, per-provider default
scenarios and the signature verdict of a webhook delivery.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import time
from typing import Any

import httpx
import pytest

from headshot_mock.mockserver import MockConfig, create_app
from tests.mockserver.test_admin import (
    DELIVERIES,
    ENDPOINTS,
    HEADSHOT,
    PORTRAIT,
    Receiver,
    assert_problem,
    checked_client,
    headshot,
    idle,
    magichour_headshot,
    portrait,
    receiver,  # noqa: F401 (a fixture)
    running_mock,
)

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.fixture
async def client(app: Any) -> Any:
    async with checked_client(app) as c:
        yield c


# -- the page and its files -----------------------------------------------------------------------------


def test_the_page_files_ship_in_the_package() -> None:
    web = importlib.resources.files("headshot_mock.mockserver") / "web"
    for name in ("index.html", "app.js", "app.css"):
        assert (web / name).read_bytes(), name
    html = (web / "index.html").read_text()
    assert 'src="web/app.js"' in html
    assert 'href="web/app.css"' in html
    assert "http://" not in html
    assert "https://" not in html


async def test_a_browser_gets_the_page_with_a_strict_content_security_policy(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/__mock/", headers={"accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>headshot-mock</title>" in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "accept",
    [
        pytest.param(None, id="no-accept"),
        pytest.param("*/*", id="anything"),
        pytest.param("application/json", id="json"),
        pytest.param("application/json, text/html;q=0.5", id="json-preferred"),
        pytest.param("text/html;q=0", id="html-refused"),
    ],
)
async def test_an_api_client_gets_an_index_of_every_admin_route(
    client: httpx.AsyncClient, accept: str | None
) -> None:
    headers = {"accept": accept} if accept else {}
    response = await client.get("/__mock/", headers=headers)
    assert response.status_code == 200
    index = response.json()
    assert index["page"] == "/__mock/"
    assert index["openapi"] == "/__mock/openapi.json"
    routes = {(r["method"], r["path"]): r["operationId"] for r in index["routes"]}
    assert routes[("GET", "/__mock/journal/summaries")] == "getJournalSummaries"
    assert routes[("POST", "/__mock/defaults")] == "setDefault"
    assert routes[("GET", "/__mock/")] == "getIndex"
    document = (await client.get("/__mock/openapi.json")).json()
    assert len(routes) == sum(
        1 for item in document["paths"].values() for m in item if m in ("get", "post", "put", "delete")
    )


@pytest.mark.parametrize(
    ("name", "media_type", "needle"),
    [
        pytest.param("app.js", "text/javascript", "journal/summaries", id="script"),
        pytest.param("app.css", "text/css", ":root", id="style"),
    ],
)
async def test_page_files(client: httpx.AsyncClient, name: str, media_type: str, needle: str) -> None:
    response = await client.get(f"/__mock/web/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert needle in response.text


async def test_an_unknown_page_file_is_a_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/__mock/web/index.html"), 404, "'index.html'", "app.js, app.css")
    assert_problem(await client.get("/__mock/web/..%2Fadmin.yaml"), 404)


async def test_providers_name_their_docs_final_states_and_events(client: httpx.AsyncClient) -> None:
    providers = (await client.get("/__mock/providers")).json()
    assert providers["modelslab"]["final_states"] == ["success", "failed"]
    assert providers["magichour"]["webhook_events"]
    assert (
        providers["modelslab"]["docs"]["headShot"][0] == "https://docs.modelslab.com/image-editing/head-shot"
    )
    for info in providers.values():
        assert set(info["docs"]) == set(info["operations"])


# -- journal summaries (long polling) and one entry -------------------------------------------------------


async def summaries(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/__mock/journal/summaries", params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_summaries_are_the_entries_after_a_seq_without_bodies(client: httpx.AsyncClient) -> None:
    assert await summaries(client) == {"summaries": [], "last_seq": 0, "count": 0}
    await client.post(PORTRAIT, json=portrait())
    await client.post(HEADSHOT, json={"prompt": 1})  # no key, no face: findings
    everything = await summaries(client)
    assert [s["seq"] for s in everything["summaries"]] == [1, 2]
    assert (everything["last_seq"], everything["count"]) == (2, 2)
    first, second = everything["summaries"]
    assert "request" not in first
    assert "response" not in first
    assert "findings" not in first
    assert (first["kind"], first["operation"], first["status"], first["finding_count"]) == (
        "request",
        "generatePortrait",
        200,
        0,
    )
    entries = (await client.get("/__mock/journal")).json()["entries"]
    assert second["finding_count"] == len(entries[1]["findings"]) > 0
    assert second["status"] >= 400
    after = await summaries(client, after=1)
    assert [s["seq"] for s in after["summaries"]] == [2]
    assert (await summaries(client, after=2))["summaries"] == []
    newest = await summaries(client, after=0, limit=1)
    assert [s["seq"] for s in newest["summaries"]] == [2]
    assert newest["count"] == 2


async def test_a_waiting_summaries_call_answers_when_an_entry_arrives() -> None:
    app = create_app(config=MockConfig())
    async with checked_client(app) as c:
        started = time.monotonic()
        waiting = asyncio.create_task(summaries(c, after=0, wait=5))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await c.post(PORTRAIT, json=portrait())
        data = await asyncio.wait_for(waiting, timeout=4)
        assert [s["operation"] for s in data["summaries"]] == ["generatePortrait"]
        assert 0.3 <= time.monotonic() - started < 4


async def test_a_waiting_summaries_call_ends_empty_after_the_wait(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    data = await summaries(client, after=0, wait=0.3)
    assert data["summaries"] == []
    assert time.monotonic() - started >= 0.3


async def test_summaries_after_a_reset_say_so_at_once(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.post(PORTRAIT, json=portrait())
    await client.post("/__mock/reset")
    await client.post(PORTRAIT, json=portrait())
    started = time.monotonic()
    data = await summaries(client, after=3, wait=5)
    assert data["last_seq"] == 1 < 3  # the page starts over
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        pytest.param({"after": "-1"}, "after must be a whole number", id="negative-after"),
        pytest.param({"after": "x"}, "after must be a whole number", id="word-after"),
        pytest.param({"wait": "11"}, "at most 10 seconds", id="long-wait"),
        pytest.param({"wait": "nan"}, "wait must be a number", id="nan-wait"),
        pytest.param({"wait": "-1"}, "wait must be a number", id="negative-wait"),
        pytest.param({"limit": "1.5"}, "limit must be a whole number", id="fraction-limit"),
        pytest.param({"after": "9" * 5000}, "at most 18 digits", id="huge-after"),  # int() refuses it
        pytest.param({"limit": "9" * 19}, "at most 18 digits", id="long-limit"),
    ],
)
async def test_bad_summaries_calls_are_problems(
    client: httpx.AsyncClient, params: dict[str, str], needle: str
) -> None:
    assert_problem(await client.get("/__mock/journal/summaries", params=params), 400, needle)


async def test_one_entry_whole_or_a_404_problem(client: httpx.AsyncClient) -> None:
    await client.post(PORTRAIT, json=portrait())
    entry = (await client.get("/__mock/journal/1")).json()
    assert entry["seq"] == 1
    assert entry["request"]["body"]["apiKey"] == "***"
    assert entry == (await client.get("/__mock/journal")).json()["entries"][0]
    assert_problem(await client.get("/__mock/journal/2"), 404, "no entry 2")
    for seq in ("x", "-1", "9" * 5000):  # 5,000 digits made Starlette's int path convertor fail: a 500
        assert_problem(await client.get(f"/__mock/journal/{seq}"), 400, "seq must be a whole number")


# -- per-provider default scenarios ------------------------------------------------------------------------


async def defaults(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.get("/__mock/defaults")
    assert response.status_code == 200, response.text
    return {d["provider"]: d["scenario"] for d in response.json()["defaults"]}


async def test_a_provider_default_answers_calls_nothing_else_steers(client: httpx.AsyncClient) -> None:
    assert set((await defaults(client)).values()) == {"success"}
    response = await client.post(
        "/__mock/defaults", json={"provider": "modelslab", "scenario": "rate_limited"}
    )
    assert response.json() == {
        "provider": "modelslab",
        "scenario": "rate_limited",
        "server_default": "success",
    }
    assert (await defaults(client))["modelslab"] == "rate_limited"

    assert (await client.post(HEADSHOT, json=headshot())).status_code == 429
    assert (await client.post(PORTRAIT, json=portrait())).status_code == 200  # another provider
    await client.post("/__mock/rules", json={"provider": "modelslab", "scenario": "success"})
    assert (await client.post(HEADSHOT, json=headshot())).status_code == 200  # a rule wins
    steered = await client.post(HEADSHOT, json=headshot(), headers={"x-mock-scenario": "success"})
    assert steered.status_code == 200  # and so does the header
    entries = (await client.get("/__mock/journal", params={"provider": "modelslab"})).json()["entries"]
    assert [(e["scenario"], e["scenario_source"]) for e in entries] == [
        ("rate_limited", "default"),
        ("success", "rule"),
        ("success", "header"),
    ]

    await client.post("/__mock/defaults", json={"provider": "modelslab", "scenario": None})
    assert (await client.post(HEADSHOT, json=headshot())).status_code == 200
    await client.post("/__mock/defaults", json={"provider": "modelslab", "scenario": "server_error"})
    await client.post("/__mock/reset")
    assert (await defaults(client))["modelslab"] == "success"


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        pytest.param({"provider": "modelslab", "scenario": "rate_limit"}, 400, "rate_limited", id="typo"),
        pytest.param({"provider": "modelslb", "scenario": "success"}, 404, "modelslab", id="provider"),
        pytest.param({"provider": "modelslab", "scenario": 3}, 400, "a name or null", id="number"),
        pytest.param({"provider": "modelslab"}, 400, "scenario", id="missing"),
        pytest.param({"provider": "modelslab", "scenario": "success", "times": 1}, 400, "times", id="extra"),
    ],
)
async def test_bad_defaults_are_problems(
    client: httpx.AsyncClient, body: dict[str, Any], status: int, needle: str
) -> None:
    assert_problem(await client.post("/__mock/defaults", json=body), status, needle)


# -- the signature verdict of a delivery ------------------------------------------------------------------


async def verdict(client: httpx.AsyncClient, delivery: int) -> dict[str, Any]:
    response = await client.get(f"{DELIVERIES}/{delivery}/signature")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_signature_verdicts(receiver: Receiver) -> None:  # noqa: F811
    async with running_mock() as c:
        await c.post(ENDPOINTS, json={"url": f"{receiver.url}/a", "secret": "whsec_a"})
        await c.post(ENDPOINTS, json={"url": f"{receiver.url}/b"})  # stored with the default secret
        await magichour_headshot(c)
        await idle(c)
        sent = (await c.get(DELIVERIES)).json()["deliveries"]
        by_url = {d["url"]: d["id"] for d in sent if d["event"] == "image.completed"}
        valid = await verdict(c, by_url[f"{receiver.url}/a"])
        assert valid["verdict"] == "valid"
        assert "endpoint #1's secret" in valid["detail"]
        assert valid["headers"] == ["magic-hour-event-signature", "magic-hour-event-timestamp"]
        default = await verdict(c, by_url[f"{receiver.url}/b"])
        assert default["verdict"] == "valid"
        assert "endpoint #2's secret" in default["detail"]

        # The endpoint's secret changed since: the old deliveries no longer verify.
        await c.delete(ENDPOINTS)
        await c.post(ENDPOINTS, json={"url": f"{receiver.url}/a", "secret": "whsec_other"})
        stale = await verdict(c, by_url[f"{receiver.url}/a"])
        assert stale["verdict"] == "invalid"
        assert "do not verify" in stale["detail"]

        ml = await c.post(HEADSHOT, json={**headshot(), "webhook": f"{receiver.url}/ml"})
        assert ml.status_code == 200
        await idle(c)
        [unsigned] = [
            d for d in (await c.get(DELIVERIES)).json()["deliveries"] if d["provider"] == "modelslab"
        ]
        assert (await verdict(c, unsigned["id"]))["verdict"] == "unsigned"
        assert_problem(await c.get(f"{DELIVERIES}/999/signature"), 404, "no delivery 999")
