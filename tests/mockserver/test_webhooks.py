"""Webhooks: ModelsLab's unsigned result POST, Magic Hour's signed events, retries, the
allow-list, chaos options, and a receiver that verifies every signature."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from headshot_mock import specs
from headshot_mock.contracts.receiver import WebhookReceiver
from headshot_mock.mockserver import MockConfig, create_app
from headshot_mock.mockserver.signing import (
    InvalidSignature,
    magichour_headers,
    sign_magichour,
    verify_magichour,
)

HEAD_SHOT = "/modelslab/api/v6/image_editing/head_shot"
CREATE = "/magichour/v1/ai-headshot-generator"
SECRET = "whsec_test_secret"
BEARER = {"authorization": "Bearer k"}
PROJECT = {"assets": {"image_file_path": "https://example.com/face.jpg"}}


@asynccontextmanager
async def _client(**options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh mock, run as a server runs it (lifespan); leaves it idle."""
    app = create_app(config=MockConfig(**options))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:4010") as c,
    ):
        yield c
        assert (await c.post("/__mock/idle")).status_code == 204


def _modelslab(hook: str, key: str = "k") -> dict[str, Any]:
    return {
        "key": key,
        "prompt": "p",
        "face_image": "https://example.com/f.jpg",
        "webhook": hook,
        "track_id": "t-7",
    }


def _validates(provider: str, webhook: str, payload: Any) -> None:
    spec = specs.load(provider)
    item = spec.resolve(spec.document["webhooks"][webhook])
    schema = spec.resolve(item["post"]["requestBody"])["content"]["application/json"]["schema"]
    errors = [e.message for e in spec.validator(schema).iter_errors(payload)]
    assert not errors


@pytest.mark.parametrize(
    ("key", "status"),
    [
        pytest.param("k", "success", id="success"),
        pytest.param("mock-processing", "success", id="processing"),
        pytest.param("mock-failed", "failed", id="failed"),
    ],
)
async def test_modelslab_posts_the_result_with_the_track_id(key: str, status: str) -> None:
    with WebhookReceiver() as hooks:
        async with _client() as client:
            answer = await client.post(HEAD_SHOT, json=_modelslab(hooks.url, key))
            [delivery] = await hooks.wait(1)
            payload = delivery.json
            assert (payload["status"], payload["id"], payload["track_id"]) == (
                status,
                answer.json()["id"],
                "t-7",
            )
            assert "magic-hour-event-signature" not in delivery.headers, "ModelsLab does not sign"
            _validates("modelslab", "generationResult", payload)
            if status == "success":
                image = await client.get(payload["output"][0])
                assert image.headers["content-type"] == "image/png"


async def test_modelslab_does_not_retry_a_failed_delivery() -> None:
    with WebhookReceiver(fail_first=5) as hooks:
        async with _client() as client:
            await client.post(HEAD_SHOT, json=_modelslab(hooks.url))
            await client.post("/__mock/idle")
            [record] = (await client.get("/__mock/webhooks/deliveries")).json()["deliveries"]
            assert (record["state"], len(record["attempts"]), record["attempts"][0]["status"]) == (
                "failed",
                1,
                500,
            )
            assert len(hooks.deliveries) == 1


@pytest.mark.parametrize(
    ("key", "events"),
    [
        pytest.param("k", ["image.started", "image.completed"], id="complete"),
        pytest.param("mock-no_face", ["image.started", "image.errored"], id="no-face"),
        pytest.param("mock-canceled", ["image.started"], id="canceled-fires-no-final-event"),
    ],
)
async def test_magichour_signed_events_verify(key: str, events: list[str]) -> None:
    with WebhookReceiver(secret=SECRET) as hooks:
        async with _client(webhooks=(f"{hooks.url}#{SECRET}",)) as client:
            project = (
                await client.post(CREATE, json=PROJECT, headers={"authorization": f"Bearer {key}"})
            ).json()
            await client.post("/__mock/idle")
            got = await hooks.wait(len(events))
            assert [d.json["type"] for d in got] == events
            assert all(d.verified for d in got), [d.problem for d in got]
            assert all(d.json["payload"]["id"] == project["id"] for d in got)
            for d in got:
                _validates("magichour", d.json["type"], d.json)
            if events[-1] == "image.completed":
                [download] = got[-1].json["payload"]["downloads"]
                assert (await client.get(download["url"])).status_code == 200


async def test_magichour_endpoint_registered_through_the_admin_api_with_its_events() -> None:
    with WebhookReceiver(secret=SECRET) as hooks:
        async with _client() as client:
            endpoint = {"url": hooks.url, "secret": SECRET, "events": ["image.completed"]}
            assert (await client.post("/__mock/webhooks/endpoints", json=endpoint)).status_code == 201
            await client.post(CREATE, json=PROJECT, headers=BEARER)
            await client.post("/__mock/idle")
            assert [d.json["type"] for d in hooks.deliveries] == ["image.completed"]


async def test_magichour_retries_with_backoff_until_delivered() -> None:
    with WebhookReceiver(secret=SECRET, fail_first=2) as hooks:
        async with _client(webhooks=(f"{hooks.url}#{SECRET}",)) as client:
            endpoint_events = {"url": hooks.url, "secret": SECRET, "events": ["image.completed"]}
            await client.post("/__mock/webhooks/endpoints", json=endpoint_events)
            await client.post(CREATE, json=PROJECT, headers=BEARER)
            await client.post("/__mock/idle")
            records = (await client.get("/__mock/webhooks/deliveries")).json()["deliveries"]
            assert all(r["state"] == "delivered" for r in records)
            assert sum(len(r["attempts"]) for r in records) == len(records) + 2
            statuses = [a["status"] for r in records for a in r["attempts"]]
            assert statuses.count(500) == 2
            journal = (await client.get("/__mock/journal")).json()["entries"]
            assert sum(1 for e in journal if e.get("kind") == "webhook") == len(statuses)


async def test_dead_receiver_is_recorded_and_never_blocks_requests() -> None:
    with WebhookReceiver() as hooks:
        dead = hooks.url
    async with _client(webhook_attempts=2, webhook_backoff=0) as client:
        answer = await client.post(HEAD_SHOT, json=_modelslab(dead))
        assert answer.status_code == 200
        await client.post("/__mock/idle")
        [record] = (await client.get("/__mock/webhooks/deliveries")).json()["deliveries"]
        assert record["state"] == "failed"
        assert [a["status"] for a in record["attempts"]] == [None, None]
        assert "ConnectError" in record["attempts"][0]["error"]


async def test_slow_receiver_never_blocks_requests() -> None:
    # The receiver records a delivery only after holding it 3 s: had either answer waited for
    # the delivery, the receiver would have recorded it by then.
    with WebhookReceiver(delay=3.0) as hooks:
        async with _client() as client:
            first = await client.post(HEAD_SHOT, json=_modelslab(hooks.url))
            second = await client.post(
                HEAD_SHOT, json={k: v for k, v in _modelslab(hooks.url).items() if k != "webhook"}
            )
            assert (first.status_code, second.status_code, hooks.deliveries) == (200, 200, [])
            await hooks.wait(1)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("http://192.0.2.10/hook", id="documentation-address"),
        pytest.param("http://example.com/hook", id="public-name"),
        pytest.param("http://10.1.2.3:8080/hook", id="private-network"),
    ],
)
async def test_targets_outside_the_allow_list_are_refused_and_recorded(target: str) -> None:
    async with _client() as client:
        await client.post(HEAD_SHOT, json=_modelslab(target))
        await client.post("/__mock/idle")
        [record] = (await client.get("/__mock/webhooks/deliveries")).json()["deliveries"]
        assert record["state"] == "refused"
        assert record["attempts"] == []
        assert "webhook_allow" in record["error"]


async def test_chaos_duplicates_and_reorder() -> None:
    with WebhookReceiver(secret=SECRET) as hooks:
        async with _client(
            webhooks=(f"{hooks.url}#{SECRET}",), webhook_duplicates=1, webhook_reorder=True
        ) as client:
            await client.post(CREATE, json=PROJECT, headers=BEARER)
            await client.post("/__mock/idle")
            types = [d.json["type"] for d in await hooks.wait(4)]
            assert sorted(types) == ["image.completed", "image.completed", "image.started", "image.started"]
            assert types.index("image.completed") < types.index("image.started"), types


def test_signature_helper_agrees_with_the_sender() -> None:
    body = b'{"type":"image.completed"}'
    headers = magichour_headers(SECRET, int(time.time()), body)
    verify_magichour(SECRET, headers, body)
    assert len(headers["magic-hour-event-signature"]) == 64
    assert headers["magic-hour-event-signature"] == sign_magichour(
        SECRET, headers["magic-hour-event-timestamp"], body
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"body": b"{}"}, "does not match", id="tampered-body"),
        pytest.param({"secret": "other"}, "does not match", id="wrong-secret"),
        pytest.param({"stamp": 1}, "away from now", id="stale"),
        pytest.param({"drop": True}, "missing", id="no-headers"),
    ],
)
def test_signature_helper_refuses(change: dict[str, Any], message: str) -> None:
    body = b'{"type":"image.completed"}'
    headers = magichour_headers(SECRET, change.get("stamp", int(time.time())), body)
    if change.get("drop"):
        headers = {}
    with pytest.raises(InvalidSignature, match=message):
        verify_magichour(change.get("secret", SECRET), headers, change.get("body", body))


def test_bad_webhook_config_says_how_to_fix_it() -> None:
    from headshot_mock.mockserver import ConfigError

    with pytest.raises(ConfigError, match="must be an http"):
        MockConfig(webhooks=("ftp://x",))
    with pytest.raises(ConfigError, match="neither an IP network"):
        MockConfig(webhook_allow=("10.0.0.0/99 x",))


async def test_shutdown_records_pending_webhooks_as_abandoned_and_ends_idle_waits() -> None:
    import asyncio

    with WebhookReceiver(fail_first=10) as hooks:
        # The first attempt fails; the retry is due 1,000 provider seconds later (time scale 1).
        app = create_app(config=MockConfig(time_scale=1.0, webhook_attempts=3, webhook_backoff=1000))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4010") as client:
            async with app.router.lifespan_context(app):
                await client.post(HEAD_SHOT, json=_modelslab(hooks.url))
                await hooks.wait(1)
                waiter = asyncio.create_task(client.post("/__mock/idle", params={"timeout": "60"}))
                await asyncio.sleep(0)  # the waiter is waiting
            # The lifespan has ended (server shutdown): the waiter answered, nothing was lost.
            waited = await asyncio.wait_for(waiter, 5)
            assert waited.status_code == 503
            assert waited.json()["title"] == "Shutting down"
            [record] = (await client.get("/__mock/webhooks/deliveries")).json()["deliveries"]
            assert (record["state"], len(record["attempts"])) == ("abandoned", 1)
            assert "shut down" in record["error"]
            entries = (await client.get("/__mock/journal", params={"kind": "webhook"})).json()["entries"]
            assert [e["state"] for e in entries] == ["retrying", "abandoned"]
